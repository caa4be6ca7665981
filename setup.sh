#!/usr/bin/env bash
# Create .venv and install stance with all its extras (Label Studio server, sentence
# encoder, Dask); --dev adds the test tools.
# Versions come from constraints.txt, so every machine gets the same set. The pins hold for
# Python 3.11 from 3.11.2 (Debian 12's python3) on; torch is the CPU build pip finds on disk
# (pip install torch==2.13.0), so the installer is pip, not uv, which does not look there.
# PYTHON=/path/to/python3.11 ./setup.sh picks the interpreter; python3 by default.
set -euo pipefail
cd "$(dirname "$0")"
extras="studio,embeddings,dask"
if [ "${1:-}" = "--dev" ]; then extras="$extras,dev"; fi
python="${PYTHON:-python3}"
version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) || {
  echo "setup.sh: cannot run '$python'; set PYTHON to a Python 3.11 interpreter" >&2; exit 2; }
case "$version" in
  3.11.*) ;;
  *) echo "setup.sh: '$python' is Python $version; stance's pinned set (CPU torch 2.13.0 among it)" \
          "needs Python 3.11. Run PYTHON=python3.11 ./setup.sh" >&2; exit 2 ;;
esac
if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup.sh: .venv holds another Python; remove it (rm -r .venv) and run again" >&2; exit 2
fi
start=$SECONDS
echo "[1/3] .venv with Python $version ($python)"
[ -x .venv/bin/python ] || "$python" -m venv .venv
# The pip that venv bundles (23.2) trips over lxml[html_clean], wanted by two of trafilatura's
# dependencies under two spellings ("Candidate is not for this requirement"); 25.3 resolves it.
echo "[2/3] pip 25.3"
.venv/bin/python -m pip install --quiet --disable-pip-version-check "pip==25.3"
# pip prints a line per package it collects and installs: a first install (about 1.2 GB, Label
# Studio and torch) takes several minutes, and those lines show it moving.
echo "[3/3] stance[$extras] and its pinned dependencies"
# Only those lines pass; pip's errors go to stderr, and pipefail stops the script when pip fails.
PYTHONUNBUFFERED=1 .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -c constraints.txt -e ".[$extras]" \
  | awk '/^(Collecting|Installing|Successfully)/ { print; fflush() }'
echo "stance is installed in .venv (Python $version, extras: $extras) in $((SECONDS - start)) s;" \
     "run .venv/bin/stance --help"
