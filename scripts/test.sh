#!/usr/bin/env bash
# Runs every spe test. Installs what the tests need first: the Python readers
# (pyarrow, DuckDB, polars) that the interoperability test opens the shards with.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || {
        echo "python3 -m venv failed; on Debian install it with: apt-get install -y python3-venv" >&2
        exit 1
    }
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

SPE_PYTHON="$PWD/.venv/bin/python" cargo test --locked --all-targets
