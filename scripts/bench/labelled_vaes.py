#!/usr/bin/env python3
"""The VAEs that use labels, on MNIST: M2's test error from few labels, and whether a
conditional VAE's samples of class c look like a c.

  M2        `latent train vae --semi-supervised --labelled N` for each N of --labels
            (784-500-50, ReLU, Bernoulli, classifier 784-500-10), then `latent eval`: the
            classifier's error on all 10,000 test digits (and the bound, with few samples).
  M1+M2     Kingma et al.'s stacked model: M1, a VAE (784-600-600-50, ReLU, Bernoulli) trained
            for --m1-epochs on all 60,000 digits without their labels; `latent encode` writes
            its codes (posterior means) of the training and test digits with their labels;
            then M2 on those codes (50-500-50, learned-variance Gaussian decoder, classifier
            50-500-10) with --semi-supervised --labelled N for each N of --labels, trained for
            --m2-epochs, and `latent eval`: the classifier's error on all 10,000 test digits.
  CVAE      `latent train vae --conditional` (784-500-50), then `latent sample --class c` of
            --per-class images for each class, each classified by a multinomial logistic
            regression (scikit-learn) trained on the 60,000 real training digits (pixels in
            [0, 1]); prints that classifier's own test accuracy beside the samples' per class.

Usage: python3 scripts/bench/labelled_vaes.py [--epochs 20] [--labels 100,1000]
       [--m1-epochs 50] [--m2-epochs 100] [--per-class 1000] [--out DIR]
       [--only m2,m1m2,cvae] [--binary target/debug/latent]

Needs numpy and scikit-learn for the CVAE's classifier (scripts/reference/requirements.txt).
Runs already complete in --out are not retrained. Prints the machine beside the figures.
"""
import argparse
import gzip
import json
import pathlib
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from common import REPO_ROOT, latent_binary, markdown_table  # noqa: E402
from richer_vaes import completed_epochs, machine  # noqa: E402

NETWORK = ["--hidden", "500", "--latent", "50"]
M1_NETWORK = ["--hidden", "600,600", "--latent", "50"]


def train(binary, run, epochs, flags):
    done = completed_epochs(run)
    if done >= epochs:
        return None
    cmd = [str(binary), "train", "vae", "--out", str(run), "--epochs", str(epochs)] + flags
    if (run / "config.json").exists():
        cmd.append("--resume")
    print(f"$ {' '.join(cmd)}", flush=True)
    start = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.time() - start


def evaluate(binary, run, k):
    cmd = [str(binary), "eval", "--run", str(run), "--iw-samples", str(k), "--json"]
    print(f"$ {' '.join(cmd)}", flush=True)
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def idx(path):
    import numpy as np
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def pixel_classifier():
    """Multinomial logistic regression on MNIST's pixels, and its test accuracy."""
    from sklearn.linear_model import LogisticRegression
    mnist = REPO_ROOT / "datasets" / "mnist"
    x = idx(mnist / "train-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    y = idx(mnist / "train-labels-idx1-ubyte.gz")
    xt = idx(mnist / "t10k-images-idx3-ubyte.gz").reshape(-1, 784) / 255.0
    yt = idx(mnist / "t10k-labels-idx1-ubyte.gz")
    clf = LogisticRegression(max_iter=200, tol=1e-3)
    clf.fit(x, y)
    return clf, (clf.predict(xt) == yt).mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--labels", default="100,1000", help="label counts of the M2 runs")
    ap.add_argument("--per-class", type=int, default=1000, help="CVAE samples per class")
    ap.add_argument("--k", type=int, default=10, help="importance samples of M2's bound")
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/labelled_vaes"))
    ap.add_argument("--m1-epochs", type=int, default=50, help="epochs of M1+M2's VAE")
    ap.add_argument("--m2-epochs", type=int, default=100, help="epochs of M1+M2's M2")
    ap.add_argument("--only", default="m2,m1m2,cvae")
    ap.add_argument("--binary", type=pathlib.Path, default=latent_binary("debug"))
    args = ap.parse_args()
    if not args.binary.exists():
        sys.exit(f"{args.binary}: no latent binary; build it with `cargo build -p latent`")
    parts = set(args.only.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"# VAEs with labels on MNIST: M2 and the CVAE {args.epochs} epochs each; M1+M2's "
          f"VAE {args.m1_epochs} epochs, its M2 {args.m2_epochs}")
    print(f"machine: {machine()}")
    if "m2" in parts:
        rows = []
        for n in [int(v) for v in args.labels.split(",")]:
            run = args.out / f"m2-{n}"
            seconds = train(args.binary, run, args.epochs,
                            NETWORK + ["--semi-supervised", "--labelled", str(n)])
            report = evaluate(args.binary, run, args.k)
            rows.append([f"{n}", f"{100 * report['classification_error']:.2f} %",
                         f"{-report['elbo']:.2f}", f"{report['nll']:.2f}",
                         "(existing run)" if seconds is None else f"{seconds / 60:.1f} min"])
            print(f"  M2, {n} labels: test error {100 * report['classification_error']:.2f} %",
                  flush=True)
        print()
        print(f"M2 on MNIST, {args.epochs} epochs; test error of q(y | x) on "
              f"{report['images']} test digits; bound and −log p(x) (k = {args.k}) in nats")
        markdown_table(["labels", "test error", "test −ELBO", "test −log p(x)", "training"],
                       rows)
        print()
    if "m1m2" in parts:
        m1 = args.out / "m1"
        seconds = train(args.binary, m1, args.m1_epochs, M1_NETWORK)
        print(f"  M1: {'(existing run)' if seconds is None else f'{seconds / 60:.1f} min'}",
              flush=True)
        data = {}
        for split in ["train", "test"]:
            codes, labels = m1 / f"{split}-codes.npy", m1 / f"{split}-labels.npy"
            cmd = [str(args.binary), "encode", "--run", str(m1), "--split", split,
                   "--out", str(codes), "--labels-out", str(labels)]
            print(f"$ {' '.join(cmd)}", flush=True)
            subprocess.run(cmd, check=True, capture_output=True)
            data[split] = f"{codes.resolve()}:labels={labels.resolve()}"
        rows = []
        for n in [int(v) for v in args.labels.split(",")]:
            run = args.out / f"m1m2-{n}"
            seconds = train(args.binary, run, args.m2_epochs,
                            NETWORK + ["--data", data["train"], "--test-data", data["test"],
                                       "--decoder", "gaussian-learned",
                                       "--semi-supervised", "--labelled", str(n)])
            report = evaluate(args.binary, run, args.k)
            rows.append([f"{n}", f"{100 * report['classification_error']:.2f} %",
                         "(existing run)" if seconds is None else f"{seconds / 60:.1f} min"])
            print(f"  M1+M2, {n} labels: test error "
                  f"{100 * report['classification_error']:.2f} %", flush=True)
        print()
        print(f"M1+M2 on MNIST: M1 {args.m1_epochs} epochs, M2 on its codes {args.m2_epochs} "
              f"epochs; test error of q(y | z1) on {report['images']} test digits")
        markdown_table(["labels", "test error", "M2 training"], rows)
        print()
    if "cvae" in parts:
        import numpy as np
        run = args.out / "cvae"
        seconds = train(args.binary, run, args.epochs, NETWORK + ["--conditional"])
        report = evaluate(args.binary, run, 1000)
        print(f"  CVAE: −log p(x | y) {report['nll']:.2f} nats (k = 1000), "
              f"training {'(existing run)' if seconds is None else f'{seconds / 60:.1f} min'}")
        clf, real = pixel_classifier()
        rows, hits = [], []
        for c in range(10):
            out = args.out / f"cvae-class-{c}.npy"
            subprocess.run([str(args.binary), "sample", "--run", str(run), "--class", str(c),
                            "-n", str(args.per_class), "--seed", str(c), "--means",
                            "-o", str(out)], check=True, capture_output=True)
            x = np.load(out).reshape(args.per_class, 784)
            accuracy = (clf.predict(x) == c).mean()
            hits.append(accuracy)
            rows.append([f"{c}", f"{100 * accuracy:.1f} %"])
        rows.append(["all", f"{100 * np.mean(hits):.1f} %"])
        print()
        print(f"CVAE samples (decoder means, {args.per_class} per class) classified by a "
              f"logistic regression on pixels whose own test accuracy is {100 * real:.2f} %; "
              f"test −log p(x | y) {report['nll']:.2f} nats (k = 1000, "
              f"{report['images']} digits)")
        markdown_table(["class", "samples classified as their class"], rows)


if __name__ == "__main__":
    main()
