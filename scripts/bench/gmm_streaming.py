#!/usr/bin/env python3
"""Benchmark: a Gaussian mixture over data larger than memory — `latent gmm fit --stream`
against the same fit in memory.

This is a benchmark, not a test: it prints figures and asserts nothing.

Data (made once, reused): N = --points (10,000,000) × D = 16 float32 points, 640 MB, from K = 8
Gaussian components (numpy.random.default_rng(0): means ~ N(0, 4²) per coordinate, component
k's standard deviation 0.5 + 0.1 k), written as --data-dir/points.npy. Each run is a child
process; its wall time is measured here and its peak resident memory taken from os.wait4:

    streamed:            latent gmm fit --data points.npy -k 8 --covariance C --stream
    streamed, full init: the same with --init-rows N (k-means on every point, as in memory)
    in memory:           latent gmm fit --data points.npy -k 8 --covariance C

    python3 scripts/bench/gmm_streaming.py [--points N] [--covariance diag|full] [--binary PATH]
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from common import cpu_text  # noqa: E402 (this folder)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=10_000_000, help="points [10000000]")
    p.add_argument("--covariance", default="diag", choices=["full", "tied", "diag", "spherical"])
    p.add_argument("--data-dir", type=pathlib.Path, default=None,
                   help="where the data is made (reused) [/tmp/latent_gmm_stream_N<N>]")
    p.add_argument("--binary", type=pathlib.Path, default=None,
                   help="the latent binary [target/release/latent if built, else target/debug]")
    args = p.parse_args()
    if args.points < 1000:
        p.error("--points must be at least 1000")
    release = ROOT / "target/release/latent"
    args.binary = args.binary or (release if release.is_file() else ROOT / "target/debug/latent")
    args.data_dir = args.data_dir or pathlib.Path(f"/tmp/latent_gmm_stream_N{args.points}")
    return args


def make_data(args):
    import numpy as np
    path = args.data_dir / "points.npy"
    if path.is_file() and path.stat().st_size == 128 + args.points * 16 * 4:
        print(f"data: reusing {path}")
        return path
    args.data_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n, d, k = args.points, 16, 8
    means = rng.normal(scale=4.0, size=(k, d)).astype(np.float32)
    labels = rng.integers(0, k, n)
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 1_000_000):
        lab = labels[s:s + 1_000_000]
        noise = rng.standard_normal((len(lab), d), dtype=np.float32)
        x[s:s + len(lab)] = means[lab] + noise * (0.5 + 0.1 * lab[:, None])
    x.flush()
    # Unmap and free before any child is forked: a child's peak RSS counts what it inherited.
    del x, labels
    print(f"data: wrote {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    return path


def run(cmd):
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(map(str, cmd))}")
    return wall, usage.ru_maxrss / 1024, json.loads(out)


def main():
    args = parse_args()
    if not args.binary.is_file():
        sys.exit(f"latent binary not found: {args.binary} (cargo build -p latent)")
    data = make_data(args)
    print(f"CPU: {cpu_text()}, {os.cpu_count()} threads; binary {args.binary}")
    with tempfile.TemporaryDirectory() as tmp:
        base = [str(args.binary), "gmm", "fit", "--data", str(data), "-k", "8",
                "--covariance", args.covariance, "--json"]
        rows = []
        for name, extra in (("streamed", ["--stream"]),
                            ("streamed, full init", ["--stream", "--init-rows", str(args.points)]),
                            ("in memory", [])):
            wall, rss, fit = run(base + extra + ["--out", f"{tmp}/m.json"])
            rows.append((name, wall, rss, fit["lower_bound"], fit["n_iter"]))
            print(f"{name:<20} wall {wall:7.2f} s  peak RSS {rss:8.0f} MiB  "
                  f"lower bound {fit['lower_bound']:.8f}  iterations {fit['n_iter']}", flush=True)
    memory = rows[-1]
    print(f"\nstreamed / in memory: time {rows[0][1] / memory[1]:.2f}×, "
          f"memory {rows[0][2] / memory[2]:.3f}×; full-init bound − in-memory bound "
          f"{rows[1][3] - memory[3]:+.2e}")


if __name__ == "__main__":
    main()
