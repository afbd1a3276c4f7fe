#!/usr/bin/env bash
# Installs the LLVM 23 that burn's `cuda` feature compiles against, from PyPI, so that
# `cargo build -p latent --features cuda` needs no download of its own (and works offline after).
#
# burn 0.22.1's CUDA backend generates its kernels with LLVM (cubecl-llvm, NVPTX target). The
# crate that provides LLVM (tracel-llvm-bundler 23.1.0-4) downloads it in its build script
# unless this marker exists:
#   ${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4/.tracel-llvm-installed
# and then links the static libraries it finds there through `bin/llvm-config`. The wheels
# mlc-llvm-static and mlc-llvm-static-extra-targets (23.1.1.post0; the second adds NVPTX) hold a
# matching LLVM 23: static libraries, headers and llvm-config. This script downloads both with
# pip, checks their SHA-256, unpacks them there and writes the marker. Run it again and it
# only checks the install (idempotent).
#
#   bash scripts/setup/cuda-llvm.sh                  # install (about 90 MB of downloads)
#   bash scripts/setup/cuda-llvm.sh --check          # exit 0 if installed, 1 if not
#   bash scripts/setup/cuda-llvm.sh --libdevice DIR  # also put CUDA's libdevice.10.bc under
#                                                    # DIR/nvvm/libdevice/ (for a GPU machine
#                                                    # without a CUDA toolkit; see gpu_check.sh)
#
# No CUDA toolkit is needed to build: the binary loads the driver (libcuda.so) when it runs.
set -euo pipefail

llvm_version=23.1.1.post0
llvm_sha256=dcfec888abfaa418be77d41af585805f31463584cf9c90582992c00f392c1ac5
extra_sha256=c36e834d9a4e9cf9759f27fece65711ece7a2fc2b5a96dbb15d66f5e9e787929
nvcc_version=12.9.86
nvcc_sha256=5d6a0d32fdc7ea39917c20065614ae93add6f577d840233237ff08e9a38f58f0

prefix="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4"
marker="$prefix/.tracel-llvm-installed"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/latent/wheels"

check=
libdevice_dir=
while [ $# -gt 0 ]; do
    case "$1" in
        --check) check=1; shift ;;
        --libdevice) libdevice_dir=${2:?--libdevice needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

installed() {
    [ -f "$marker" ] && [ -x "$prefix/bin/llvm-config" ] \
        && "$prefix/bin/llvm-config" --targets-built 2>/dev/null | grep -qw NVPTX
}

# pip download of one pinned wheel into the cache, checked against its SHA-256.
fetch_wheel() {
    local name=$1 version=$2 sha=$3 file
    file=$(ls "$cache"/"${name//-/_}"-"$version"-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$file" ] || ! echo "$sha  $file" | sha256sum --check --status; then
        mkdir -p "$cache"
        rm -f "$cache"/"${name//-/_}"-"$version"-*.whl
        python3 -m pip download --quiet --no-deps --only-binary :all: --platform manylinux_2_28_x86_64 \
            --platform manylinux_2_12_x86_64 --python-version 3.11 -d "$cache" "$name==$version" >&2
        file=$(ls "$cache"/"${name//-/_}"-"$version"-*.whl | head -1)
    fi
    if ! echo "$sha  $file" | sha256sum --check --status; then
        echo "$file: SHA-256 is not $sha; refusing to use it" >&2
        exit 1
    fi
    echo "$file"
}

# Unpacks the members of wheel $1 under zip folder $2 into directory $3, keeping the mode bits
# zip extraction would drop.
unpack() {
    python3 - "$1" "$2" "$3" <<'PY'
import os, sys, zipfile
wheel, inside, dest = sys.argv[1], sys.argv[2].rstrip("/") + "/", sys.argv[3]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(inside) or info.is_dir():
            continue
        target = os.path.join(dest, info.filename[len(inside):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as out:
            out.write(src.read())
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(target, mode or 0o644)
PY
}

if [ -n "$check" ]; then
    if installed; then echo "LLVM for CUDA installed in $prefix"; exit 0; fi
    echo "LLVM for CUDA not installed (run bash $0)"; exit 1
fi

if installed; then
    echo "LLVM for CUDA already installed in $prefix ($("$prefix/bin/llvm-config" --version))"
else
    case "$(uname -sm)" in
        "Linux x86_64") ;;
        *) echo "the pinned LLVM wheels are for Linux x86_64; this is $(uname -sm)" >&2; exit 1 ;;
    esac
    base=$(fetch_wheel mlc-llvm-static "$llvm_version" "$llvm_sha256")
    extra=$(fetch_wheel mlc-llvm-static-extra-targets "$llvm_version" "$extra_sha256")
    rm -rf "$prefix.partial"
    mkdir -p "$prefix.partial"
    unpack "$base" mlc_llvm_static/static "$prefix.partial"
    unpack "$extra" mlc_llvm_static/static "$prefix.partial"
    chmod +x "$prefix.partial"/bin/*
    rm -rf "$prefix"
    mv "$prefix.partial" "$prefix"
    if ! "$prefix/bin/llvm-config" --targets-built | grep -qw NVPTX; then
        echo "$prefix/bin/llvm-config lists no NVPTX target after unpacking" >&2
        exit 1
    fi
    touch "$marker"
    echo "installed LLVM $("$prefix/bin/llvm-config" --version) for CUDA in $prefix"
fi

if [ -n "$libdevice_dir" ]; then
    nvcc=$(fetch_wheel nvidia-cuda-nvcc-cu12 "$nvcc_version" "$nvcc_sha256")
    mkdir -p "$libdevice_dir/nvvm/libdevice"
    unpack "$nvcc" nvidia/cuda_nvcc/nvvm/libdevice "$libdevice_dir/nvvm/libdevice"
    ls "$libdevice_dir/nvvm/libdevice/libdevice.10.bc" >/dev/null
    echo "libdevice in $libdevice_dir/nvvm/libdevice (set CUDA_PATH=$libdevice_dir when running)"
fi
