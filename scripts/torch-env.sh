# Sourced by the other scripts: a virtual environment in .venv with PyTorch 2.11.0 (the
# exact version tch 0.24 binds) and transformers, and the variables that point the build
# at that PyTorch. Installs only what is missing.

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || {
        echo "python3 -m venv failed; on Debian install it with: apt-get install -y python3-venv" >&2
        exit 1
    }
fi
if ! .venv/bin/python -c "import torch, transformers; assert torch.__version__.startswith('2.11.0')" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements-train.txt
fi
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
# torch-sys asks this Python where libtorch lies; the binaries get that directory as rpath.
export LIBTORCH_USE_PYTORCH=1
