#!/usr/bin/env python3
"""Benchmark: the project's Gaussian-mixture EM (`latent gmm fit`) against scikit-learn.

This is a benchmark, not a test: it asserts nothing about speed or accuracy. For each case it
generates (or loads) one data set, saves it once as a 2-D C-order float32 .npy file in a temporary
directory, and then alternates a scikit-learn run and a `latent` run `--repeats` times on the same
data and the same machine (use an otherwise idle machine: with BLAS/OpenMP threads competing
for cores, sklearn timings can be several times slower). Both sides are given the same budget,
at most 20 EM iterations after a k-means initialisation with one restart, with tol=1e-12 so that
neither should stop early (but see the caveat below):

    sklearn: GaussianMixture(n_components=K, covariance_type=COV, max_iter=20, tol=1e-12,
                             n_init=1, init_params="kmeans", reg_covar=1e-6, random_state=0)
    latent:  latent gmm fit --data FILE.npy --components K --covariance COV --init kmeans
                 --restarts 1 --max-iter 20 --tol 1e-12 --reg-covar 1e-6 --seed 0
                 --out MODEL.json --json

What is timed:
  * sklearn: wall time of `.fit(X)` only, with X already in memory (float64 by default, see
    --sklearn-dtype); the share spent in its k-means initialisation is measured as well, by
    timing `_initialize_parameters` during the same fit.
  * latent: wall time of the whole subprocess (process start, data loading, fit, saving the
    model, scoring) and the `fit_seconds` it reports (EM including initialisation, excluding
    data loading).
The medians over the repeats are reported, with the ratios latent/sklearn computed from
`fit_seconds` (EM vs EM) and from the subprocess wall time. Both final mean log-likelihoods
(sklearn's `score(X)` under the fitted parameters, latent's `avg_log_likelihood`) and iteration
counts are printed, so the reader can see the two did the same job; they are not expected to be
bit-identical (different k-means, float32 vs float64 arithmetic).

Caveat on the iteration budget: both sides stop when the change of the mean log-likelihood
falls below tol, and tol must be > 0 for latent (sklearn accepts 0). On the well separated blob
cases EM reaches its fixed point almost at once, so sklearn stops after ~2 iterations even at
tol=1e-12; the n_iter columns show this and a warning is printed whenever the two sides ran a
different number of iterations (the time ratio is then not like for like). `--sklearn-tol 0`
forces sklearn to run all 20 iterations, for comparison with a latent run that did.

Cases:
  mnist-diag-k10    MNIST training pixels in [0, 1], (60000, 784), diag, K=10  (--quick: 5000)
  blobs2d-full-k5   100000 seeded points from 5 well separated 2-D Gaussians, full, K=5
                    (--quick: 10000)
  blobs10d-full-k5  100000 seeded points from 5 well separated 10-D Gaussians, full, K=5
                    (--quick: 10000)
  blobs64d-diag-k64 1000000 seeded points from 64 well separated 64-D Gaussians, diag, K=64
                    (--quick: 20000)
  blobs32d-full-k16 100000 seeded points from 16 well separated 32-D Gaussians, full, K=16
                    (--quick: 10000)
The last two are the sizes of pycave's published GPU figures (1M x 64 diag K=64, 100k x 32
full K=16; 100 EM iterations: --max-iter 100 --sklearn-tol 0).

GPU: --backend wgpu or cuda, with a latent built with that feature (scripts/bench/gpu_check.sh).

Memory: latent's peak resident memory (the whole process: data, model, work; its VmHWM), and
scikit-learn's peak numpy allocation during `.fit(X)` (tracemalloc; X itself, allocated
before, not counted).

Run from anywhere (the repository root is the parent of scripts/):

    cargo build -p latent            # or: cargo build --release -p latent, then pass --latent
    python3 scripts/bench/gmm_vs_sklearn.py
    python3 scripts/bench/gmm_vs_sklearn.py --quick --repeats 1          # smoke run
    python3 scripts/bench/gmm_vs_sklearn.py --latent target/release/latent --threads 4
    python3 scripts/bench/gmm_vs_sklearn.py --case blobs2d-full-k5

Requires numpy and scikit-learn (scripts/reference/requirements.txt); threadpoolctl (a
scikit-learn dependency) is used to cap BLAS/OpenMP threads if it is importable. If the latent
binary does not exist, only the sklearn side is run and the script exits with status 2.
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

from common import REPO_ROOT, cpu_text, latent_binary  # noqa: E402 (this folder)
MNIST_TRAIN_IMAGES = REPO_ROOT / "datasets/mnist/train-images-idx3-ubyte.gz"

MAX_ITER = 20
REG_COVAR = 1e-6
SEED = 0

# (name, covariance, K, n, n with --quick); d comes from the data.
CASES = [
    ("mnist-diag-k10", "diag", 10, 60000, 5000),
    ("blobs2d-full-k5", "full", 5, 100000, 10000),
    ("blobs10d-full-k5", "full", 5, 100000, 10000),
    ("blobs64d-diag-k64", "diag", 64, 1000000, 20000),
    ("blobs32d-full-k16", "full", 16, 100000, 10000),
]


def parse_args():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--backend", default="flex", choices=["ndarray", "flex", "wgpu", "cuda"],
                   help="latent's compute backend (default flex, as the latent binary)")
    p.add_argument("--latent", type=pathlib.Path, default=None,
                   help="the project binary [default: $CARGO_TARGET_DIR/debug/latent if "
                        "CARGO_TARGET_DIR is set, else <repo>/target/debug/latent]")
    p.add_argument("--repeats", type=int, default=3, metavar="R",
                   help="runs of each side per case, alternating (median reported) [3]")
    p.add_argument("--quick", action="store_true",
                   help="smaller data (5000 MNIST images, 10000 blob points) for a smoke run")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="threads for both sides [default: all cores, os.cpu_count()]")
    p.add_argument("--case", action="append", choices=[c[0] for c in CASES], default=None,
                   help="run only this case (may be repeated) [all]")
    p.add_argument("--sklearn-dtype", choices=["float64", "float32"], default="float64",
                   help="dtype X is given to sklearn in (sklearn keeps float32 if given it) "
                        "[float64]")
    p.add_argument("--tol", type=float, default=1e-12,
                   help="EM tolerance for both sides [1e-12]")
    p.add_argument("--sklearn-tol", type=float, default=None,
                   help="override the tolerance on the sklearn side only (0 = always run "
                        "max_iter iterations) [--tol]")
    p.add_argument("--max-iter", type=int, default=MAX_ITER, metavar="N",
                   help=f"EM iterations at most, both sides [{MAX_ITER}]")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="give up on one latent run after this long [no limit]")
    args = p.parse_args()
    if args.repeats < 1 or args.max_iter < 1:
        p.error("--repeats and --max-iter must be at least 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    if args.threads is None:
        args.threads = os.cpu_count() or 1
    if args.sklearn_tol is None:
        args.sklearn_tol = args.tol
    if args.latent is None:
        args.latent = latent_binary("debug")
    return args


ARGS = parse_args()
# Set before numpy is imported, so OpenBLAS / OpenMP pick them up at load time; passed on to the
# latent subprocess as well (burn-ndarray parallelises with rayon).
THREAD_ENV = {name: str(ARGS.threads) for name in
              ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")}
os.environ.update(THREAD_ENV)

import gzip  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

try:
    from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402
except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
    threadpool_info = threadpool_limits = None

warnings.filterwarnings("ignore", category=ConvergenceWarning)


# ----------------------------------------------------------------------------------- data


def load_mnist_train(n):
    """First n MNIST training images as float32 pixels in [0, 1], shape (n, 784)."""
    with gzip.open(MNIST_TRAIN_IMAGES, "rb") as f:
        raw = f.read()
    magic, count, rows, cols = np.frombuffer(raw, dtype=">u4", count=4)
    if magic != 2051:
        raise SystemExit(f"{MNIST_TRAIN_IMAGES}: bad IDX magic {magic} (expected 2051)")
    if n > count:
        raise SystemExit(f"{MNIST_TRAIN_IMAGES}: has {count} images, {n} asked for")
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16, count=n * rows * cols)
    return (pixels.reshape(n, rows * cols).astype(np.float32) / np.float32(255.0))


def blobs(n, d, k, seed):
    """n points from k well separated Gaussians in d dimensions, shuffled, float32.

    Means are drawn uniformly from [-s, s]^d, s = 20 * max(1, k**(1/d)), and kept only if at
    least 10 from every earlier one; covariances are random rotations of diagonals with
    variances in [0.1, 1] (standard deviations at most 1), so components barely overlap."""
    rng = np.random.default_rng(seed)
    means = []
    scale = 20.0 * max(1.0, k ** (1.0 / d))
    while len(means) < k:
        m = rng.uniform(-scale, scale, size=d)
        if all(np.linalg.norm(m - o) >= 10.0 for o in means):
            means.append(m)
    counts = np.full(k, n // k)
    counts[: n - counts.sum()] += 1
    parts = []
    for j in range(k):
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        cov = (q * rng.uniform(0.1, 1.0, size=d)) @ q.T
        parts.append(rng.multivariate_normal(means[j], cov, size=counts[j]))
    x = np.concatenate(parts)
    return np.ascontiguousarray(x[rng.permutation(n)], dtype=np.float32)


def make_data(name, n):
    if name == "mnist-diag-k10":
        return load_mnist_train(n)
    if name == "blobs2d-full-k5":
        return blobs(n, 2, 5, seed=20261210)
    if name == "blobs10d-full-k5":
        return blobs(n, 10, 5, seed=20261211)
    if name == "blobs64d-diag-k64":
        return blobs(n, 64, 64, seed=20261212)
    if name == "blobs32d-full-k16":
        return blobs(n, 32, 16, seed=20261213)
    raise ValueError(name)


# -------------------------------------------------------------------------------- runners


def run_sklearn(x, k, cov):
    """One fit. Returns dict(seconds, init_seconds, avg_ll, lower_bound, n_iter, converged)."""
    gm = GaussianMixture(n_components=k, covariance_type=cov, max_iter=ARGS.max_iter,
                         tol=ARGS.sklearn_tol,
                         n_init=1, init_params="kmeans", reg_covar=REG_COVAR,
                         random_state=SEED)
    init_seconds = []
    original = getattr(gm, "_initialize_parameters", None)
    if original is not None:
        def timed_init(*a, **kw):
            t = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                init_seconds.append(time.perf_counter() - t)
        gm._initialize_parameters = timed_init  # instance attribute shadows the method
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        tracemalloc.start()
        t = time.perf_counter()
        gm.fit(x)
        seconds = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "seconds": seconds,
        "peak_mib": peak / 2**20,
        "init_seconds": sum(init_seconds) if init_seconds else None,
        "avg_ll": float(gm.score(x)),
        "lower_bound": float(gm.lower_bound_),
        "n_iter": int(gm.n_iter_),
        "converged": bool(gm.converged_),
    }


def run_latent(binary, data_path, model_path, k, cov, timeout):
    """One subprocess. Returns dict(wall, fit_seconds, avg_ll, n_iter, converged) or raises."""
    cmd = [str(binary), "--backend", ARGS.backend, "gmm", "fit", "--data", str(data_path),
           "--components", str(k),
           "--covariance", cov, "--init", "kmeans", "--restarts", "1",
           "--max-iter", str(ARGS.max_iter), "--tol", repr(ARGS.tol), "--reg-covar", repr(REG_COVAR),
           "--seed", str(SEED), "--out", str(model_path), "--json"]
    env = dict(os.environ, **THREAD_ENV)
    # The child's peak RSS is its VmHWM, polled while it runs (ru_maxrss would count this
    # Python process's own memory, which a forked child inherits until it execs).
    peak_kib = 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        while True:
            try:
                with open(f"/proc/{child.pid}/status") as status_file:
                    for line in status_file:
                        if line.startswith("VmHWM:"):
                            peak_kib = max(peak_kib, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            pid, status, _ = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - t > timeout:
                child.kill()
                os.wait4(child.pid, 0)
                raise subprocess.TimeoutExpired(cmd, timeout)
            time.sleep(0.005)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        proc = subprocess.CompletedProcess(cmd, code, out.read(), err.read())
    if proc.returncode != 0:
        raise RuntimeError(f"exit status {proc.returncode}\n  command: {' '.join(cmd)}\n"
                           f"  stderr: {proc.stderr.strip()[-2000:]}")
    report = parse_json_object(proc.stdout)
    if report is None:
        raise RuntimeError(f"no JSON object on stdout\n  command: {' '.join(cmd)}\n"
                           f"  stdout: {proc.stdout.strip()[-2000:]}")
    missing = [key for key in ("avg_log_likelihood", "n_iter", "fit_seconds", "converged")
               if key not in report]
    if missing:
        raise RuntimeError(f"JSON report lacks {missing}: {report}")
    return {
        "wall": wall,
        "rss_mib": peak_kib / 1024 if peak_kib else None,
        "fit_seconds": float(report["fit_seconds"]),
        "avg_ll": float(report["avg_log_likelihood"]),
        "lower_bound": report.get("lower_bound"),
        "n_iter": int(report["n_iter"]),
        "converged": bool(report["converged"]),
    }


def parse_json_object(stdout):
    """The JSON object on stdout: the whole of it, else the last line that parses as one."""
    text = stdout.strip()
    candidates = [text] + [line.strip() for line in reversed(text.splitlines())]
    for candidate in candidates:
        if candidate.startswith("{"):
            try:
                value = json.loads(candidate)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


# --------------------------------------------------------------------------------- report


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def describe_machine(binary, have_latent, sklearn_dtype):
    print("# GMM EM: latent vs scikit-learn")
    print(f"machine:  {os.cpu_count()} logical CPUs, {cpu_text()}, "
          f"{platform.machine()}, {platform.system()} {platform.release()}")
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        note = " -- machine is busy, timings will be noisy" if load > 0.5 else ""
        print(f"load:     {load:.2f} (1-min average before the runs){note}")
    print(f"python:   {platform.python_version()}; numpy {np.__version__}; "
          f"scikit-learn {sklearn.__version__}")
    limits = "threadpoolctl threadpool_limits" if threadpool_limits else "env vars only " \
             "(threadpoolctl not importable)"
    print(f"threads:  {ARGS.threads} (OMP/OPENBLAS/MKL/RAYON_NUM_THREADS; sklearn side capped "
          f"via {limits})")
    if threadpool_info is not None:
        with threadpool_limits(limits=ARGS.threads):
            pools = ", ".join(f"{p.get('internal_api')}={p.get('num_threads')}"
                              for p in threadpool_info()) or "none loaded"
        print(f"pools:    {pools}")
    state = "found" if have_latent else "NOT FOUND"
    print(f"latent:   {binary} ({state}), backend {ARGS.backend}")
    print(f"settings: max_iter={ARGS.max_iter}, tol={ARGS.tol:g} (sklearn {ARGS.sklearn_tol:g}), "
          f"reg_covar={REG_COVAR:g}, init=kmeans, "
          f"n_init/restarts=1, seed/random_state={SEED}; sklearn X dtype {sklearn_dtype}; "
          f"repeats={ARGS.repeats}{', quick' if ARGS.quick else ''}")
    print()


def main():
    binary = ARGS.latent.expanduser()
    if not binary.is_absolute():
        binary = pathlib.Path.cwd() / binary
    have_latent = binary.is_file() and os.access(binary, os.X_OK)
    describe_machine(binary, have_latent, ARGS.sklearn_dtype)
    if not have_latent:
        print(f"latent binary not found (or not executable): {binary}\n"
              f"  build it with `cargo build -p latent` or pass --latent PATH; "
              f"running the sklearn side only.\n")

    selected = [c for c in CASES if ARGS.case is None or c[0] in ARGS.case]
    rows = []
    failures = []
    with tempfile.TemporaryDirectory(prefix="gmm_vs_sklearn_") as tmp:
        tmp = pathlib.Path(tmp)
        for name, cov, k, n_full, n_quick in selected:
            n = n_quick if ARGS.quick else n_full
            t = time.perf_counter()
            x32 = np.ascontiguousarray(make_data(name, n), dtype=np.float32)
            data_path = tmp / f"{name}.npy"
            np.save(data_path, x32)
            # sklearn fits exactly the stored float32 numbers (widened unless asked not to).
            x = np.load(data_path).astype(ARGS.sklearn_dtype)
            n, d = x.shape
            print(f"## {name}: n={n} d={d} K={k} cov={cov} "
                  f"(data ready in {time.perf_counter() - t:.2f} s, {data_path.name})")

            sk_runs, lt_runs = [], []
            for r in range(ARGS.repeats):
                if threadpool_limits is not None:
                    with threadpool_limits(limits=ARGS.threads):
                        sk = run_sklearn(x, k, cov)
                else:
                    sk = run_sklearn(x, k, cov)
                sk_runs.append(sk)
                line = (f"  run {r + 1}/{ARGS.repeats}  sklearn {sk['seconds']:8.3f} s "
                        f"(init {fmt(sk['init_seconds'], '.3f')} s, n_iter {sk['n_iter']}, "
                        f"LL {sk['avg_ll']:.6g})")
                if have_latent:
                    try:
                        lt = run_latent(binary, data_path, tmp / f"{name}.model.json", k, cov,
                                        ARGS.timeout)
                    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
                        print(line)
                        print(f"  latent FAILED: {e}")
                        failures.append(name)
                        break
                    lt_runs.append(lt)
                    line += (f" | latent fit {lt['fit_seconds']:8.3f} s, wall {lt['wall']:8.3f} s "
                             f"(n_iter {lt['n_iter']}, LL {lt['avg_ll']:.6g})")
                print(line, flush=True)

            sk_s = median_or_none([s["seconds"] for s in sk_runs])
            sk_init = median_or_none([s["init_seconds"] for s in sk_runs])
            lt_fit = median_or_none([s["fit_seconds"] for s in lt_runs])
            lt_wall = median_or_none([s["wall"] for s in lt_runs])
            last_sk = sk_runs[-1]
            last_lt = lt_runs[-1] if lt_runs else None
            row = {
                "case": name, "n": n, "d": d, "k": k, "cov": cov,
                "sk_s": sk_s, "sk_init": sk_init, "lt_fit": lt_fit, "lt_wall": lt_wall,
                "ratio_fit": ratio(lt_fit, sk_s), "ratio_wall": ratio(lt_wall, sk_s),
                "sk_ll": last_sk["avg_ll"], "lt_ll": last_lt["avg_ll"] if last_lt else None,
                "sk_iter": last_sk["n_iter"], "lt_iter": last_lt["n_iter"] if last_lt else None,
                "sk_peak": median_or_none([s["peak_mib"] for s in sk_runs]),
                "lt_rss": median_or_none([s["rss_mib"] for s in lt_runs]),
            }
            rows.append(row)
            summary = (f"  median: sklearn {sk_s:.3f} s (k-means init {fmt(sk_init, '.3f')} s)")
            if lt_runs:
                summary += (f"; latent fit {lt_fit:.3f} s, wall {lt_wall:.3f} s; "
                            f"ratio latent/sklearn {row['ratio_fit']:.2f}x (fit), "
                            f"{row['ratio_wall']:.2f}x (wall)")
            print(summary, flush=True)
            iters = ({s["n_iter"] for s in sk_runs}, {s["n_iter"] for s in lt_runs})
            if lt_runs and iters[0] != iters[1]:
                print(f"  WARNING: different iteration counts (sklearn {sorted(iters[0])}, "
                      f"latent {sorted(iters[1])}): the ratio is not like for like")
            print(flush=True)

    print_table(rows)
    if not have_latent:
        print(f"\nlatent binary not found: {binary} -- only the sklearn side was run.")
        return 2
    if failures:
        print(f"\nlatent failed on: {', '.join(failures)}")
        return 1
    return 0


def print_table(rows):
    header = ["case", "n", "d", "K", "cov", "sklearn s (median)", "sklearn init s",
              "latent fit s (median)", "latent wall s (median)", "ratio latent/sklearn (fit)",
              "ratio latent/sklearn (wall)", "sklearn avg LL", "latent avg LL",
              "n_iter sklearn", "n_iter latent", "sklearn peak alloc MiB",
              "latent peak RSS MiB"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i in (0, 4) else "---:" for i in range(len(header))) + "|")
    for r in rows:
        cells = [r["case"], str(r["n"]), str(r["d"]), str(r["k"]), r["cov"],
                 fmt(r["sk_s"], ".3f"), fmt(r["sk_init"], ".3f"), fmt(r["lt_fit"], ".3f"),
                 fmt(r["lt_wall"], ".3f"), fmt(r["ratio_fit"], ".2f"),
                 fmt(r["ratio_wall"], ".2f"), fmt(r["sk_ll"], ".6g"), fmt(r["lt_ll"], ".6g"),
                 fmt(r["sk_iter"], "d"), fmt(r["lt_iter"], "d"), fmt(r["sk_peak"], ".0f"),
                 fmt(r["lt_rss"], ".0f")]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
