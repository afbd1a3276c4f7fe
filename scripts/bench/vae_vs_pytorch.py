#!/usr/bin/env python3
"""Benchmark: training and evaluation throughput of the default VAE, `latent` against PyTorch.

This is a benchmark, not a test: it asserts nothing. It measures training images per second
of the project's default VAE (784-400-(20 mean, 20 log-variance)-400-784, ReLU, Bernoulli
logits, batch 128, Adam lr 1e-3, dynamic binarisation) on the first N MNIST training images,
one epoch, against the same model and loop in PyTorch, and sets both against the machine's
hardware limit.

Each run is a separate child process, ours and PyTorch alternating, --reps times:

    ours:    RAYON_NUM_THREADS=T latent --backend B train vae --out TMP/run --epochs E
                 --limit N --test-limit 1000 --seed 0
             images/s = `samples_per_second` of the last line of TMP/run/metrics.jsonl
             (the last epoch's training loop only; a fresh temporary directory for every run)
    PyTorch: this script re-invoked with the hidden --torch-worker flag: the model and loop of
             scripts/reference/pytorch_vae.py (which has no option to limit the training set),
             torch.set_num_threads(T), torch.manual_seed(0), E epochs over the first N images,
             timing only the last epoch's training loop (data loading excluded) and printing
             images/s as JSON.

E = --epochs, 1 by default. On a GPU, --epochs 2 or more keeps one-time costs out of the
figure on both sides: compiling (and autotuning) the fused kernels on wgpu, CUDA's context and
cuBLAS set-up on PyTorch.

Second, unless --no-eval: importance-sampled evaluation throughput, -log p(x) estimated with
k = --iw-samples (5000) samples per image on the first --eval-images (100) test digits, images/s,
again one child per run, ours and PyTorch alternating, --reps times:

    setup:   latent --backend B train vae --out TMP/evalrun --epochs 1 --limit 2000
                 --test-limit 100 --seed 0        (once, first backend; runs are backend-free)
    ours:    RAYON_NUM_THREADS=T latent --backend B eval --run TMP/evalrun --iw-samples K
                 --limit N --json
    PyTorch: this script re-invoked with the hidden --torch-eval-worker flag: the VAE of
             scripts/reference/pytorch_vae.py freshly initialised (torch.manual_seed(0);
             throughput does not depend on the weights), the first N test images binarised
             with a seeded torch.Generator, and that script's importance_nll (chunks of 500
             samples, logsumexp in float64) under torch.no_grad(), torch.set_num_threads(T).
    Both:    images/s = N / wall-clock seconds of the whole child process, measured by this
             script around its start and exit, so it includes process start-up and loading
             (the run, or torch and MNIST; about a second) on both sides. `latent eval` also
             computes the ELBO and active units in the same pass; the -log p(x) values differ
             (trained vs fresh weights) and are reported only as a sanity check.

Every child's peak resident memory comes from os.wait4 (ru_maxrss). The hardware limit is the
matmul FLOPs per training sample (forward + backward, computed from the layer sizes) against
the machine's single-precision matrix-multiply rate, measured as numpy float32 1024x1024
matmul (warm-up, then the best of 50 products, about half a second; the best of 5 read up to a
quarter low on a busy machine, which put the limit as much lower) with the same thread count:
numpy's BLAS serves as the achievable SGEMM rate of this machine. The limit counts every
product dense; on flex, latent sums the rows of the weights where a binarised input holds ones
(about 13 % of MNIST's pixels) instead of multiplying by the zeros, in the first layer's forward
product and weight gradient, so its share of the limit is then not a share of the multiply-adds
it does (BENCHMARKS.md, *Binary inputs as sums of rows*).

Run from anywhere (the repository root is the parent of scripts/), on an otherwise idle machine:

    cargo build --release -p latent
    python3 -m pip install -r scripts/reference/requirements.txt      # torch, numpy
    python3 scripts/bench/vae_vs_pytorch.py
    python3 scripts/bench/vae_vs_pytorch.py --reps 1 --limit 5000 --backends ndarray --threads 2
    python3 scripts/bench/vae_vs_pytorch.py --json > vae_bench.json
    python3 scripts/bench/vae_vs_pytorch.py --iw-samples 1000 --eval-images 50   # lighter eval
    python3 scripts/bench/vae_vs_pytorch.py --no-eval                            # training only

GPU (a build of latent with the wgpu and cuda features and a CUDA build of torch on the same
machine; see scripts/bench/gpu_check.sh): --backends wgpu,cuda --torch-device cuda
[--torch-compile] [--batch-size 1024] [--hidden 500,500 --z-dim 50]. On cuda the limit uses
torch's float32 matmul rate on the GPU (TF32 off) instead of numpy's, and the evaluation runs
PyTorch's importance_nll on the GPU too.

Other models on both sides: --hidden H[,H...] and --z-dim Z (ours gets --hidden and --latent;
the FLOPs and the limit follow the sizes). --torch-compile adds a side: PyTorch with the
forward pass and loss compiled by torch.compile (the optimizer step stays eager); give it
--epochs 2 or more so that compilation stays out of the timed epoch.

Requires numpy and torch (stdlib otherwise).
"""
import argparse
import datetime
import gzip
import importlib.util
import json
import os
import pathlib
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from common import REPO_ROOT, cpu_text, latent_binary, markdown_table  # noqa: E402 (this folder)
MNIST_TRAIN_IMAGES = REPO_ROOT / "datasets/mnist/train-images-idx3-ubyte.gz"
MNIST_TEST_IMAGES = REPO_ROOT / "datasets/mnist/t10k-images-idx3-ubyte.gz"
REFERENCE = REPO_ROOT / "scripts/reference/pytorch_vae.py"
EVAL_TRAIN_LIMIT, EVAL_TEST_LIMIT, IW_CHUNK, MNIST_TEST_SIZE = 2000, 100, 500, 10000
X_DIM, H_DIM, Z_DIM, BATCH, LR, SEED, TEST_LIMIT = 784, 400, 20, 128, 1e-3, 0, 1000
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
INSTALL_TORCH = "python3 -m pip install -r scripts/reference/requirements.txt"


def ratio_text(side):
    """A side's speed relative to PyTorch, or "-" where there is no PyTorch figure."""
    return "-" if side["vs_pytorch"] is None else f"{side['vs_pytorch']:.2f}"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latent", type=pathlib.Path, default=None,
                   help="the project binary [$CARGO_TARGET_DIR/release/latent if set, else "
                        "<repo>/target/release/latent]")
    p.add_argument("--backends", default="flex,ndarray",
                   help="comma-separated latent backends, each measured every repetition "
                        "[flex,ndarray]")
    p.add_argument("--reps", type=int, default=3, metavar="R",
                   help="repetitions of every side, alternating (median reported) [3]")
    p.add_argument("--limit", type=int, default=20000, metavar="N",
                   help="training images per run (one epoch) [20000]")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="threads for both sides [os.cpu_count()]")
    p.add_argument("--epochs", type=int, default=1, metavar="E",
                   help="training epochs per run on both sides; the last one is timed [1]")
    p.add_argument("--batch-size", type=int, default=BATCH, metavar="B",
                   help=f"images per training step on both sides [{BATCH}]")
    p.add_argument("--torch-device", default="cpu", choices=["cpu", "cuda"],
                   help="where PyTorch trains and evaluates (cuda: the GPU comparison for "
                        "--backends wgpu,cuda; the hardware limit is then torch's own float32 "
                        "matmul rate there) [cpu]")
    p.add_argument("--torch-compile", action="store_true",
                   help="also train PyTorch with its step compiled by torch.compile (another "
                        "side, timed like eager; the ratios stay against eager PyTorch)")
    p.add_argument("--torch-flush-denormal", action="store_true",
                   help="train PyTorch with torch.set_flush_denormal(True): subnormal floats "
                        "read and written as zeros, as latent's Adam does on x86-64 (without "
                        "it, both slowed down over epochs as Adam's moments decayed into the "
                        "subnormal range; BENCHMARKS.md)")
    p.add_argument("--hidden", default=str(H_DIM), metavar="H[,H...]",
                   help=f"hidden layer widths of encoder and decoder on both sides [{H_DIM}]; "
                        "the larger model of the IWAE paper's size is 500,500 with --z-dim 50")
    p.add_argument("--z-dim", type=int, default=Z_DIM, metavar="Z",
                   help=f"latent dimensions on both sides [{Z_DIM}]")
    p.add_argument("--latent-args", default="", metavar="ARGS",
                   help="extra arguments for our training runs, e.g. \"--threads 1 --devices "
                        "flex,flex\" (the threads budget stays --threads on both sides)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object with all figures instead of the table")
    p.add_argument("--no-eval", action="store_true",
                   help="skip the importance-sampled evaluation measurement")
    p.add_argument("--iw-samples", type=int, default=5000, metavar="K",
                   help="importance samples per image in the evaluation measurement [5000]")
    p.add_argument("--eval-images", type=int, default=100, metavar="N",
                   help=f"test digits evaluated per run (at most {MNIST_TEST_SIZE}) [100]")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--torch-eval-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    try:
        args.hidden = [int(h) for h in args.hidden.split(",")]
    except ValueError:
        p.error(f"--hidden {args.hidden!r}: expected widths like 400 or 500,500")
    if not args.hidden or min(args.hidden) < 1 or args.z_dim < 1:
        p.error("--hidden widths and --z-dim must be at least 1")
    if args.threads is None:
        args.threads = os.cpu_count() or 1
    if (args.reps < 1 or args.limit < 1 or args.threads < 1 or args.batch_size < 1
            or args.epochs < 1 or not args.backends):
        p.error("--reps, --limit, --threads, --epochs and --batch-size must be at least 1, "
                "--backends non-empty")
    if args.iw_samples < 1 or not 1 <= args.eval_images <= MNIST_TEST_SIZE:
        p.error(f"--iw-samples must be at least 1, --eval-images in 1..{MNIST_TEST_SIZE}")
    args.latent = (args.latent or latent_binary("release")).expanduser().resolve()
    return args


# ----------------------------------------------------------------------- PyTorch worker


def read_images(path, n):
    """The first n images of a gzip IDX3 file as a float32 torch tensor (n, 784) in [0, 1]."""
    import numpy as np
    import torch
    with gzip.open(path, "rb") as f:
        raw = f.read()
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16)[: n * X_DIM]
    return torch.from_numpy(pixels.reshape(-1, X_DIM).astype(np.float32) / 255.0)


def torch_worker(n, threads, batch, device, epochs, hidden, z_dim, compile_step, flush_denormal):
    """Child process: `epochs` epochs of the reference VAE (hidden widths `hidden`, `z_dim`
    latents) over the first n images, `batch` images a step, on `device` (cpu or cuda), the
    last one timed; prints JSON. As in PyTorch's VAE example, the loss is read back every step
    (a device synchronisation on cuda). With `compile_step`, the forward pass and loss are
    compiled by torch.compile (default mode; the first epochs absorb the compilation). With
    `flush_denormal`, torch.set_flush_denormal(True) first."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    if flush_denormal and not torch.set_flush_denormal(True):
        raise SystemExit("torch.set_flush_denormal(True): not supported on this CPU")
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    dev = torch.device(device)
    x_train = read_images(MNIST_TRAIN_IMAGES, n).to(dev)
    n = x_train.shape[0]

    # Created in the order of the default model's layers (encoder, mean, log-variance,
    # decoder), so that the default sizes draw the same initial weights as before.
    widths = [X_DIM] + hidden
    enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
    enc_mean, enc_log_var = nn.Linear(hidden[-1], z_dim), nn.Linear(hidden[-1], z_dim)
    widths = [z_dim] + hidden[::-1]
    dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
    dec_out = nn.Linear(hidden[0], X_DIM)
    model = nn.ModuleList([enc, enc_mean, enc_log_var, dec, dec_out]).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.999))

    def step_loss(x, noise):
        h = x
        for layer in enc:
            h = F.relu(layer(h))
        mean, log_var = enc_mean(h), enc_log_var(h)
        h = mean + (0.5 * log_var).exp() * noise
        for layer in dec:
            h = F.relu(layer(h))
        logits = dec_out(h)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = 0.5 * (log_var.exp() + mean.pow(2) - 1.0 - log_var).sum(-1)
        return (recon + kl).mean()

    loss_of = torch.compile(step_loss) if compile_step else step_loss
    for _ in range(epochs):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        loss_sum = 0.0
        for start in range(0, n, batch):
            x = torch.bernoulli(x_train[perm[start:start + batch]])
            loss = loss_of(x, torch.randn(x.shape[0], z_dim, device=dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * x.shape[0]
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    print(json.dumps({"images": n, "seconds": seconds, "images_per_second": n / seconds,
                      "train_loss": loss_sum / n, "threads": torch.get_num_threads(),
                      "device": str(dev), "torch_version": torch.__version__}), flush=True)


def torch_sgemm_gflops(device, size=4096, best_of=5):
    """Best-of-5 float32 matmul rate of torch on `device` (TF32 off: true float32)."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(best_of):
        t = time.perf_counter()
        a @ b
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2.0 * size ** 3 / best / 1e9


def load_reference():
    """scripts/reference/pytorch_vae.py as a module (its VAE and importance_nll)."""
    spec = importlib.util.spec_from_file_location("pytorch_vae", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_eval_worker(n, k, threads, device):
    """Child process: importance-sampled -log p(x) of the first n test images on `device`;
    prints JSON."""
    import torch
    ref = load_reference()
    assert ref.IW_CHUNK == IW_CHUNK, "reference chunk size changed"
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    dev = torch.device(device)
    model = ref.VAE().eval()  # fresh weights: the cost of the estimate does not depend on them
    binarise = torch.Generator().manual_seed(ref.TEST_BINARISATION_SEED)
    x = torch.bernoulli(read_images(MNIST_TEST_IMAGES, n), generator=binarise)
    model, x = model.to(dev), x.to(dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.no_grad():
        nll = ref.importance_nll(model, x, k, torch.Generator(device=dev).manual_seed(ref.IW_SEED))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    print(json.dumps({"images": x.shape[0], "iw_samples": k, "nll": nll,
                      "estimate_seconds": seconds,
                      "estimate_images_per_second": x.shape[0] / seconds,
                      "threads": torch.get_num_threads(),
                      "torch_version": torch.__version__}), flush=True)


# ----------------------------------------------------------------------------- runners


def run_child(cmd, env, name):
    """Run cmd to completion; returns (stdout, peak RSS in MiB, wall-clock seconds from start
    to exit). Exits on failure."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO_ROOT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-20:])
        sys.exit(f"{name} failed with exit status {proc.returncode}\n"
                 f"  command: {' '.join(cmd)}\n  stderr (tail):\n{tail}")
    return stdout, usage.ru_maxrss / 1024.0, seconds


def run_ours(args, backend, env):
    with tempfile.TemporaryDirectory(prefix="vae_vs_pytorch_") as tmp:
        run_dir = pathlib.Path(tmp) / "run"
        cmd = [str(args.latent), "--backend", backend, "train", "vae", "--out", str(run_dir),
               "--epochs", str(args.epochs), "--limit", str(args.limit), "--test-limit",
               str(TEST_LIMIT),
               "--batch-size", str(args.batch_size), "--seed", str(SEED)] \
            + model_args(args) + shlex.split(args.latent_args)
        _, rss, _ = run_child(cmd, env, f"latent ({backend})")
        lines = (run_dir / "metrics.jsonl").read_text().strip().splitlines()
        if not lines:
            sys.exit(f"latent ({backend}): empty metrics.jsonl in {run_dir}")
        rate = float(json.loads(lines[-1])["samples_per_second"])
    return rate, rss, cmd


def model_args(args):
    """Our training flags for a model other than the default one (none for the default)."""
    if args.hidden == [H_DIM] and args.z_dim == Z_DIM:
        return []
    return ["--hidden", ",".join(map(str, args.hidden)), "--latent", str(args.z_dim)]


def run_torch(args, env, compile_step=False):
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--torch-worker",
           "--limit", str(args.limit), "--threads", str(args.threads),
           "--batch-size", str(args.batch_size), "--torch-device", args.torch_device,
           "--epochs", str(args.epochs), "--hidden", ",".join(map(str, args.hidden)),
           "--z-dim", str(args.z_dim)] + (["--torch-compile"] if compile_step else []) \
        + (["--torch-flush-denormal"] if args.torch_flush_denormal else [])
    stdout, rss, _ = run_child(cmd, env, "PyTorch worker")
    report = json.loads(stdout.strip().splitlines()[-1])
    return float(report["images_per_second"]), rss, cmd, report["torch_version"]


# ------------------------------------------------------------------ evaluation runners


def last_json(stdout, name):
    lines = stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        sys.exit(f"{name}: no JSON on the last line of its output:\n{stdout[-2000:]}")


def prepare_eval_run(args, run_dir, env):
    """Train the run that every evaluation loads (once; runs do not depend on the backend)."""
    backend = args.backends[0]
    cmd = [str(args.latent), "--backend", backend, "train", "vae", "--out", str(run_dir),
           "--epochs", "1", "--limit", str(EVAL_TRAIN_LIMIT), "--test-limit",
           str(EVAL_TEST_LIMIT), "--seed", str(SEED)]
    run_child(cmd, env, f"latent ({backend}) preparing the evaluation run")
    return cmd


def run_ours_eval(args, backend, run_dir, env):
    cmd = [str(args.latent), "--backend", backend, "eval", "--run", str(run_dir),
           "--iw-samples", str(args.iw_samples), "--limit", str(args.eval_images), "--json"]
    name = f"latent ({backend}) eval"
    stdout, rss, seconds = run_child(cmd, env, name)
    report = last_json(stdout, name)
    if (report.get("images"), report.get("iw_samples")) != (args.eval_images, args.iw_samples):
        sys.exit(f"{name}: evaluated {report.get('images')} images with k = "
                 f"{report.get('iw_samples')}, expected {args.eval_images} and {args.iw_samples}")
    return {"rate": args.eval_images / seconds, "rss": rss, "nll": float(report["nll"]),
            "cmd": cmd}


def run_torch_eval(args, env):
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--torch-eval-worker",
           "--eval-images", str(args.eval_images), "--iw-samples", str(args.iw_samples),
           "--threads", str(args.threads), "--torch-device", args.torch_device]
    stdout, rss, seconds = run_child(cmd, env, "PyTorch eval worker")
    report = last_json(stdout, "PyTorch eval worker")
    return {"rate": report["images"] / seconds, "rss": rss, "nll": float(report["nll"]),
            "cmd": cmd, "estimate_rate": float(report["estimate_images_per_second"]),
            "torch_version": report["torch_version"]}


def log_eval(rep, reps, side, r, log):
    print(f"rep {rep}/{reps}  eval {side:15} {r['rate']:10,.2f} images/s  "
          f"peak RSS {r['rss']:7.0f} MiB  -log p(x) {r['nll']:.2f}", file=log, flush=True)


def measure_eval(args, env, log):
    """--reps alternating rounds of importance-sampled evaluation; returns the "eval" figures."""
    runs = {b: [] for b in args.backends + ["pytorch"]}
    with tempfile.TemporaryDirectory(prefix="vae_vs_pytorch_eval_") as tmp:
        run_dir = pathlib.Path(tmp) / "evalrun"
        print(f"eval: preparing {run_dir} with latent {args.backends[0]} (one epoch over "
              f"{EVAL_TRAIN_LIMIT} images)", file=log, flush=True)
        setup = prepare_eval_run(args, run_dir, env)
        for rep in range(1, args.reps + 1):
            for backend in args.backends:
                runs[backend].append(run_ours_eval(args, backend, run_dir, env))
                log_eval(rep, args.reps, f"latent {backend}", runs[backend][-1], log)
            runs["pytorch"].append(run_torch_eval(args, env))
            log_eval(rep, args.reps, "PyTorch", runs["pytorch"][-1], log)
    return eval_result(args, runs, setup)


# ------------------------------------------------------------------------ hardware limit


def layer_products(hidden, z_dim):
    """The (inputs, outputs) of every matrix product of the model, in order: encoder, mean and
    log-variance heads, decoder."""
    enc = list(zip([X_DIM] + hidden, hidden))
    heads = [(hidden[-1], z_dim), (hidden[-1], z_dim)]
    dec = list(zip([z_dim] + hidden[::-1], hidden[::-1] + [X_DIM]))
    return enc + heads + dec


def flops_per_sample(hidden=(H_DIM,), z_dim=Z_DIM):
    """Matmul FLOPs of one training sample: forward + backward (no input gradient at layer 1)."""
    hidden = list(hidden)
    forward = 2 * sum(a * b for a, b in layer_products(hidden, z_dim))
    backward = 2 * forward - 2 * X_DIM * hidden[0]
    return forward, backward, forward + backward


def sgemm_gflops(size=1024, best_of=50):
    """Best-of-50 float32 matmul rate of numpy's BLAS (threads from the environment): enough
    products (about half a second) that a busy moment of the machine does not set the rate."""
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(best_of):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2.0 * size ** 3 / best / 1e9


# ------------------------------------------------------------------------------- report


def summarise(name, rates, rss, cmd, ref_median, limit_rate):
    median = statistics.median(rates)
    return {"side": name, "median": median, "min": min(rates), "max": max(rates),
            "runs": rates, "vs_pytorch": median / ref_median if ref_median else None,
            "fraction_of_limit": median / limit_rate, "peak_rss_mib": max(rss),
            "peak_rss_mib_runs": rss, "command": cmd}


def print_report(res):
    print(f"# VAE training throughput: latent vs PyTorch ({res['date']})")
    print(f"machine:  {res['cpu_count']} logical CPUs, {res['cpu']}, "
          f"processor {res['processor']!r}, "
          f"threads {res['threads']} (RAYON/OMP/OPENBLAS/MKL_NUM_THREADS, "
          f"torch.set_num_threads)")
    epochs = res["epochs"]
    timed = "1 epoch" if epochs == 1 else f"{epochs} epochs, the last timed,"
    print(f"workload: {timed} over {res['limit']} MNIST images, batch {res['batch_size']}, "
          f"{res['reps']} repetitions alternating; torch {res['torch_version']} on "
          f"{res['torch_device']}"
          + (" with torch.set_flush_denormal(True)" if res.get("torch_flush_denormal") else ""))
    f = res["flops"]
    products = " + ".join(f"{a}*{b}" for a, b in layer_products(res["hidden"], res["z_dim"]))
    print(f"model:    784-{'-'.join(map(str, res['hidden']))}-{res['z_dim']} (and back)")
    print(f"FLOPs/sample: forward 2*({products}) = "
          f"{f['forward']:,}; backward 2*forward - 2*784*{res['hidden'][0]} = "
          f"{f['backward']:,}; total {f['total']:,}")
    print(f"SGEMM:    {res['sgemm_gflops']:.1f} GFLOP/s ({res['sgemm_source']})")
    print(f"limit:    {res['limit_images_per_second']:,.0f} images/s "
          f"(SGEMM rate / FLOPs per sample; every product counted dense, while flex sums the "
          f"weights' rows where a binary input holds ones in the first layer)\n")
    header = ["side", "images/s (median)", "min..max", "x PyTorch", "% of limit",
              "peak RSS MiB (max)"]
    markdown_table(header, [
        [r["side"], f"{r['median']:,.0f}", f"{r['min']:,.0f}..{r['max']:,.0f}",
         ratio_text(r), f"{100 * r['fraction_of_limit']:.1f}%", f"{r['peak_rss_mib']:.0f}"]
        for r in res["sides"]])
    print("\nx PyTorch = median images/s / PyTorch's median (> 1: faster than PyTorch).")
    print("commands (the temporary directory differs per run):")
    for r in res["sides"]:
        print(f"  {r['side']}: RAYON_NUM_THREADS={res['threads']} {' '.join(r['command'])}")


def summarise_eval(name, runs, ref_median):
    rates, rss = [r["rate"] for r in runs], [r["rss"] for r in runs]
    nlls, median = [r["nll"] for r in runs], statistics.median(r["rate"] for r in runs)
    return {"side": name, "median": median, "min": min(rates), "max": max(rates),
            "runs": rates, "vs_pytorch": median / ref_median if ref_median else None,
            "peak_rss_mib": max(rss), "peak_rss_mib_runs": rss,
            "nll": statistics.median(nlls), "nll_runs": nlls, "command": runs[-1]["cmd"]}


def eval_result(args, runs, setup):
    ref = statistics.median(r["rate"] for r in runs["pytorch"])
    sides = [summarise_eval(f"latent ({b})", runs[b], ref) for b in args.backends]
    torch_side = summarise_eval("PyTorch", runs["pytorch"], ref)
    torch_side["estimate_only_runs"] = [r["estimate_rate"] for r in runs["pytorch"]]
    torch_side["torch_version"] = runs["pytorch"][-1]["torch_version"]
    return {
        "iw_samples": args.iw_samples, "images": args.eval_images, "chunk": IW_CHUNK,
        "reps": args.reps, "threads": args.threads,
        "timing": "images/s = images / wall-clock seconds of the whole child process (start to "
                  "exit, measured by the parent): includes start-up and loading, about 1 s",
        "setup_command": setup,
        "weights": f"latent: a run trained 1 epoch on {EVAL_TRAIN_LIMIT} images; PyTorch: "
                   "fresh initialisation (torch.manual_seed(0)); throughput does not depend "
                   "on the weights, so the nll values are not comparable",
        "sides": sides + [torch_side],
    }


def print_eval_report(ev):
    print(f"\n## IS evaluation (k = {ev['iw_samples']}, {ev['images']} images)")
    print(f"workload: importance-sampled -log p(x) of the first {ev['images']} test digits, "
          f"k = {ev['iw_samples']} samples per image in chunks of {ev['chunk']}, threads "
          f"{ev['threads']}, {ev['reps']} repetitions alternating")
    print("timing:   images/s = images / wall-clock seconds of each whole child process, "
          "measured by this script from start to exit: it includes process start-up and "
          "loading (the run; torch and MNIST), about a second, on both sides")
    print(f"weights:  {ev['weights']}\n")
    header = ["side", "images/s (median)", "min..max", "x PyTorch", "peak RSS MiB (max)",
              "-log p(x) nats"]
    markdown_table(header, [
        [r["side"], f"{r['median']:,.1f}", f"{r['min']:,.1f}..{r['max']:,.1f}",
         ratio_text(r), f"{r['peak_rss_mib']:.0f}", f"{r['nll']:.2f}"]
        for r in ev["sides"]])
    torch_side = ev["sides"][-1]
    print(f"\nPyTorch's estimate alone (timed inside the worker, start-up excluded): median "
          f"{statistics.median(torch_side['estimate_only_runs']):,.1f} images/s.")
    print("latent eval also computes the ELBO and active units in the same pass (100 images "
          "at a time); PyTorch runs importance_nll of scripts/reference/pytorch_vae.py (10 "
          "images at a time).")
    print(f"commands (one temporary run directory for all evaluations):\n  setup: "
          f"{' '.join(ev['setup_command'])}")
    for r in ev["sides"]:
        print(f"  {r['side']}: RAYON_NUM_THREADS={ev['threads']} {' '.join(r['command'])}")


def main():
    args = parse_args()
    thread_env = {name: str(args.threads) for name in THREAD_VARS}
    os.environ.update(thread_env)  # before numpy is imported, for the SGEMM measurement
    if args.torch_worker:
        return torch_worker(args.limit, args.threads, args.batch_size, args.torch_device,
                            args.epochs, args.hidden, args.z_dim, args.torch_compile,
                            args.torch_flush_denormal)
    if args.torch_eval_worker:
        return torch_eval_worker(args.eval_images, args.iw_samples, args.threads,
                                 args.torch_device)

    if not (args.latent.is_file() and os.access(args.latent, os.X_OK)):
        sys.exit(f"latent binary not found (or not executable): {args.latent}\n"
                 f"  build it with `cargo build --release -p latent` or pass --latent PATH")
    for module in ("torch", "numpy"):
        if importlib.util.find_spec(module) is None:
            sys.exit(f"{module} is not installed: {INSTALL_TORCH}")
    for path in [MNIST_TRAIN_IMAGES] + ([] if args.no_eval else [MNIST_TEST_IMAGES]):
        if not path.is_file():
            sys.exit(f"MNIST not found: {path}")

    log = sys.stderr if args.json else sys.stdout
    env = dict(os.environ, **thread_env)
    torch_sides = ["pytorch"] + (["compiled"] if args.torch_compile else [])
    rates = {b: [] for b in args.backends + torch_sides}
    rss = {b: [] for b in rates}
    cmds = {}
    torch_version = None
    for rep in range(1, args.reps + 1):
        for backend in args.backends:
            rate, mib, cmds[backend] = run_ours(args, backend, env)
            rates[backend].append(rate)
            rss[backend].append(mib)
            print(f"rep {rep}/{args.reps}  latent {backend:8} {rate:10,.0f} images/s  "
                  f"peak RSS {mib:7.0f} MiB", file=log, flush=True)
        for side in torch_sides:
            rate, mib, cmds[side], torch_version = run_torch(args, env, side == "compiled")
            rates[side].append(rate)
            rss[side].append(mib)
            name = "PyTorch" if side == "pytorch" else "PyTorch comp."
            print(f"rep {rep}/{args.reps}  {name:14} {rate:10,.0f} images/s  "
                  f"peak RSS {mib:7.0f} MiB", file=log, flush=True)

    forward, backward, total = flops_per_sample(args.hidden, args.z_dim)
    if args.torch_device == "cuda":
        gflops = torch_sgemm_gflops("cuda")
        sgemm_source = "torch float32 4096x4096 matmul on cuda, TF32 off, best of 5"
    else:
        gflops = sgemm_gflops()
        sgemm_source = ("numpy float32 1024x1024 matmul, best of 50; numpy's BLAS serves as "
                        "this machine's achievable SGEMM rate")
    limit_rate = gflops * 1e9 / total
    ref = statistics.median(rates["pytorch"])
    sides = [summarise(f"latent ({b})", rates[b], rss[b], cmds[b], ref, limit_rate)
             for b in args.backends]
    sides.append(summarise("PyTorch", rates["pytorch"], rss["pytorch"], cmds["pytorch"], ref,
                           limit_rate))
    if args.torch_compile:
        sides.append(summarise("PyTorch (torch.compile)", rates["compiled"], rss["compiled"],
                               cmds["compiled"], ref, limit_rate))
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "processor": platform.processor() or "?", "cpu_count": os.cpu_count(),
        "cpu": cpu_text(),
        "threads": args.threads, "limit": args.limit, "reps": args.reps,
        "test_limit": TEST_LIMIT, "latent": str(args.latent), "torch_version": torch_version,
        "flops": {"forward": forward, "backward": backward, "total": total},
        "sgemm_gflops": gflops, "sgemm_source": sgemm_source, "batch_size": args.batch_size,
        "torch_device": args.torch_device, "epochs": args.epochs,
        "torch_flush_denormal": args.torch_flush_denormal,
        "hidden": args.hidden, "z_dim": args.z_dim,
        "limit_images_per_second": limit_rate, "sides": sides,
    }
    if not args.no_eval:
        result["eval"] = measure_eval(args, env, log)
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
        if "eval" in result:
            print_eval_report(result["eval"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
