#!/usr/bin/env python3
"""Data-parallel training throughput of `latent train vae` on this machine: one device, the
default CPU replicas (`--replicas auto`), two local devices in the shared thread pool, and two
`latent serve` compute servers over loopback (127.0.0.1).

Each configuration trains the default VAE (784-400-20, batch 128) for one epoch on the first
--limit training digits, in a fresh run directory, --reps times; the script prints the median
images/s and the median gradient-exchange time per step (weights out to the devices, gradients
back to the first one: `exchange_seconds` in metrics.jsonl).

    python3 scripts/bench/scaleout.py [--limit 12800] [--reps 3] [--profile debug]

Needs the binary built first (`cargo build -p latent`, or --profile release after
`cargo build --release -p latent`). On a 2-core machine two devices share the same two cores:
the replicas, each single-threaded in a pool of its own, gain by running their matrix products
and element-wise work side by side; the other configurations measure the cost of the machinery.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import pathlib

from common import REPO_ROOT, cpu_text, latent_binary, markdown_table


def serve(binary, backend):
    """Starts `latent serve` on a free loopback port; returns the process and its URL."""
    proc = subprocess.Popen(
        [str(binary), "--backend", backend, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO_ROOT,
    )
    line = proc.stdout.readline()
    url = next((w for w in line.split() if w.startswith("ws://")), None)
    if url is None:
        proc.kill()
        sys.exit(f"latent serve printed no address: {line!r}")
    return proc, url


def train(binary, out, args, devices, extra):
    command = [str(binary), "--backend", args.backend, "train", "vae", "--out", str(out),
               "--epochs", "1", "--limit", str(args.limit), "--test-limit", "100",
               "--batch-size", str(args.batch_size)] + extra
    if devices:
        command += ["--devices", ",".join(devices)]
    subprocess.run(command, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    metrics = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    steps = -(-args.limit // args.batch_size)
    return metrics["samples_per_second"], metrics.get("exchange_seconds", 0.0) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=12800, help="training digits per run")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--backend", default="flex", help="backend of every device")
    parser.add_argument("--profile", default="debug", choices=["debug", "release"])
    args = parser.parse_args()
    binary = latent_binary(args.profile)
    if not binary.exists():
        sys.exit(f"{binary} does not exist; build it first (see --help)")

    servers = [serve(binary, args.backend) for _ in range(2)]
    try:
        configurations = [
            ("1 device", [], ["--replicas", "1"]),
            ("--replicas auto (default)", [], []),
            ("2 local devices, shared pool", [args.backend, args.backend], []),
            ("2 loopback servers", [url for _, url in servers], []),
        ]
        results = {name: [] for name, _, _ in configurations}
        with tempfile.TemporaryDirectory() as tmp:
            for rep in range(args.reps):
                # Alternate the configurations so that drift in the machine's load hits all.
                for name, devices, extra in configurations:
                    out = pathlib.Path(tmp) / f"{rep}-{len(results[name])}"
                    out = out.with_name(out.name + "-" + "".join(c for c in name if c.isalnum()))
                    results[name].append(train(binary, out, args, devices, extra))
    finally:
        for proc, _ in servers:
            proc.kill()
            proc.wait()

    base = statistics.median(r[0] for r in results["1 device"])
    print(f"# {time.strftime('%Y-%m-%d')}, {args.backend}, batch {args.batch_size}, "
          f"{args.limit} digits, median of {args.reps}, {args.profile} build")
    print(f"machine: {cpu_text()}")
    rows = []
    for name, _, _ in configurations:
        speed = statistics.median(r[0] for r in results[name])
        exchange = statistics.median(r[1] for r in results[name])
        rows.append([name, f"{speed:,.0f}", f"{speed / base:.2f}", f"{exchange * 1e3:.2f}"])
    markdown_table(["devices", "images/s", "vs 1 device", "exchange ms/step"], rows)


if __name__ == "__main__":
    main()
