# Sourced by the other scripts: checks what the build needs, then makes a virtual
# environment in .venv with PyTorch 2.11.0 (the exact version tch 0.24 binds) and
# transformers, and sets the variables that point the build at that PyTorch. Installs only
# what is missing, and says what it is doing.

setup_say() { printf 'spe set-up: %s\n' "$*" >&2; }
setup_fail() {
    printf 'spe set-up: %s\n' "$*" >&2
    exit 1
}

command -v cargo >/dev/null || setup_fail "cargo is missing: install Rust (https://rustup.rs), then run this again"
command -v cc >/dev/null || command -v gcc >/dev/null ||
    setup_fail "no C compiler (cc): on Debian, apt-get install -y build-essential"
command -v python3 >/dev/null || setup_fail "python3 is missing: on Debian, apt-get install -y python3 python3-venv"

# Disk: the debug and release builds take about 9 GB, PyTorch with its CUDA libraries 5 GB.
torch_ready() { .venv/bin/python -c "import torch, transformers; assert torch.__version__.startswith('2.11.0')" 2>/dev/null; }
need_gb=0
torch_ready || need_gb=$((need_gb + 5))
[ -d target/debug ] || [ -d target/release ] || need_gb=$((need_gb + 9))
free_gb=$(($(df -Pk . | awk 'NR == 2 { print $4 }') / 1024 / 1024))
if [ "$free_gb" -lt "$need_gb" ]; then
    setup_fail "about $need_gb GB of free disk is needed here (the builds and PyTorch), but $free_gb GB are free"
fi
# Memory: the test suite's largest process peaks near 9 GB.
mem_gb=$(($(awk '/^MemTotal/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0) / 1024 / 1024))
if [ "$mem_gb" -gt 0 ] && [ "$mem_gb" -lt 10 ]; then
    setup_say "warning: this machine has $mem_gb GB of memory; the tests need about 9 GB"
fi

if [ ! -x .venv/bin/python ]; then
    setup_say "creating the Python environment .venv"
    python3 -m venv .venv || setup_fail "python3 -m venv failed; on Debian, apt-get install -y python3-venv"
fi
if ! torch_ready; then
    setup_say "installing PyTorch 2.11.0 and transformers into .venv (about 4.6 GB from PyPI; a few minutes)"
    .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off \
        -r tests/python/requirements-train.txt ||
        setup_fail "pip could not install PyTorch: is PyPI reachable, and is there disk to spare?"
fi
# ProcessGroupNCCL.hpp includes CUDA toolkit headers that the CUDA runtime's pip package
# leaves out (crt/, CCCL's nv/): their header-only packages, of the runtime's CUDA 13.0.
torch_lib=$(ls -d .venv/lib/python3*/site-packages/torch/lib 2>/dev/null | head -n 1)
if [ -n "$torch_lib" ] && [ -f "$torch_lib/libtorch_cuda.so" ] &&
    [ ! -f "$torch_lib/../../nvidia/cu13/include/crt/host_config.h" ]; then
    setup_say "installing the CUDA 13.0 headers NCCL's process group needs (nvidia-cuda-crt, nvidia-cuda-cccl)"
    .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off --no-deps \
        nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85 ||
        setup_say "warning: pip could not install them: on GPUs, data-parallel training goes through Gloo"
fi
# Gloo's headers: the PyTorch wheel ships c10d's headers but not those of Gloo, which
# ProcessGroupGloo.hpp includes. spe's data-parallel shim needs only their declarations,
# so Debian's libgloo-dev serves; it is unpacked into .venv, not installed.
if [ -f /usr/include/gloo/algorithm.h ]; then
    export SPE_GLOO_INCLUDE=/usr/include
else
    export SPE_GLOO_INCLUDE="$PWD/.venv/gloo/usr/include"
    if [ ! -f "$SPE_GLOO_INCLUDE/gloo/algorithm.h" ] && command -v apt-get >/dev/null; then
        setup_say "fetching Gloo's headers (Debian's libgloo-dev, unpacked into .venv/gloo)"
        (mkdir -p .venv/gloo && cd .venv/gloo && apt-get download libgloo-dev >/dev/null 2>&1 &&
            dpkg-deb -x libgloo-dev_*.deb . && rm -f libgloo-dev_*.deb) ||
            setup_say "warning: apt-get download libgloo-dev failed: spe-trainer will train on one process only"
    fi
fi
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
# torch-sys asks this Python where libtorch lies; the binaries get that directory as rpath.
export LIBTORCH_USE_PYTORCH=1
