#!/usr/bin/env bash
# Create .venv and install stance with all its extras (Label Studio server, sentence
# encoder, Dask); --dev adds the test tools.
# Versions come from constraints.txt, so every machine gets the same set.
set -euo pipefail
cd "$(dirname "$0")"
extras="studio,embeddings,dask"
if [ "${1:-}" = "--dev" ]; then extras="$extras,dev"; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$extras]"
echo "stance is installed in .venv (extras: $extras); run .venv/bin/stance --help"
