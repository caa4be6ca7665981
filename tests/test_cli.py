"""The CLI is a thin layer: it calls the library and turns StanceError into one clear line."""

import json
import re
import subprocess
import sys

import pytest


def stance(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "stance", *args], capture_output=True, text=True, cwd=cwd)


def test_corpus_build_from_the_command_line(demo_articles, tmp_path):
    done = stance("corpus", "build", str(demo_articles), "--out", str(tmp_path / "c"), "--quiet")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["counts"]["kept"] == 30
    assert "30 articles (165 sentences)" in done.stderr.replace("\n", " ")


def test_missing_input_is_one_line_not_a_traceback(tmp_path):
    done = stance("corpus", "build", str(tmp_path / "missing"), "--out", str(tmp_path / "c"))
    assert done.returncode == 1
    assert "error:" in done.stderr and "no such file or directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_strict_failure_names_file_and_line(tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text('{"id": "a", "text": "Fine."}\n{"id": "b", "txt": "typo"}\n')
    done = stance("corpus", "build", str(src), "--out", str(tmp_path / "c"), "--strict", "-q")
    assert done.returncode == 1
    assert "a.jsonl:2" in done.stderr and "'text'" in done.stderr
    assert "(stopping because of --strict)" in done.stderr


def test_errors_name_keywords_from_python_and_flags_from_the_command_line(demo_scores, tmp_path):
    from stance.errors import StanceError
    from stance.findings.report import report
    with pytest.raises(StanceError) as error:
        report(demo_scores, tmp_path / "r.html", by=["outlet"])
    assert str(error.value).startswith("by='outlet': the articles have no such field") and "--" not in str(error.value)
    done = stance("report", str(demo_scores), "--out", str(tmp_path / "r.html"), "--by", "outlet")
    assert done.returncode == 1 and "error: --by outlet: the articles have no such field" in done.stderr
    repeated = stance("labels", "simulate", "--data", str(tmp_path), "--config", "experiments/default.toml",
                      "--strategy", "psychic")
    assert "error: --strategy psychic: each must be one of" in repeated.stderr  # keyword `strategies`


@pytest.mark.studio
def test_demo_from_the_command_line(studio_server, tmp_path):
    """On the session's Label Studio (the demo reuses a running server), so no server is left behind."""
    done = stance("demo", "--workdir", str(tmp_path / "demo"), "--data-dir", str(studio_server.data_dir),
                  "--project", "demo from the CLI", "--quiet")
    assert done.returncode == 0, done.stderr
    assert f"Label Studio {studio_server.url}/projects/" in done.stdout
    assert '--project "demo from the CLI"' in done.stdout
    assert (tmp_path / "demo" / "report.html").is_file()
    assert f"stance studio stop --data-dir {studio_server.data_dir}" in done.stdout


def test_help_teaches_findings_commands():
    top = stance("--help")
    assert "estimate" in top.stdout and "audit" in top.stdout
    estimate = stance("estimate", "--help").stdout
    for flag in ("--by", "--period", "--audit", "--level", "--min-articles", "--method"):
        assert flag in estimate, flag
    audit = stance("audit", "push", "--help").stdout
    for flag in ("--project", "--n", "--by", "--proportional", "--seed"):
        assert flag in audit, flag
    assert "without the model's predictions" in " ".join(audit.split())


def test_audit_push_refuses_bad_input_in_one_line(demo_scores, tmp_path):
    done = stance("audit", "push", str(demo_scores), "--project", "Audit x", "--n", "10", "--by", "outlet",
                  "--data-dir", str(tmp_path / "no-studio"))
    # the input is checked before any server is looked for
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no field 'outlet'" in done.stderr and "Label Studio" not in done.stderr


def test_every_command_that_shows_progress_takes_quiet():
    """A command whose function has a progress switch offers --quiet (checked over the whole CLI)."""
    import inspect

    import typer.main

    from stance.cli import app
    group = typer.main.get_command(app)

    def commands(command, path=()):
        for name, sub in getattr(command, "commands", {}).items():
            yield from commands(sub, (*path, name))
        if not getattr(command, "commands", None):
            yield path, command

    missing = []
    for path, command in commands(group):
        source = inspect.getsource(command.callback)
        if "progress=" in source and "--quiet" not in [o for p in command.params for o in p.opts]:
            missing.append(" ".join(path))
    assert not missing, missing
    assert len(list(commands(group))) > 20


def test_progress_in_a_log_is_plain_lines(demo_articles, tmp_path):
    """Where stderr is a pipe or a log file, a live bar would print nothing: plain lines instead."""
    done = stance("corpus", "build", str(demo_articles), "--out", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("corpus build: done"))
    size = demo_articles.stat().st_size / 1e6
    assert f"{size:,.1f} MB of {size:,.1f} MB (100%); 30 articles 165 sentences" in line
    assert "\x1b[" not in done.stderr  # no terminal control codes in a log


def test_a_step_of_unknown_length_ends_done_without_a_count(capsys):
    """Distilling or fitting has no count to show: its last line says done, not "done, 0"."""
    from stance.progress import progress_bar
    for counted in (False, True):
        with progress_bar("fitting", None, enabled=True) as bar:
            if counted:
                bar.advance(3)
    first, second = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"fitting: done, \d+ s", first), first
    assert re.fullmatch(r"fitting: done, 3, \d+ s", second), second


def test_corpus_build_input_format_as_in_score_and_the_old_flag_still_works(tmp_path):
    """`format` is an output's format everywhere; what files hold is `--input-format` in both commands."""
    page = tmp_path / "a.txt"
    page.write_text("Officials met on Friday. End of Document\n")
    for flags, note in ((["--input-format", "text"], False), (["--format", "text"], True)):
        out = tmp_path / f"c{int(note)}"
        done = stance("corpus", "build", str(page), "--out", str(out), "-q", *flags)
        assert done.returncode == 0, done.stderr
        assert json.loads((out / "manifest.json").read_text())["options"]["input_format"] == "text"
        assert ("now --input-format" in done.stderr) == note
    wrong = stance("corpus", "build", str(page), "--out", str(tmp_path / "c2"), "--input-format", "pdf")
    assert wrong.returncode == 1 and "--input-format pdf: must be one of auto, text" in wrong.stderr
