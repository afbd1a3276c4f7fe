#!/usr/bin/env python3
"""The richer VAEs against the one-layer N(0, I) VAE at one budget of epochs on MNIST.

Trains, with `latent train vae` (dynamic binarisation, Adam 1e-3, batch 128), the IWAE paper's
architectures (tanh, or --activation relu): one stochastic layer 784-200-200-50, and two layers 784-200-200-100 with
100-100-50 above; then evaluates each on all 10,000 test digits (fixed binarisation) with
`latent eval` (importance sampling, k = 5000), and prints one Markdown table:

  one layer, N(0, I), ELBO      the baseline
  one layer, mixture prior      --prior mog:K
  one layer, VampPrior          --prior vamp:K (pseudo-inputs from training examples)
  one layer, VampPrior, noise   --prior vamp:K:noise (pseudo-inputs from faint noise)
  one layer, IWAE k = 5         --iwae 5
  two layers, ELBO              --latent2 50 --hidden2 100,100
  two layers, IWAE k = 5        the same, --iwae 5

--warmup N gives every model N epochs of KL warm-up (under the IWAE bound: the weights' latent
part tempered, β rising from 0 to 1).

Usage: python3 scripts/bench/richer_vaes.py [--epochs 30] [--components 500] [--out DIR]
       [--activation tanh|relu] [--warmup N] [--k 5000] [--limit N] [--only NAME,...]
       [--binary target/debug/latent]

Runs already complete in --out are evaluated again, not retrained (delete them to retrain);
a run that stopped part-way is resumed. Prints the machine beside the figures.
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import cpu_text, latent_binary, markdown_table  # noqa: E402

def models(components, activation):
    one_layer = ["--hidden", "200,200", "--latent", "50", "--activation", activation]
    two_layers = ["--hidden", "200,200", "--latent", "100", "--activation", activation,
                  "--latent2", "50", "--hidden2", "100,100"]
    return [
        ("one-layer", "one layer, N(0, I), ELBO", one_layer),
        ("mog", f"one layer, mixture prior (K = {components}), ELBO",
         one_layer + ["--prior", f"mog:{components}"]),
        ("vamp", f"one layer, VampPrior (K = {components}), ELBO",
         one_layer + ["--prior", f"vamp:{components}"]),
        ("vamp-noise", f"one layer, VampPrior (K = {components}) from noise, ELBO",
         one_layer + ["--prior", f"vamp:{components}:noise"]),
        ("one-layer-iwae", "one layer, N(0, I), IWAE k = 5", one_layer + ["--iwae", "5"]),
        ("two-layer", "two layers, N(0, I), ELBO", two_layers),
        ("two-layer-iwae", "two layers, N(0, I), IWAE k = 5", two_layers + ["--iwae", "5"]),
    ]


def machine():
    return f"{os.cpu_count()} logical CPUs, {cpu_text()}, {platform.machine()}"


def completed_epochs(run):
    metrics = run / "metrics.jsonl"
    if not metrics.exists():
        return 0
    return sum(1 for line in metrics.read_text().splitlines() if line.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--components", type=int, default=500)
    ap.add_argument("--activation", choices=["tanh", "relu"], default="tanh",
                    help="the hidden layers' non-linearity, the same for every model")
    ap.add_argument("--warmup", type=int, default=0,
                    help="epochs of KL warm-up for every model (0: none)")
    ap.add_argument("--k", type=int, default=5000, help="importance samples of the evaluation")
    ap.add_argument("--limit", type=int, help="evaluate on the first N test digits only")
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/richer_vaes"))
    ap.add_argument("--only", help="comma-separated model names (one-layer, mog, vamp, "
                    "vamp-noise, one-layer-iwae, two-layer, two-layer-iwae)")
    ap.add_argument("--binary", type=pathlib.Path, default=latent_binary("debug"))
    args = ap.parse_args()
    if not args.binary.exists():
        sys.exit(f"{args.binary}: no latent binary; build it with `cargo build -p latent`")
    chosen = models(args.components, args.activation)
    if args.warmup:
        chosen = [(name, f"{label}, warm-up {args.warmup}", flags + ["--warmup", str(args.warmup)])
                  for name, label, flags in chosen]
    if args.only:
        names = args.only.split(",")
        unknown = set(names) - {m[0] for m in chosen}
        if unknown:
            sys.exit(f"unknown models: {', '.join(sorted(unknown))}")
        chosen = [m for m in chosen if m[0] in names]
    args.out.mkdir(parents=True, exist_ok=True)
    warm = f", {args.warmup} epochs of warm-up" if args.warmup else ""
    print(f"# Richer VAEs on MNIST, {args.epochs} epochs each{warm}, {args.activation}")
    print(f"machine: {machine()}")
    print(f"binary:  {args.binary}")
    rows = []
    for name, label, flags in chosen:
        run = args.out / name
        done = completed_epochs(run)
        train_s = None
        if done < args.epochs:
            cmd = [str(args.binary), "train", "vae", "--out", str(run),
                   "--epochs", str(args.epochs)] + flags
            if done > 0 or (run / "config.json").exists():
                cmd.append("--resume")
            print(f"$ {' '.join(cmd)}", flush=True)
            start = time.time()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            train_s = time.time() - start
        cmd = [str(args.binary), "eval", "--run", str(run), "--iw-samples", str(args.k), "--json"]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        print(f"$ {' '.join(cmd)}", flush=True)
        start = time.time()
        report = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                           text=True).stdout)
        eval_s = time.time() - start
        units = report.get("layer_active_units") or [report["active_units"]]
        rows.append([
            label,
            f"{-report['elbo']:.2f}",
            f"{report['nll']:.2f}",
            " + ".join(str(u) for u in units),
            "(existing run)" if train_s is None else f"{train_s / 60:.1f} min",
            f"{eval_s / 60:.1f} min",
        ])
        print(f"  {label}: −ELBO {-report['elbo']:.2f}, −log p(x) {report['nll']:.2f}",
              flush=True)
    print()
    print(f"{report['images']} test digits, −log p(x) by importance sampling with "
          f"k = {args.k}, in nats")
    markdown_table(["model", "test −ELBO", "test −log p(x)", "active units",
                    "training", "evaluation"], rows)


if __name__ == "__main__":
    main()
