#!/usr/bin/env python3
"""PyTorch twins of latent's built-in VAE networks, and the safetensors files between them.

`latent export --run R -o model.safetensors` writes a run's weights with PyTorch's names and
layout; `latent import --weights model.safetensors ...` makes a run from such a file. This
script holds the equivalent PyTorch modules (same attribute names, so `load_state_dict` takes
the file as it is) and checks both directions on the same inputs:

    # PyTorch -> latent: seeded PyTorch models, their state dicts and their outputs on fixed
    # inputs, for crates/latent-train/tests/export.rs
    python3 scripts/reference/safetensors_interop.py make-fixtures \\
        --out crates/latent-train/tests/fixtures

    # latent -> PyTorch: a file written by `latent export` (or by the Rust test), loaded into
    # the PyTorch module, against latent's own outputs recorded beside it (the JSON of a
    # fixture: config, inputs, posterior_mean, posterior_log_var, decoder_mean)
    python3 scripts/reference/safetensors_interop.py check \\
        --weights crates/latent-train/tests/fixtures/latent_mlp.safetensors \\
        --outputs crates/latent-train/tests/fixtures/latent_mlp.json

The networks (see crates/latent-models/src/vae/networks.rs): an MLP trunk applies its
activation after every layer; the encoder's two linear heads give the posterior mean and
log-variance; the decoder's output layer gives Bernoulli logits or Gaussian means (a learned
per-pixel log-variance is the likelihood's `log_var`). The convolutional encoder is two 4x4
stride-2 convolutions (padding 1; 1 -> 32 -> 64 channels, 28 -> 14 -> 7) with the activation
after each, flattened in C order, then the trunk and heads; the decoder is the trunk, a linear
layer to 64 x 7 x 7 with the activation, and two 4x4 stride-2 transposed convolutions (padding
1; 64 -> 32 -> 1) with the activation between them. Decoder means are evaluated at the
posterior mean. Install: `python3 -m pip install -r scripts/reference/requirements.txt`.
"""
import argparse
import json
import pathlib
import sys

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

SIDE = 28
CONV_CHANNELS = (32, 64)
INNER = SIDE // 4
TOLERANCE = 1e-5


def activation(name):
    return {"relu": torch.relu, "tanh": torch.tanh}[name]


class Trunk(nn.Module):
    def __init__(self, sizes, act):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.act = act

    def forward(self, x):
        for layer in self.layers:
            x = self.act(layer(x))
        return x


class MlpEncoder(nn.Module):
    def __init__(self, cfg, act):
        super().__init__()
        sizes = [cfg["input_dim"], *cfg["hidden"]]
        self.trunk = Trunk(sizes, act)
        self.mean = nn.Linear(sizes[-1], cfg["latent"])
        self.log_var = nn.Linear(sizes[-1], cfg["latent"])

    def forward(self, x):
        h = self.trunk(x)
        return self.mean(h), self.log_var(h)


class MlpDecoder(nn.Module):
    def __init__(self, cfg, act):
        super().__init__()
        sizes = [cfg["latent"], *reversed(cfg["hidden"])]
        self.trunk = Trunk(sizes, act)
        self.output = nn.Linear(sizes[-1], cfg["input_dim"])

    def forward(self, z):
        return self.output(self.trunk(z))


class ConvEncoder(nn.Module):
    def __init__(self, cfg, act):
        super().__init__()
        flat = CONV_CHANNELS[1] * INNER * INNER
        sizes = [flat, *cfg["hidden"]]
        self.conv1 = nn.Conv2d(1, CONV_CHANNELS[0], 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(CONV_CHANNELS[0], CONV_CHANNELS[1], 4, stride=2, padding=1)
        self.trunk = Trunk(sizes, act)
        self.mean = nn.Linear(sizes[-1], cfg["latent"])
        self.log_var = nn.Linear(sizes[-1], cfg["latent"])
        self.act = act

    def forward(self, x):
        h = x.reshape(-1, 1, SIDE, SIDE)
        h = self.act(self.conv2(self.act(self.conv1(h))))
        h = self.trunk(h.reshape(h.shape[0], -1))
        return self.mean(h), self.log_var(h)


class ConvDecoder(nn.Module):
    def __init__(self, cfg, act):
        super().__init__()
        sizes = [cfg["latent"], *reversed(cfg["hidden"])]
        self.trunk = Trunk(sizes, act)
        self.expand = nn.Linear(sizes[-1], CONV_CHANNELS[1] * INNER * INNER)
        self.deconv1 = nn.ConvTranspose2d(CONV_CHANNELS[1], CONV_CHANNELS[0], 4, stride=2, padding=1)
        self.deconv2 = nn.ConvTranspose2d(CONV_CHANNELS[0], 1, 4, stride=2, padding=1)
        self.act = act

    def forward(self, z):
        h = self.act(self.expand(self.trunk(z)))
        h = self.deconv1(h.reshape(-1, CONV_CHANNELS[1], INNER, INNER))
        h = self.deconv2(self.act(h))
        return h.reshape(h.shape[0], SIDE * SIDE)


class Likelihood(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.kind = cfg["likelihood"]["kind"]
        if self.kind == "gaussianlearned":
            self.log_var = nn.Parameter(torch.zeros(cfg["input_dim"]))

    def mean(self, output):
        return torch.sigmoid(output) if self.kind == "bernoulli" else output


class LatentVae(nn.Module):
    """latent's built-in VAE: `VaeConfig` as in a run's config.json `model`."""

    def __init__(self, cfg):
        super().__init__()
        act = activation(cfg["activation"])
        conv = cfg.get("architecture", "mlp") == "conv"
        self.encoder = (ConvEncoder if conv else MlpEncoder)(cfg, act)
        self.decoder = (ConvDecoder if conv else MlpDecoder)(cfg, act)
        self.likelihood = Likelihood(cfg)

    @torch.no_grad()
    def outputs(self, x):
        mean, log_var = self.encoder(x)
        return {
            "posterior_mean": mean,
            "posterior_log_var": log_var,
            "decoder_mean": self.likelihood.mean(self.decoder(mean)),
        }


# Small models, each exercising another part of the layout.
FIXTURES = {
    "mlp": {
        "input_dim": 784,
        "hidden": [32, 16],
        "latent": 4,
        "activation": "tanh",
        "likelihood": {"kind": "gaussianlearned"},
        "architecture": "mlp",
    },
    "conv": {
        "input_dim": 784,
        "hidden": [8],
        "latent": 2,
        "activation": "relu",
        "likelihood": {"kind": "bernoulli"},
        "architecture": "conv",
    },
}
INPUTS = 4


def as_lists(tensor):
    """Float32 values with 9 significant digits: enough to give back the same float32."""
    return [[float(f"{v:.9g}") for v in row] for row in tensor.to(torch.float64).tolist()]


def make_fixtures(out):
    out.mkdir(parents=True, exist_ok=True)
    for name, cfg in FIXTURES.items():
        torch.manual_seed(len(name))
        model = LatentVae(cfg)
        if hasattr(model.likelihood, "log_var"):
            with torch.no_grad():
                model.likelihood.log_var.uniform_(-1.0, 1.0)
        x = torch.rand(INPUTS, cfg["input_dim"])
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(out / f"torch_{name}.safetensors"))
        record = {"config": cfg, "inputs": as_lists(x)}
        record.update({k: as_lists(v) for k, v in model.outputs(x).items()})
        (out / f"torch_{name}.json").write_text(json.dumps(record))
        print(f"wrote torch_{name}.safetensors ({len(state)} tensors) and torch_{name}.json")


def check(weights, outputs):
    record = json.loads(outputs.read_text())
    model = LatentVae(record["config"])
    model.load_state_dict(load_file(str(weights)), strict=True)
    got = model.outputs(torch.tensor(record["inputs"], dtype=torch.float32))
    worst = 0.0
    for key, values in got.items():
        want = torch.tensor(record[key], dtype=torch.float64)
        diff = (values.to(torch.float64) - want).abs().max().item()
        worst = max(worst, diff)
        print(f"{key}: max |PyTorch - latent| = {diff:.3g}")
    verdict = "ok" if worst <= TOLERANCE else "MISMATCH"
    print(f"{weights}: loaded into PyTorch with strict names and shapes; worst {worst:.3g} ({verdict}, tolerance {TOLERANCE})")
    return worst <= TOLERANCE


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-fixtures", help="seeded PyTorch models, state dicts and outputs")
    make.add_argument("--out", type=pathlib.Path, required=True)
    chk = sub.add_parser("check", help="load a latent export into PyTorch and compare outputs")
    chk.add_argument("--weights", type=pathlib.Path, required=True)
    chk.add_argument("--outputs", type=pathlib.Path, required=True)
    args = parser.parse_args()
    if args.command == "make-fixtures":
        make_fixtures(args.out)
    elif not check(args.weights, args.outputs):
        sys.exit(1)


if __name__ == "__main__":
    main()
