#!/usr/bin/env bash
# The GPU check, in one short call on a machine with an NVIDIA GPU where nothing can be built or
# installed (a lent device machine): wgpu finds the GPU, the cross-backend test passes on it
# (wgpu against ndarray and flex), and the default VAE trains on wgpu against PyTorch CUDA on
# the same machine, at batch 128 and 1024.
#
# First, where the wgpu build lives (it takes ~15 min cold on two cores):
#
#   CARGO_TARGET_DIR=~/.cache/latent/target-wgpu cargo build --release -p latent \
#       --no-default-features --features ndarray,flex,wgpu
#   CARGO_TARGET_DIR=~/.cache/latent/target-wgpu cargo test --release -p latent \
#       --no-default-features --features ndarray,flex,wgpu --test backends --no-run
#   bash scripts/bench/gpu_check.sh --pack      # writes target-device/ (~40 MB, git-ignored)
#
# then on the GPU machine, from the repository root, with target-device/ copied beside it:
#
#   bash scripts/bench/gpu_check.sh [--reps R] [--limit N] [--epochs E]
#
# Each training run is E epochs (3) of N images (60000), the last one timed on both sides, so
# that compiling and autotuning wgpu's fused kernels, and CUDA's and cuBLAS's set-up, stay out
# of the figures.
#
# (`--any-adapter` lets a software Vulkan driver such as lavapipe stand in for the GPU, to try
# the script itself on a machine without one, with a small --limit.)
# It needs there: the NVIDIA driver with its Vulkan ICD (`libGLX_nvidia.so.0`; a container
# must expose the driver's graphics capability), python3 with torch (CUDA) and numpy for the
# PyTorch side. A missing Vulkan loader is supplied from target-device/lib, a missing ICD
# manifest is written to a temporary file. Whatever is missing is reported, and the parts that
# can still run do.
set -u
cd "$(dirname "$0")/../.."
pack_dir=target-device

if [ "${1:-}" = "--pack" ]; then
    target=${CARGO_TARGET_DIR:-$HOME/.cache/latent/target-wgpu}
    binary=$target/release/latent
    test_binary=$(ls -t "$target"/release/deps/backends-* 2>/dev/null | grep -v '\.d$' | head -1)
    if [ ! -x "$binary" ] || [ -z "$test_binary" ]; then
        echo "no wgpu build in $target: build it first (see the top of $0)" >&2
        exit 2
    fi
    if ! "$binary" info 2>/dev/null | grep -q '^wgpu *compiled in'; then
        echo "$binary has no wgpu backend: build it with --features ndarray,flex,wgpu" >&2
        exit 2
    fi
    rm -rf "$pack_dir" && mkdir -p "$pack_dir/lib"
    strip -o "$pack_dir/latent" "$binary" && gzip -9 "$pack_dir/latent"
    strip -o "$pack_dir/backends" "$test_binary" && gzip -9 "$pack_dir/backends"
    loader=$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')
    if [ -n "$loader" ]; then
        cp -L "$loader" "$pack_dir/lib/libvulkan.so.1"
    else
        echo "warning: no libvulkan.so.1 here to pack (apt-get install libvulkan1)" >&2
    fi
    du -sh "$pack_dir"
    exit 0
fi

reps=3
limit=60000
epochs=3
any_adapter=
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps=$2; shift 2 ;;
        --limit) limit=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --any-adapter) any_adapter=1; shift ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ ! -f "$pack_dir/latent.gz" ]; then
    echo "no $pack_dir/latent.gz: run \`bash $0 --pack\` where the wgpu build is" >&2
    exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gunzip -c "$pack_dir/latent.gz" > "$work/latent" && chmod +x "$work/latent"
gunzip -c "$pack_dir/backends.gz" > "$work/backends" && chmod +x "$work/backends"
latent=$work/latent

echo "## machine"
date -u +%Y-%m-%dT%H:%M:%SZ
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4
echo "cpus: $(nproc); NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-unset}"

echo "## Vulkan"
if ! ldconfig -p | grep -q 'libvulkan\.so\.1 '; then
    echo "no system libvulkan.so.1: using $pack_dir/lib"
    export LD_LIBRARY_PATH="$PWD/$pack_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
manifests=$(ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* 2>/dev/null)
if [ -z "$manifests" ]; then
    icd=$(ldconfig -p | awk '/libGLX_nvidia\.so\.0 .*x86-64/ {print $NF; exit}')
    if [ -n "$icd" ]; then
        printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' \
            "$icd" > "$work/nvidia_icd.json"
        export VK_ICD_FILENAMES="$work/nvidia_icd.json" VK_DRIVER_FILES="$work/nvidia_icd.json"
        echo "no NVIDIA ICD manifest: wrote one for $icd"
    else
        echo "no libGLX_nvidia.so.0: this driver install has no Vulkan ICD"
    fi
else
    echo "ICD manifests: $manifests"
fi
"$latent" --backend wgpu info 2>&1
gpu='adapter:.*(\(DiscreteGpu\|IntegratedGpu\)'
[ -n "$any_adapter" ] && gpu='adapter:'
if ! "$latent" info 2>/dev/null | grep -q "$gpu"; then
    echo "wgpu finds no GPU adapter here; nvidia libraries present:"
    ldconfig -p | grep -i nvidia | awk '{print "  " $1}' | sort -u | head -30
    echo "(no GPU figures possible on this machine)"
    exit 3
fi

echo "## cross-backend test on the GPU (wgpu against ndarray and flex)"
timeout 120 "$work/backends" --test-threads 1 2>&1 | tail -8

echo "## PyTorch"
torch_cuda=$(python3 -c 'import torch, numpy; print(torch.__version__, torch.cuda.is_available())' 2>&1 | tail -1)
echo "torch: $torch_cuda"
for batch in 128 1024; do
    echo "## training, batch $batch"
    if [ "${torch_cuda##* }" = "True" ]; then
        timeout 240 python3 scripts/bench/vae_vs_pytorch.py --latent "$latent" --backends wgpu \
            --torch-device cuda --no-eval --reps "$reps" --limit "$limit" --batch-size "$batch" \
            --epochs "$epochs" \
            2>&1 | sed -n '/^# VAE/,$p'
    else
        echo "(no CUDA torch: latent alone)"
        for rep in $(seq "$reps"); do
            rm -rf "$work/run"
            timeout 120 "$latent" --backend wgpu train vae --out "$work/run" --epochs "$epochs" \
                --limit "$limit" --test-limit 1000 --batch-size "$batch" --seed 0 > /dev/null 2>&1
            tail -1 "$work/run/metrics.jsonl" | python3 -c 'import json, sys
rate = json.load(sys.stdin)["samples_per_second"]
print(f"latent wgpu: {rate:,.0f} images/s")'
        done
    fi
done
