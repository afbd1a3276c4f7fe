#!/usr/bin/env python3
"""Benchmark: training throughput of the default VAE, `latent train vae` against PyTorch.

This is a benchmark, not a test: it asserts nothing. It measures training images per second
of the project's default VAE (784-400-(20 mean, 20 log-variance)-400-784, ReLU, Bernoulli
logits, batch 128, Adam lr 1e-3, dynamic binarisation) on the first N MNIST training images,
one epoch, against the same model and loop in PyTorch, and sets both against the machine's
hardware limit.

Each run is a separate child process, ours and PyTorch alternating, --reps times:

    ours:    RAYON_NUM_THREADS=T latent --backend B train vae --out TMP/run --epochs 1
                 --limit N --test-limit 1000 --seed 0
             images/s = `samples_per_second` of the last line of TMP/run/metrics.jsonl
             (training loop only; a fresh temporary directory for every run)
    PyTorch: this script re-invoked with the hidden --torch-worker flag: the model and loop of
             scripts/reference/pytorch_vae.py (which has no option to limit the training set),
             torch.set_num_threads(T), torch.manual_seed(0), one epoch over the first N images,
             timing only the training loop (data loading excluded) and printing images/s as JSON.

Every child's peak resident memory comes from os.wait4 (ru_maxrss). The hardware limit is the
matmul FLOPs per training sample (forward + backward, computed from the layer sizes) against
the machine's single-precision matrix-multiply rate, measured as numpy float32 1024x1024
matmul (warm-up, best of 5) with the same thread count: numpy's BLAS serves as the achievable
SGEMM rate of this machine.

Run from anywhere (the repository root is the parent of scripts/), on an otherwise idle machine:

    cargo build --release -p latent
    python3 -m pip install -r scripts/reference/requirements.txt      # torch, numpy
    python3 scripts/bench/vae_vs_pytorch.py
    python3 scripts/bench/vae_vs_pytorch.py --reps 1 --limit 5000 --backends ndarray --threads 2
    python3 scripts/bench/vae_vs_pytorch.py --json > vae_bench.json

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
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
MNIST_TRAIN_IMAGES = REPO_ROOT / "datasets/mnist/train-images-idx3-ubyte.gz"
X_DIM, H_DIM, Z_DIM, BATCH, LR, SEED, TEST_LIMIT = 784, 400, 20, 128, 1e-3, 0, 1000
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
INSTALL_TORCH = "python3 -m pip install -r scripts/reference/requirements.txt"


def default_latent():
    target = os.environ.get("CARGO_TARGET_DIR")
    base = pathlib.Path(target) if target else REPO_ROOT / "target"
    if not base.is_absolute():
        base = REPO_ROOT / base
    return base / "release" / "latent"


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
    p.add_argument("--json", action="store_true",
                   help="print one JSON object with all figures instead of the table")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if args.threads is None:
        args.threads = os.cpu_count() or 1
    if args.reps < 1 or args.limit < 1 or args.threads < 1 or not args.backends:
        p.error("--reps, --limit and --threads must be at least 1, --backends non-empty")
    args.latent = (args.latent or default_latent()).expanduser().resolve()
    return args


# ----------------------------------------------------------------------- PyTorch worker


def torch_worker(n, threads):
    """Child process: one epoch of the reference VAE over the first n images; prints JSON."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    with gzip.open(MNIST_TRAIN_IMAGES, "rb") as f:
        raw = f.read()
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16)[: n * X_DIM]
    x_train = torch.from_numpy(pixels.reshape(-1, X_DIM).astype(np.float32) / 255.0)
    n = x_train.shape[0]

    enc, enc_mean, enc_log_var = nn.Linear(X_DIM, H_DIM), nn.Linear(H_DIM, Z_DIM), \
        nn.Linear(H_DIM, Z_DIM)
    dec_hidden, dec_out = nn.Linear(Z_DIM, H_DIM), nn.Linear(H_DIM, X_DIM)
    model = nn.ModuleList([enc, enc_mean, enc_log_var, dec_hidden, dec_out])
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.999))

    t0 = time.perf_counter()
    perm = torch.randperm(n)
    loss_sum = 0.0
    for start in range(0, n, BATCH):
        x = torch.bernoulli(x_train[perm[start:start + BATCH]])
        h = F.relu(enc(x))
        mean, log_var = enc_mean(h), enc_log_var(h)
        z = mean + (0.5 * log_var).exp() * torch.randn_like(mean)
        logits = dec_out(F.relu(dec_hidden(z)))
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = 0.5 * (log_var.exp() + mean.pow(2) - 1.0 - log_var).sum(-1)
        loss = (recon + kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.item() * x.shape[0]
    seconds = time.perf_counter() - t0
    print(json.dumps({"images": n, "seconds": seconds, "images_per_second": n / seconds,
                      "train_loss": loss_sum / n, "threads": torch.get_num_threads(),
                      "torch_version": torch.__version__}), flush=True)


# ----------------------------------------------------------------------------- runners


def run_child(cmd, env, name):
    """Run cmd to completion; returns (stdout, peak RSS in MiB). Exits on failure."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO_ROOT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-20:])
        sys.exit(f"{name} failed with exit status {proc.returncode}\n"
                 f"  command: {' '.join(cmd)}\n  stderr (tail):\n{tail}")
    return stdout, usage.ru_maxrss / 1024.0


def run_ours(args, backend, env):
    with tempfile.TemporaryDirectory(prefix="vae_vs_pytorch_") as tmp:
        run_dir = pathlib.Path(tmp) / "run"
        cmd = [str(args.latent), "--backend", backend, "train", "vae", "--out", str(run_dir),
               "--epochs", "1", "--limit", str(args.limit), "--test-limit", str(TEST_LIMIT),
               "--seed", str(SEED)]
        _, rss = run_child(cmd, env, f"latent ({backend})")
        lines = (run_dir / "metrics.jsonl").read_text().strip().splitlines()
        if not lines:
            sys.exit(f"latent ({backend}): empty metrics.jsonl in {run_dir}")
        rate = float(json.loads(lines[-1])["samples_per_second"])
    return rate, rss, cmd


def run_torch(args, env):
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--torch-worker",
           "--limit", str(args.limit), "--threads", str(args.threads)]
    stdout, rss = run_child(cmd, env, "PyTorch worker")
    report = json.loads(stdout.strip().splitlines()[-1])
    return float(report["images_per_second"]), rss, cmd, report["torch_version"]


# ------------------------------------------------------------------------ hardware limit


def flops_per_sample():
    """Matmul FLOPs of one training sample: forward + backward (no input gradient at layer 1)."""
    forward = 2 * (X_DIM * H_DIM + H_DIM * Z_DIM + H_DIM * Z_DIM + Z_DIM * H_DIM + H_DIM * X_DIM)
    backward = 2 * forward - 2 * X_DIM * H_DIM
    return forward, backward, forward + backward


def sgemm_gflops(size=1024, best_of=5):
    """Best-of-5 float32 matmul rate of numpy's BLAS (threads from the environment)."""
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
    print(f"machine:  {res['cpu_count']} logical CPUs, processor {res['processor']!r}, "
          f"threads {res['threads']} (RAYON/OMP/OPENBLAS/MKL_NUM_THREADS, "
          f"torch.set_num_threads)")
    print(f"workload: 1 epoch over {res['limit']} MNIST images, batch {BATCH}, "
          f"{res['reps']} repetitions alternating; torch {res['torch_version']}")
    f = res["flops"]
    print(f"FLOPs/sample: forward 2*(784*400 + 400*20 + 400*20 + 20*400 + 400*784) = "
          f"{f['forward']:,}; backward 2*forward - 2*784*400 = {f['backward']:,}; "
          f"total {f['total']:,}")
    print(f"SGEMM:    {res['sgemm_gflops']:.1f} GFLOP/s (numpy float32 1024x1024 matmul, best "
          f"of 5; numpy's BLAS serves as this machine's achievable SGEMM rate)")
    print(f"limit:    {res['limit_images_per_second']:,.0f} images/s "
          f"(SGEMM rate / FLOPs per sample)\n")
    header = ["side", "images/s (median)", "min..max", "x PyTorch", "% of limit",
              "peak RSS MiB (max)"]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for r in res["sides"]:
        ratio = "-" if r["vs_pytorch"] is None else f"{r['vs_pytorch']:.2f}"
        print(f"| {r['side']} | {r['median']:,.0f} | {r['min']:,.0f}..{r['max']:,.0f} | "
              f"{ratio} | {100 * r['fraction_of_limit']:.1f}% | {r['peak_rss_mib']:.0f} |")
    print("\nx PyTorch = median images/s / PyTorch's median (> 1: faster than PyTorch).")
    print("commands (the temporary directory differs per run):")
    for r in res["sides"]:
        print(f"  {r['side']}: RAYON_NUM_THREADS={res['threads']} {' '.join(r['command'])}")


def main():
    args = parse_args()
    thread_env = {name: str(args.threads) for name in THREAD_VARS}
    os.environ.update(thread_env)  # before numpy is imported, for the SGEMM measurement
    if args.torch_worker:
        return torch_worker(args.limit, args.threads)

    if not (args.latent.is_file() and os.access(args.latent, os.X_OK)):
        sys.exit(f"latent binary not found (or not executable): {args.latent}\n"
                 f"  build it with `cargo build --release -p latent` or pass --latent PATH")
    for module in ("torch", "numpy"):
        if importlib.util.find_spec(module) is None:
            sys.exit(f"{module} is not installed: {INSTALL_TORCH}")
    if not MNIST_TRAIN_IMAGES.is_file():
        sys.exit(f"MNIST not found: {MNIST_TRAIN_IMAGES}")

    log = sys.stderr if args.json else sys.stdout
    env = dict(os.environ, **thread_env)
    rates = {b: [] for b in args.backends + ["pytorch"]}
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
        rate, mib, cmds["pytorch"], torch_version = run_torch(args, env)
        rates["pytorch"].append(rate)
        rss["pytorch"].append(mib)
        print(f"rep {rep}/{args.reps}  PyTorch        {rate:10,.0f} images/s  "
              f"peak RSS {mib:7.0f} MiB", file=log, flush=True)

    forward, backward, total = flops_per_sample()
    gflops = sgemm_gflops()
    limit_rate = gflops * 1e9 / total
    ref = statistics.median(rates["pytorch"])
    sides = [summarise(f"latent ({b})", rates[b], rss[b], cmds[b], ref, limit_rate)
             for b in args.backends]
    sides.append(summarise("PyTorch", rates["pytorch"], rss["pytorch"], cmds["pytorch"], ref,
                           limit_rate))
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "processor": platform.processor() or "?", "cpu_count": os.cpu_count(),
        "threads": args.threads, "limit": args.limit, "reps": args.reps,
        "test_limit": TEST_LIMIT, "latent": str(args.latent), "torch_version": torch_version,
        "flops": {"forward": forward, "backward": backward, "total": total},
        "sgemm_gflops": gflops, "sgemm_source": "numpy float32 1024x1024 matmul, best of 5",
        "limit_images_per_second": limit_rate, "sides": sides,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
