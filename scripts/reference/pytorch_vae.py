#!/usr/bin/env python3
"""PyTorch reference for the default VAE of `latent train vae`, to compare likelihoods.

Trains the same model with the same protocol as the project's default VAE run and prints the
figures the Rust run reports, so both can be compared on one machine:

* Data: MNIST from datasets/mnist/ (gzip IDX files), pixels as float32 in [0, 1]; or, with
  --data-dir, any folder of the same four files (the bundled 8 x 8 digits: datasets/digits,
  1,497 training and 300 test images; the input size is the images').
* Training inputs: dynamic binarisation (a fresh Bernoulli(pixel) draw each time an image is
  shown), reshuffled every epoch, batch 128 (the last, partial batch of 96 is kept), global
  seed torch.manual_seed(0).
* Test inputs: the 10,000 test images binarised once with a torch.Generator seeded with
  TEST_BINARISATION_SEED (= 1).
* Model: encoder 784 -> 400 (ReLU) -> 20 mean and 20 log-variance heads; decoder 20 -> 400
  (ReLU) -> 784 Bernoulli logits (400 = --hidden, 20 = --latent); default nn.Linear initialisation. Loss is the batch mean of
  recon + KL, with recon = BCE-with-logits summed over pixels and the closed-form
  KL(q(z|x) || N(0, I)). Adam, lr 1e-3, betas (0.9, 0.999). 10 epochs by default.
* Each epoch: train loss (mean per image over the epoch), test -ELBO per image on the fixed
  binarised test set (one reparameterised sample per image, closed-form KL) with its
  reconstruction and KL parts, training seconds and images/s. Evaluation noise comes from its
  own generator (EVAL_SEED = 2), so evaluating does not change the training random stream.
* After training: importance-sampled -log p(x) with k samples per image (q(z|x) as proposal)
  on the first N test images, -mean_x logmeanexp_i [log p(x|z_i) + log N(z_i; 0, I)
  - log q(z_i|x)], drawn in chunks of 500 samples and combined with torch.logsumexp (in
  float64), plus the -ELBO of those same N images.
* A final JSON line summarises the run; --out also writes it to a file.

Run from the repository root (install torch with
`python3 -m pip install -r scripts/reference/requirements.txt`):

    python3 scripts/reference/pytorch_vae.py --epochs 10 --iw-samples 5000 --iw-limit 1000 \\
        --out /tmp/pytorch_vae.json
    python3 scripts/reference/pytorch_vae.py --data-dir datasets/digits --hidden 64 \\
        --latent 8 --epochs 50 --iw-samples 5000 --iw-limit 300     # the README's digits

Options: --epochs (10), --iw-samples (5000), --iw-limit (1000), --hidden (400), --latent (20),
--data-dir (datasets/mnist), --threads (torch default), --out FILE.json.
"""
import argparse
import gzip
import json
import math
import pathlib
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[2]
MNIST = ROOT / "datasets" / "mnist"
TRAIN_SEED = 0
TEST_BINARISATION_SEED = 1
EVAL_SEED = 2
IW_SEED = 3
BATCH = 128
LR = 1e-3
X_DIM, H_DIM, Z_DIM = 784, 400, 20
IW_CHUNK = 500          # importance samples drawn per image at a time
IW_IMAGES = 10          # images processed together in the importance-sampling pass
EVAL_BATCH = 1000
LOG_2PI = math.log(2.0 * math.pi)


def read_idx_images(path):
    """Read a gzip IDX3 file (16-byte header, big-endian dims) as float32 in [0, 1]."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = np.frombuffer(data[:16], dtype=">u4")
    if magic != 2051:
        raise ValueError(f"{path}: bad IDX magic {magic}")
    pixels = np.frombuffer(data[16:], dtype=np.uint8)
    if pixels.size != n * rows * cols:
        raise ValueError(f"{path}: expected {n * rows * cols} pixels, found {pixels.size}")
    images = pixels.reshape(n, rows * cols).astype(np.float32) / 255.0
    return torch.from_numpy(images)


class VAE(nn.Module):
    def __init__(self, x_dim=X_DIM, h_dim=H_DIM, z_dim=Z_DIM):
        super().__init__()
        self.x_dim, self.z_dim = x_dim, z_dim
        self.enc = nn.Linear(x_dim, h_dim)
        self.enc_mean = nn.Linear(h_dim, z_dim)
        self.enc_log_var = nn.Linear(h_dim, z_dim)
        self.dec_hidden = nn.Linear(z_dim, h_dim)
        self.dec_out = nn.Linear(h_dim, x_dim)

    def encode(self, x):
        h = F.relu(self.enc(x))
        return self.enc_mean(h), self.enc_log_var(h)

    def decode(self, z):
        return self.dec_out(F.relu(self.dec_hidden(z)))


def log_bernoulli(logits, x):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def kl_standard_normal(mean, log_var):
    return 0.5 * (log_var.exp() + mean.pow(2) - 1.0 - log_var).sum(-1)


def elbo_terms(model, x, generator=None):
    """Per-image reconstruction log-likelihood and KL, one reparameterised sample each."""
    mean, log_var = model.encode(x)
    eps = torch.randn(mean.shape, generator=generator)
    z = mean + (0.5 * log_var).exp() * eps
    return log_bernoulli(model.decode(z), x), kl_standard_normal(mean, log_var)


@torch.no_grad()
def evaluate(model, x_test, generator):
    """Mean -ELBO, reconstruction (-log p(x|z)) and KL per image."""
    recon_sum = kl_sum = 0.0
    for start in range(0, x_test.shape[0], EVAL_BATCH):
        rec, kl = elbo_terms(model, x_test[start:start + EVAL_BATCH], generator)
        recon_sum += (-rec).double().sum().item()
        kl_sum += kl.double().sum().item()
    n = x_test.shape[0]
    return (recon_sum + kl_sum) / n, recon_sum / n, kl_sum / n


@torch.no_grad()
def importance_nll(model, x, k, generator):
    """-mean_x log (1/k) sum_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x)."""
    x_dim, z_dim = model.x_dim, model.z_dim
    total = 0.0
    for start in range(0, x.shape[0], IW_IMAGES):
        xb = x[start:start + IW_IMAGES]
        b = xb.shape[0]
        mean, log_var = model.encode(xb)
        std = (0.5 * log_var).exp()
        acc = torch.full((b,), -math.inf, dtype=torch.float64, device=x.device)
        done = 0
        while done < k:
            s = min(IW_CHUNK, k - done)
            eps = torch.randn((s, b, z_dim), generator=generator, device=x.device)
            z = mean + std * eps                                    # (s, b, Z)
            log_q = -0.5 * (LOG_2PI + log_var + eps.pow(2)).sum(-1)
            log_prior = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
            logits = model.decode(z.reshape(s * b, z_dim)).reshape(s, b, x_dim)
            log_lik = log_bernoulli(logits, xb.expand(s, b, x_dim))
            log_w = (log_lik + log_prior - log_q).double()          # (s, b)
            acc = torch.logsumexp(torch.cat([acc.unsqueeze(0), log_w], 0), 0)
            done += s
        total += (acc - math.log(k)).sum().item()
    return -total / x.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--iw-samples", type=int, default=5000)
    parser.add_argument("--iw-limit", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=H_DIM)
    parser.add_argument("--latent", type=int, default=Z_DIM)
    parser.add_argument("--data-dir", type=pathlib.Path, default=MNIST)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, threads {threads}", flush=True)

    wall0 = time.perf_counter()
    torch.manual_seed(TRAIN_SEED)
    x_train = read_idx_images(args.data_dir / "train-images-idx3-ubyte.gz")
    x_test_grey = read_idx_images(args.data_dir / "t10k-images-idx3-ubyte.gz")
    test_gen = torch.Generator().manual_seed(TEST_BINARISATION_SEED)
    x_test = torch.bernoulli(x_test_grey, generator=test_gen)
    eval_gen = torch.Generator().manual_seed(EVAL_SEED)
    n_train = x_train.shape[0]
    x_dim = x_train.shape[1]
    print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}, "
          f"model {x_dim}-{args.hidden}-{args.latent}", flush=True)

    model = VAE(x_dim, args.hidden, args.latent)
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.999))

    history = []
    total_seconds = 0.0
    header = (f"{'epoch':>5} {'train_loss':>10} {'test_-elbo':>10} {'test_recon':>10} "
              f"{'test_kl':>8} {'train_s':>8} {'eval_s':>7} {'images/s':>9}")
    print(header, flush=True)
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n_train)
        loss_sum = 0.0
        for start in range(0, n_train, BATCH):
            x = torch.bernoulli(x_train[perm[start:start + BATCH]])
            rec, kl = elbo_terms(model, x)
            loss = (kl - rec).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * x.shape[0]
        train_seconds = time.perf_counter() - t0
        total_seconds += train_seconds
        model.eval()
        t1 = time.perf_counter()
        neg_elbo, recon, kl = evaluate(model, x_test, eval_gen)
        eval_seconds = time.perf_counter() - t1
        row = {
            "epoch": epoch, "train_loss": loss_sum / n_train, "test_neg_elbo": neg_elbo,
            "test_reconstruction": recon, "test_kl": kl, "train_seconds": train_seconds,
            "eval_seconds": eval_seconds, "images_per_second": n_train / train_seconds,
        }
        history.append(row)
        print(f"{epoch:>5} {row['train_loss']:>10.3f} {neg_elbo:>10.3f} {recon:>10.3f} "
              f"{kl:>8.3f} {train_seconds:>8.2f} {eval_seconds:>7.2f} "
              f"{row['images_per_second']:>9.0f}", flush=True)

    n_iw = min(args.iw_limit, x_test.shape[0])
    x_iw = x_test[:n_iw]
    model.eval()
    neg_elbo_same, _, _ = evaluate(model, x_iw, eval_gen)
    t2 = time.perf_counter()
    nll = importance_nll(model, x_iw, args.iw_samples, torch.Generator().manual_seed(IW_SEED))
    iw_seconds = time.perf_counter() - t2
    wall_seconds = time.perf_counter() - wall0
    print(f"-log p(x) ~ {nll:.3f} nats (k={args.iw_samples}, first {n_iw} test images, "
          f"{iw_seconds:.1f} s); -ELBO of the same images {neg_elbo_same:.3f}; "
          f"total {wall_seconds:.1f} s", flush=True)

    last = history[-1] if history else {}
    result = {
        "data_dir": str(args.data_dir),
        "hidden": args.hidden,
        "latent": args.latent,
        "epochs": args.epochs,
        "train_loss": last.get("train_loss"),
        "test_neg_elbo": last.get("test_neg_elbo"),
        "test_reconstruction": last.get("test_reconstruction"),
        "test_kl": last.get("test_kl"),
        "nll": nll,
        "nll_k": args.iw_samples,
        "nll_images": n_iw,
        "neg_elbo_same_images": neg_elbo_same,
        "iw_seconds": iw_seconds,
        "train_seconds_total": total_seconds,
        "wall_seconds": wall_seconds,
        "images_per_second_mean": n_train * args.epochs / total_seconds if total_seconds else None,
        "torch_version": torch.__version__,
        "threads": threads,
        "seeds": {"train": TRAIN_SEED, "test_binarisation": TEST_BINARISATION_SEED,
                  "eval": EVAL_SEED, "importance_sampling": IW_SEED},
        "history": history,
    }
    line = json.dumps(result)
    print(line, flush=True)
    if args.out is not None:
        args.out.write_text(line + "\n")


if __name__ == "__main__":
    main()
