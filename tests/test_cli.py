"""The CLI is a thin layer: it calls the library and turns StanceError into one clear line."""

import json
import subprocess
import sys


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


def test_demo_builds_the_demo_corpus(tmp_path):
    done = stance("demo", "--workdir", str(tmp_path / "demo"), "--quiet")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo" / "corpus" / "sentences.parquet").is_file()
    assert "next steps" in done.stdout
