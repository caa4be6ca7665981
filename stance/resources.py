"""Files stance ships: the default schema and guidelines, and the demo corpus.

In a source checkout they are read where they live (``labels/``, ``examples/demo/``);
an installed wheel carries copies under ``stance/_defaults/``.
"""

from pathlib import Path

_PACKAGED = Path(__file__).parent / "_defaults"
_SOURCE_TREE = Path(__file__).resolve().parents[1]


def shipped(source_path: str, packaged_name: str) -> Path:
    """The shipped file or folder: ``source_path`` in a checkout, else its packaged copy."""
    in_tree = _SOURCE_TREE / source_path
    return in_tree if in_tree.exists() else _PACKAGED / packaged_name


def demo_dir() -> Path:
    return shipped("examples/demo", "demo")
