"""``stance experiments run|list|show|trust|compare|curve``."""

import json
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from stance.cli._app import RunsOption, app, run_path
from stance.errors import StanceError
from stance.progress import stderr

experiments_app = typer.Typer(
    help="Train and evaluate models from config files (experiments/*.toml); compare runs.",
    no_args_is_help=True)
app.add_typer(experiments_app, name="experiments")
# tables are the output, so stdout; wide enough for run ids when piped
console = Console(width=None if sys.stdout.isatty() else 160)

SetOption = Annotated[Optional[list[str]], typer.Option(
    "--set", help="KEY=VALUE: override a config key, e.g. `--set model.C=2 --set cv.folds=3`. "
    "Values are read as TOML (`2`, `[1, 3]`, `\"word\"`), else as plain text.")]


def _settings(items: list[str] | None) -> dict:
    """``--set KEY=VALUE`` flags as the overrides dict of the Python API."""
    settings = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise StanceError(f"--set takes KEY=VALUE (for example model.C=2), got {item!r}")
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        settings[key.strip()] = value
    return settings


@experiments_app.command("run")
def run_command(
    config: Annotated[Path, typer.Argument(help="Experiment config, e.g. experiments/default.toml.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled dataset (from `labels pull` or `import`).")],
    test: Annotated[Optional[Path], typer.Option(help="Held-out labelled dataset, scored by the final model.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Runs directory (default artifacts/runs, or $STANCE_RUNS_DIR).")] = None,
    overrides: SetOption = None,
    run_id: Annotated[Optional[str], typer.Option(help="Name of the run (default: time and config name).")] = None,
    reuse: Annotated[bool, typer.Option(help="Return an existing run of the same config and data.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Cross-validate (grouped by article) and train one model per dimension; save the run.

    The run directory holds config.toml, model.joblib, metrics.json, cv_predictions.parquet,
    report.html and manifest.json (sha256 of every file, checked before loading).

    Example: `stance experiments run experiments/default.toml --data labels/pulled --set model.C=2`
    """
    from stance.experiments.runner import run
    result = run(config, data, test=test, out=out, overrides=_settings(overrides), run_id=run_id, reuse=reuse,
                 progress=not quiet)
    typer.echo(str(result))
    typer.echo(f"report: {result.path / 'report.html'}")
    if out is not None:
        stderr.print(f"runs saved with --out live in {out}: find them with --runs {out} "
                     f"(`stance experiments list --runs {out}`, `stance score ... --model latest --runs {out}`)",
                     highlight=False)


@experiments_app.command("list")
def list_command(
    runs: RunsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Runs, oldest first, with their cross-validated (and test) macro-F1 per dimension and
    their scoring speed (sentences/s on this machine's cores, measured at training)."""
    from stance.experiments.compare import run_rows, speed_text
    rows = run_rows(runs)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        stderr.print("no runs yet: try `stance experiments run experiments/default.toml --data DIR`")
        return
    dims = list(dict.fromkeys(d for r in rows for d in r["cv_macro_f1"]))
    table = Table("run", "config", "labelled rows", *[f"{d} F1 (cv / test)" for d in dims],
                  "sentences/s", title="macro-F1 per dimension, and scoring speed")
    for r in rows:
        table.add_row(r["run_id"], r["config"], f"{r['rows']:,}", *[
            _pair(r["cv_macro_f1"].get(d), r["test_macro_f1"].get(d)) for d in dims],
            speed_text(r["sentences_per_s"]))
    console.print(table)


def _pair(cv, test) -> str:
    if cv is None:
        return "-"
    return f"{cv:.3f}" + (f" / {test:.3f}" if test is not None else "")


@experiments_app.command("show")
def show_command(run: Annotated[str, typer.Argument(help="Run directory, run id, or `latest`.")],
                 runs: RunsOption = None) -> None:
    """A run's config, data, per-class scores and where its files are; checks its files first."""
    from stance.model.runs import load_run
    r = load_run(run_path(run, runs), with_model=False)
    m = r.manifest
    stderr.print(f"[bold]{r.run_id}[/]  ({r.path})  config {m['config_name']}, seed {m['seed']}, "
                 f"created {m['created']}, data {m['data']['path']} ({m['data']['rows']:,} rows, "
                 f"hash {m['data']['hash']}), files verified", highlight=False)
    speed = r.metrics.get("speed")
    if speed and speed.get("sentences_per_s"):
        backend = f", encoders through {speed['backend']}" if speed.get("backend") else ""
        stderr.print(f"scoring speed: {speed['sentences_per_s']:,.0f} sentences/s ({speed['sentences']:,} of its "
                     f"sentences on {speed['cpus']} cores{backend})", highlight=False)
    for dim, metrics in r.metrics["dimensions"].items():
        if "int8" in metrics:
            i = metrics["int8"]
            stderr.print(f"{dim}: int8 labels agree with torch's on {i['agreement']:.1%} of held-out sentences, "
                         f"{i['agreement_rechecked']:.1%} once near-ties ({i['rechecked']:.1%}) are predicted again "
                         "in float32, as scoring does", highlight=False)
    for dim, metrics in r.metrics["dimensions"].items():
        for split in ("cv", "test"):
            if split not in metrics:
                continue
            s = metrics[split]
            table = Table("class", "precision", "recall", "F1", "support",
                          title=f"{dim} ({split}): macro-F1 {s['macro_f1']:.3f}, accuracy {s['accuracy']:.3f}")
            for name, c in s["per_class"].items():
                table.add_row(name, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}",
                              str(c["support"]))
            console.print(table)
    stderr.print(f"report: {r.path / 'report.html'}")


@experiments_app.command("trust")
def trust_command(run: Annotated[str, typer.Argument(help="Run directory, run id, or `latest`.")],
                  runs: RunsOption = None) -> None:
    """Accept a run made by someone else (or by an older stance): check its files, then sign it with your key.

    Runs are signed by whoever trains them (a key in ~/.config/stance, mode 0600); a
    model is unpickled only from a run signed with your key, because unpickling runs
    code. Trust only runs whose source you trust.
    """
    from stance.model.runs import trust_run
    stderr.print(f"trusted and signed with your key: {trust_run(run_path(run, runs))}", highlight=False)


@experiments_app.command("compare")
def compare_command(
    runs: Annotated[list[str], typer.Argument(help="Two or more runs; each is compared with the first.")],
    rounds: Annotated[int, typer.Option(help="Bootstrap resamples for the interval.")] = 1000,
    runs_dir: RunsOption = None,
) -> None:
    """Runs side by side per dimension: macro-F1, difference from the first run, and a 95%
    bootstrap interval (articles resampled) on the sentences they share: the common test set,
    or the cross-validated predictions when they were trained on the same data. Beside them,
    each run's scoring speed (sentences/s)."""
    from stance.experiments.compare import compare, speed_text
    table = Table("dimension", "run", "cv macro-F1", "shared set", "n", "macro-F1 on shared",
                  "difference", "95% interval", "sentences/s")
    for c in compare([str(run_path(r, runs_dir)) for r in runs], rounds=rounds):
        table.add_row(c.dimension, c.run_id, f"{c.cv_macro_f1:.3f}", c.shared, str(c.n) if c.n else "-",
                      f"{c.shared_macro_f1:.3f}" if c.shared_macro_f1 is not None else "-",
                      f"{c.diff:+.3f}" if c.diff is not None else "(base)" if c.n else "-",
                      f"[{c.low:+.3f}, {c.high:+.3f}]" if c.low is not None else "",
                      speed_text(c.sentences_per_s))
    console.print(table)


@experiments_app.command("curve")
def curve_command(
    configs: Annotated[list[Path], typer.Argument(help="Experiment config; several to compare on the same folds.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled dataset.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where curve.json/png/html go (curves.* and a "
                                                                      "folder per config, for several).")] = None,
    sizes: Annotated[Optional[str], typer.Option(help="Comma-separated training sizes (default: doubling).")] = None,
    overrides: SetOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Macro-F1 against the number of training labels (grouped CV): does labelling more still pay?

    With several configs, each is trained on the same labels at each size and tested on the
    same articles (the first config's folds and seed), drawn in one plot: where a slower config
    stops paying. Example: `stance experiments curve experiments/fewshot.toml
    experiments/embeddings.toml --data labels/mine --sizes 100,300,1000`
    """
    from stance.experiments.curve import compare_curves, learning_curve
    try:
        size_list = [int(s) for s in sizes.split(",")] if sizes else None
    except ValueError:
        raise StanceError(f"--sizes takes whole numbers separated by commas, got {sizes!r}") from None
    if len(configs) > 1:
        comparison = compare_curves(configs, data, out=out, sizes=size_list, overrides=_settings(overrides),
                                    progress=not quiet)
        table = Table("training labels", *comparison.curves, "best",
                      title="macro-F1 (mean over grouped folds and dimensions)")
        for row in comparison.rows():
            table.add_row(str(row[0]), *[f"{v:.3f}" for v in row[1:-1]], row[-1])
        console.print(table)
        typer.echo(f"curves: {comparison.out / 'curves.png'} (and curves.json, curves.html; each config's own "
                   "curve beside them)")
        return
    curve = learning_curve(configs[0], data, out=out, sizes=size_list, overrides=_settings(overrides),
                           progress=not quiet)
    table = Table("training labels", *curve.macro_f1, title="macro-F1 (mean over grouped folds)")
    for row in curve.rows():
        table.add_row(str(row[0]), *[f"{v:.3f}" for v in row[1:]])
    console.print(table)
    typer.echo(f"curve: {curve.out / 'curve.png'} (and curve.json, curve.html)")
