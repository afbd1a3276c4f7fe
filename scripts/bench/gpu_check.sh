#!/usr/bin/env bash
# The GPU check, in one call of at most 10 minutes on a machine with an NVIDIA GPU where nothing
# can be built or installed (a lent device machine): the cuda and wgpu backends find the GPU,
# the cross-backend test passes on both (same weights, forward, gradients, Adam step and EM
# iteration as flex), and the benchmarks run beside PyTorch CUDA and scikit-learn on the same
# machine. Every figure of the GPU tables in README.md and BENCHMARKS.md comes from this script.
#
# First, here (a machine that can build; the build takes ~30 min cold on two cores):
#
#   bash scripts/setup/cuda-llvm.sh               # LLVM for the cuda feature, from PyPI
#   export CARGO_TARGET_DIR=~/.cache/latent/target-gpu
#   cargo build --release -p latent --no-default-features --features ndarray,flex,avx512,wgpu,cuda
#   cargo test --release -p latent --no-default-features --features ndarray,flex,avx512,wgpu,cuda \
#       --test backends --no-run
#   bash scripts/bench/gpu_check.sh --pack        # writes target-device/
#
# The pack holds the tool in target-device/tool/ (35 MB) and the cross-backend test in
# target-device/test/ (32 MB), each stripped and xz-compressed, with the Vulkan loader in
# target-device/lib/ and CUDA's libdevice.10.bc in target-device/cuda/ (from PyPI, for a machine
# without a CUDA toolkit). A device call carries at most 64 MiB with the repository (17 MB), so
# the two binaries travel in two calls, one after the other while the machine is warm, each
# carrying lib/, cuda/ and one of tool/ and test/. On the GPU machine, from the repository root:
#
#   bash scripts/bench/gpu_check.sh [--quick] [--only PARTS]
#
# runs the parts that the binaries carried allow (test with test/, the others with tool/).
# PARTS (comma-separated; default all, in this order, most important first):
#   test     the cross-backend test on cuda and wgpu (against flex and ndarray)
#   train    VAE training, batch 128: latent wgpu and cuda against PyTorch CUDA eager and
#            torch.compile; and importance-sampled evaluation, k = 5000, 1000 test digits
#   gmm      GMM EM, 20 iterations (tol 0 on both sides): latent cuda against scikit-learn on
#            all cores: MNIST diag K=10, 1,000,000 x 64 diag K=64, 100,000 x 32 full K=16
#   big      VAE training at batch 1024, and the 784-500-500-50 model at batch 128
# Each part has a time limit, and all of them together the --budget (570 s, so that one call
# stays under the device machine's 10 minutes); a part that runs out says so and the next one
# starts, and a part is skipped when the budget has less than 20 s left. --quick shrinks
# everything (a smoke run of the script).
#
# (`--any-adapter` lets a software Vulkan driver such as lavapipe stand in for the GPU, to try
# the script on a machine without one, with --quick; cuda parts then report the missing driver.)
# It needs there: the NVIDIA driver (libcuda.so.1, and for Vulkan its ICD), python3 with torch
# (CUDA), numpy and scikit-learn. A missing Vulkan loader comes from target-device/lib, the
# NVIDIA ICD manifest is looked for in the usual folders and in /usr/local/nvidia (where the
# lent machines mount the driver), and libdevice from target-device/cuda when no CUDA toolkit
# has one. Whatever is missing is reported, and the parts that can still run do.
set -u
cd "$(dirname "$0")/../.."
pack_dir=target-device
features=ndarray,flex,avx512,wgpu,cuda

if [ "${1:-}" = "--pack" ]; then
    target=${CARGO_TARGET_DIR:-$HOME/.cache/latent/target-gpu}
    binary=$target/release/latent
    test_binary=$(ls -t "$target"/release/deps/backends-* 2>/dev/null | grep -v '\.d$' | head -1)
    if [ ! -x "$binary" ] || [ -z "$test_binary" ]; then
        echo "no GPU build in $target: build it first (see the top of $0)" >&2
        exit 2
    fi
    info=$("$binary" info 2>&1)
    for backend in wgpu cuda; do
        if ! grep -q "^$backend  *\(compiled in\|adapter\|driver\)" <<<"$info"; then
            echo "$binary has no $backend backend: build it with --features $features" >&2
            exit 2
        fi
    done
    rm -rf "$pack_dir" && mkdir -p "$pack_dir/lib" "$pack_dir/tool" "$pack_dir/test"
    strip -o "$pack_dir/tool/latent" "$binary" && xz -9 -T0 "$pack_dir/tool/latent"
    strip -o "$pack_dir/test/backends" "$test_binary" && xz -9 -T0 "$pack_dir/test/backends"
    loader=$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')
    if [ -n "$loader" ]; then
        cp -L "$loader" "$pack_dir/lib/libvulkan.so.1"
    else
        echo "warning: no libvulkan.so.1 here to pack (apt-get install libvulkan1)" >&2
    fi
    bash scripts/setup/cuda-llvm.sh --libdevice "$pack_dir/cuda" >/dev/null || exit 1
    tree=$(git ls-files -z | du -cm --files0-from=- | tail -1 | cut -f1)
    for half in tool test; do
        size=$(du -cm "$pack_dir/$half" "$pack_dir/lib" "$pack_dir/cuda" | tail -1 | cut -f1)
        echo "call with $pack_dir/$half, lib, cuda: $size MiB, with the repository $((size + tree)) MiB"
        if [ $((size + tree)) -gt 64 ]; then
            echo "more than the 64 MiB a device call carries" >&2
            exit 1
        fi
    done
    exit 0
fi

quick=
budget=570
only=test,train,gmm,big
any_adapter=
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; shift ;;
        --only) only=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --any-adapter) any_adapter=1; shift ;;
        -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
wants() { [[ ",$only," == *",$1,"* ]]; }

have_tool=; have_test=
[ -f "$pack_dir/tool/latent.xz" ] && have_tool=1
[ -f "$pack_dir/test/backends.xz" ] && have_test=1
if [ -z "$have_tool$have_test" ]; then
    echo "no $pack_dir/tool/latent.xz nor $pack_dir/test/backends.xz: run \`bash $0 --pack\`" \
         "where the GPU build is, and carry one of the two folders" >&2
    exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "$have_tool" ]; then
    xz -dc "$pack_dir/tool/latent.xz" > "$work/latent" && chmod +x "$work/latent"
else
    echo "(no $pack_dir/tool here: the benchmark parts are skipped)"
    only=$(tr ',' '\n' <<<"$only" | grep -x test | paste -sd,)
fi
if [ -n "$have_test" ]; then
    xz -dc "$pack_dir/test/backends.xz" > "$work/backends" && chmod +x "$work/backends"
elif wants test; then
    echo "(no $pack_dir/test here: the cross-backend test is skipped)"
    only=$(tr ',' '\n' <<<"$only" | grep -vx test | paste -sd,)
fi
latent=$work/latent
export PYTHONUNBUFFERED=1
started=$SECONDS
elapsed() { echo "[$((SECONDS - started)) s]"; }

echo "## machine"
date -u +%Y-%m-%dT%H:%M:%SZ
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) logical CPUs"
echo "NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-unset}"

echo "## Vulkan"
if ! ldconfig -p | grep -q 'libvulkan\.so\.1 '; then
    echo "no system libvulkan.so.1: using $pack_dir/lib"
    export LD_LIBRARY_PATH="$PWD/$pack_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
manifests=$(ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* 2>/dev/null)
mounted=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -n "$manifests" ]; then
    echo "ICD manifests: $manifests"
elif [ -f "$mounted" ]; then
    export VK_DRIVER_FILES=$mounted VK_ICD_FILENAMES=$mounted
    echo "NVIDIA ICD manifest: $mounted"
else
    icd=$(ldconfig -p | awk '/libGLX_nvidia\.so\.0 .*x86-64/ {print $NF; exit}')
    if [ -n "$icd" ]; then
        printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' \
            "$icd" > "$work/nvidia_icd.json"
        export VK_ICD_FILENAMES="$work/nvidia_icd.json" VK_DRIVER_FILES="$work/nvidia_icd.json"
        echo "no NVIDIA ICD manifest: wrote one for $icd"
    else
        echo "no NVIDIA ICD manifest and no libGLX_nvidia.so.0: wgpu will find no NVIDIA GPU"
    fi
fi

echo "## CUDA"
# The folders cubecl looks in when CUDA_PATH is not set (apps/latent/src/cuda.rs lists them too).
toolkit_libdevice=
for root in /usr/local/cuda /opt/cuda /usr/lib/cuda /usr; do
    [ -f "$root/nvvm/libdevice/libdevice.10.bc" ] && toolkit_libdevice=$root && break
done
if [ -z "${CUDA_PATH:-}" ] && [ -z "$toolkit_libdevice" ]; then
    export CUDA_PATH=$PWD/$pack_dir/cuda
    echo "no CUDA toolkit with libdevice: CUDA_PATH=$CUDA_PATH"
fi
backends=
if [ -n "$have_tool" ]; then
    info=$("$latent" info 2>&1)
    echo "$info"
    gpu='^wgpu *adapter:.*(\(DiscreteGpu\|IntegratedGpu\)'
    [ -n "$any_adapter" ] && gpu='^wgpu *adapter:'
    grep -q "$gpu" <<<"$info" && backends=wgpu
    grep -q '^cuda *compiled in:.* ok$' <<<"$info" && backends=${backends:+$backends,}cuda
else
    # Without the tool to ask, the test tries both: a backend that fails there is a finding.
    backends=wgpu
    ldconfig -p | grep -q 'libcuda\.so\.1 ' && backends=wgpu,cuda
fi
if [ -z "$backends" ]; then
    echo "neither wgpu nor cuda finds a GPU here; nvidia libraries present:"
    ldconfig -p | grep -i nvidia | awk '{print "  " $1}' | sort -u | head -30
    echo "(no GPU figures possible on this machine)"
    exit 3
fi
echo "GPU backends usable here: $backends"
gmm_backend=cuda
[[ ",$backends," == *",cuda,"* ]] || gmm_backend=wgpu

torch_cuda=$(python3 -c 'import torch, numpy; print(torch.__version__, torch.cuda.is_available())' 2>&1 | tail -1)
echo "torch: $torch_cuda"
torch_device=cpu
[ "${torch_cuda##* }" = "True" ] && torch_device=cuda

# One benchmark part: a label, a time limit in seconds, then the command; the limit shrinks to
# what is left of the budget.
part() {
    local label=$1 limit=$2
    shift 2
    local left=$((budget - (SECONDS - started) - 5))
    if [ "$left" -lt 20 ]; then
        echo "## $label: skipped, the budget of $budget s is spent $(elapsed)"
        return 0
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "## $label $(elapsed)"
    timeout "$limit" "$@" 2>&1
    local status=$?
    [ "$status" -eq 124 ] && echo "($label: stopped at its limit of $limit s)"
    [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && echo "($label: exit status $status)"
    return 0
}

if wants test; then
    cuda_test=0
    [[ ",$backends," == *",cuda,"* ]] && cuda_test=1
    part "cross-backend test ($backends against flex and ndarray)" 300 \
        env LATENT_TEST_CUDA=$cuda_test "$work/backends" --test-threads 1
fi

# Training: 60,000 images, 3 epochs, the last timed (kernel compilation, autotuning and
# torch.compile stay out of the figure); --quick: 2,000 images, 2 epochs.
limit=60000; epochs=3; reps=2; eval_images=1000; iw=5000; gmm_scale=()
if [ -n "$quick" ]; then
    limit=2000; epochs=2; reps=1; eval_images=10; iw=100; gmm_scale=(--quick)
fi
vae=(python3 scripts/bench/vae_vs_pytorch.py --latent "$latent" --backends "$backends"
     --torch-device "$torch_device" --reps "$reps" --limit "$limit" --epochs "$epochs")

if wants train; then
    part "VAE training, batch 128, and IS evaluation (k = $iw, $eval_images digits)" 210 \
        "${vae[@]}" --torch-compile --batch-size 128 --iw-samples "$iw" \
        --eval-images "$eval_images"
fi

if wants gmm; then
    part "GMM EM against scikit-learn ($(nproc) cores)" 170 \
        python3 scripts/bench/gmm_vs_sklearn.py --latent "$latent" --backend "$gmm_backend" \
        --repeats 1 --max-iter 20 --tol 0 --case mnist-diag-k10 --case blobs64d-diag-k64 \
        --case blobs32d-full-k16 "${gmm_scale[@]}"
fi

if wants big; then
    part "VAE training, batch 1024" 80 \
        "${vae[@]}" --batch-size 1024 --no-eval
    part "VAE training, 784-500-500-50, batch 128" 120 \
        "${vae[@]}" --batch-size 128 --hidden 500,500 --z-dim 50 --no-eval
fi
echo "## done $(elapsed)"
