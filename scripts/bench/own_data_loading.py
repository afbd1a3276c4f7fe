#!/usr/bin/env python3
"""Benchmark: training throughput of `latent` on a user's own image folder and .npy, against
PyTorch with its DataLoader on the same files.

This is a benchmark, not a test: it asserts nothing; it prints figures and ratios.

Data (made once into --data-dir, default /tmp/latent_own_data_N<N>; reused when its marker
file .own_data_loading.json matches N and the seed): N = --images (50000) 32x32 colour PNGs in
the torchvision ImageFolder layout DIR/folder/<class>/<index>.png, classes 0..9, made from the
1497 bundled 8x8 digits of datasets/digits/ (gzipped IDX, grey 0-255), cycling through them:
each digit upscaled 4x (nearest neighbour) and coloured with a random foreground and background
RGB colour per image (numpy.random.default_rng(0)): pixel = bg + (fg - bg) * grey / 255, rounded.
The PNGs are written in pure Python (zlib + struct: colour type 2, 8 bits, filter 0). The same
images are written as DIR/npy/images.npy (uint8 [N, 32, 32, 3]) and DIR/npy/labels.npy (int64).

Each run is a separate child process, timed by this script from start to exit ("wall s"), its
peak resident memory from os.wait4 (ru_maxrss), --reps times, ours and PyTorch alternating:

    decode:  latent data show DIR/folder --json
             (reads and decodes every PNG once, in parallel; images/s = N / wall s)
    ours:    latent train vae --data DIR/folder --epochs 1 --out TMP/run --seed 0
             latent train vae --data DIR/npy/images.npy --labels DIR/npy/labels.npy
                 --epochs 1 --out TMP/run --seed 0
             the built-in MLP VAE 3072-400-(20, 20)-400-3072, ReLU, Bernoulli decoder on
             dynamically binarised pixels, batch 128, Adam 1e-3; round(0.1 N) examples held out
             (seeded) as the test set, so one epoch trains on the other 90%. Training images/s
             = `samples_per_second` of the last line of TMP/run/metrics.jsonl (the training loop
             alone); the wall time also covers loading, the test ELBO and writing the run.
    PyTorch: this script re-invoked with the hidden --torch-worker flag: the same VAE (encoder
             3072->400 ReLU->20 mean, 20 log-variance; decoder 20->400 ReLU->3072 logits; loss
             = BCE-with-logits summed over pixels + closed-form KL, batch mean; Adam 1e-3;
             torch.bernoulli of the [0, 1] inputs each step), torch.manual_seed(0), one epoch
             over a seeded 90% of the images (the same count as ours, not the same draw),
             torch.utils.data.DataLoader(batch_size=128, shuffle=True, num_workers=--workers):
               folder: an ImageFolder-like Dataset (class folders scanned as ImageFolder
                       does) that opens and decodes one PNG with PIL in __getitem__
               npy:    a Dataset over np.load(images.npy, mmap_mode="r"), one row per item
             each item a float32 [3072] tensor in [0, 1]. Training images/s is timed inside the
             worker around the epoch loop (DataLoader iteration included, Dataset set-up
             excluded); the wall time covers the whole child, torch import included, as ours.

RAYON_NUM_THREADS (and OMP/OPENBLAS/MKL_NUM_THREADS) = --threads for every child, and
torch.set_num_threads(--threads). With --workers > 0 PyTorch's peak RSS is that of its largest
single process (ru_maxrss of the waited-for tree), not the sum over the worker processes.

Ratios are ours / PyTorch for matching rows (folder vs folder, npy vs npy): wall (< 1: ours is
quicker), training images/s (> 1: ours is faster), peak RSS (< 1: ours uses less). The memory
check sets every peak RSS against 1.5 x the uint8 size of the data (N * 32 * 32 * 3 bytes) + the
model (parameters + Adam's two moments, float32, from the layer sizes).

Run from anywhere (the repository root is the parent of scripts/), on an otherwise idle machine:

    cargo build --release -p latent
    python3 -m pip install -r scripts/reference/requirements.txt      # torch, numpy, pillow
    python3 scripts/bench/own_data_loading.py
    python3 scripts/bench/own_data_loading.py --images 10000 --threads 2 --workers 2
    python3 scripts/bench/own_data_loading.py --binary target/debug/latent --json > own.json

Requires numpy, torch and pillow (stdlib otherwise).
"""
import argparse
import datetime
import gzip
import json
import os
import pathlib
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib

from common import REPO_ROOT, cpu_text, latent_binary, markdown_table  # noqa: E402 (this folder)

DIGITS = REPO_ROOT / "datasets/digits"
SIDE, CHANNELS, CLASSES, SCALE = 32, 3, 10, 4
X_DIM, H_DIM, Z_DIM, BATCH, LR, SEED, TEST_FRACTION = SIDE * SIDE * CHANNELS, 400, 20, 128, \
    1e-3, 0, 0.1
MARKER, MAKING = ".own_data_loading.json", ".own_data_loading.making"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")


def default_binary():
    release = latent_binary("release")
    return release if release.is_file() else latent_binary("debug")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", type=pathlib.Path, default=None,
                   help="the latent binary [target/release/latent if built, else target/debug]")
    p.add_argument("--images", type=int, default=50000, metavar="N", help="images [50000]")
    p.add_argument("--data-dir", type=pathlib.Path, default=None,
                   help="where the data is made (reused) [/tmp/latent_own_data_N<N>]")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="threads for both sides [os.cpu_count()]")
    p.add_argument("--workers", type=int, default=0, help="DataLoader num_workers [0]")
    p.add_argument("--reps", type=int, default=1, help="repetitions, alternating; median [1]")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--make-data", action="store_true",
                   help="only make the data (numpy alone is needed), print where, and stop")
    p.add_argument("--torch-worker", choices=["folder", "npy"], help=argparse.SUPPRESS)
    args = p.parse_args()
    args.threads = args.threads or os.cpu_count() or 1
    if args.images < 10 or args.threads < 1 or args.workers < 0 or args.reps < 1:
        p.error("--images must be at least 10, --threads and --reps at least 1, --workers >= 0")
    args.binary = (args.binary or default_binary()).expanduser().resolve()
    args.data_dir = (args.data_dir or pathlib.Path(f"/tmp/latent_own_data_N{args.images}"))\
        .expanduser().resolve()
    return args


# ------------------------------------------------------------------------------- data


def read_idx(path):
    """A gzipped IDX file as a numpy uint8 array of its dimensions."""
    import numpy as np
    raw = gzip.open(path, "rb").read()
    magic = struct.unpack(">I", raw[:4])[0]
    if magic >> 8 != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file (magic {magic:#010x})")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def png_bytes(img):
    """A uint8 [H, W, 3] image as PNG bytes (colour type 2, 8 bits, filter 0 on every row)."""
    import numpy as np
    h, w, _ = img.shape
    rows = np.zeros((h, 1 + 3 * w), np.uint8)
    rows[:, 1:] = img.reshape(h, 3 * w)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def make_data(args, log):
    """The folder and the .npy pair in args.data_dir (made once; reused with a marker)."""
    import numpy as np
    d, n = args.data_dir, args.images
    want = {"images": n, "seed": SEED, "side": SIDE, "version": 1}
    paths = {"folder": d / "folder", "images": d / "npy/images.npy",
             "labels": d / "npy/labels.npy"}
    if (d / MARKER).is_file() and json.loads((d / MARKER).read_text()) == want:
        print(f"data: reusing {d}", file=log, flush=True)
        return paths
    if d.is_dir() and any(d.iterdir()) and not ((d / MARKER).is_file() or (d / MAKING).is_file()):
        sys.exit(f"{d} is not empty and was not made by this script; pass another --data-dir")
    for stale in (d / "folder", d / "npy"):
        shutil.rmtree(stale, ignore_errors=True)
    (d / MARKER).unlink(missing_ok=True)
    t0 = time.perf_counter()
    print(f"data: making {n} PNGs and the .npy pair in {d}", file=log, flush=True)
    for c in range(CLASSES):
        (paths["folder"] / str(c)).mkdir(parents=True, exist_ok=True)
    (d / "npy").mkdir(exist_ok=True)
    (d / MAKING).write_text("")
    grey = read_idx(DIGITS / "train-images-idx3-ubyte.gz")
    digit_labels = read_idx(DIGITS / "train-labels-idx1-ubyte.gz").astype(np.int64)
    big = grey.repeat(SCALE, axis=1).repeat(SCALE, axis=2).astype(np.float32) / 255.0
    rng = np.random.default_rng(SEED)
    fg = rng.integers(0, 256, (n, CHANNELS)).astype(np.float32)
    bg = rng.integers(0, 256, (n, CHANNELS)).astype(np.float32)
    which = np.arange(n) % grey.shape[0]
    images = np.empty((n, SIDE, SIDE, CHANNELS), np.uint8)
    for s in range(0, n, 5000):
        i = which[s:s + 5000]
        g = big[i][..., None]
        f, b = fg[s:s + 5000, None, None, :], bg[s:s + 5000, None, None, :]
        images[s:s + 5000] = np.clip(np.rint(b + (f - b) * g), 0, 255).astype(np.uint8)
    labels = digit_labels[which]
    for k in range(n):
        (paths["folder"] / str(labels[k]) / f"{k:06d}.png").write_bytes(png_bytes(images[k]))
    np.save(paths["images"], images)
    np.save(paths["labels"], labels)
    (d / MARKER).write_text(json.dumps(want))
    (d / MAKING).unlink()
    print(f"data: made in {time.perf_counter() - t0:.1f} s", file=log, flush=True)
    return paths


# ----------------------------------------------------------------------- PyTorch worker


def torch_worker(args):
    """Child process: one epoch of the MLP VAE through a DataLoader; prints JSON."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.data import DataLoader, Dataset

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    d, n = args.data_dir, args.images
    n_test = min(max(round(n * TEST_FRACTION), 1), n - 1)
    train = np.sort(np.random.default_rng(SEED).permutation(n)[n_test:])

    class FolderDataset(Dataset):
        """ImageFolder's layout and scan; PIL decodes one image per item."""
        def __init__(self, root, keep):
            from PIL import Image
            self.image = Image
            classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
            items = [(os.path.join(root, c, f), i) for i, c in enumerate(classes)
                     for f in sorted(os.listdir(os.path.join(root, c)))]
            self.items = [items[k] for k in keep]

        def __len__(self):
            return len(self.items)

        def __getitem__(self, k):
            path, label = self.items[k]
            with self.image.open(path) as im:
                a = np.asarray(im.convert("RGB"), dtype=np.uint8)
            return torch.from_numpy(a.reshape(-1).astype(np.float32) / 255.0), label

    class NpyDataset(Dataset):
        def __init__(self, images, labels, keep):
            self.x, self.y, self.keep = np.load(images, mmap_mode="r"), np.load(labels), keep

        def __len__(self):
            return len(self.keep)

        def __getitem__(self, k):
            i = self.keep[k]
            a = np.asarray(self.x[i], dtype=np.float32).reshape(-1) / 255.0
            return torch.from_numpy(a), int(self.y[i])

    t_setup = time.perf_counter()
    data = FolderDataset(str(d / "folder"), train) if args.torch_worker == "folder" else \
        NpyDataset(d / "npy/images.npy", d / "npy/labels.npy", train)
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, num_workers=args.workers,
                        generator=torch.Generator().manual_seed(SEED))
    setup = time.perf_counter() - t_setup

    enc, enc_mean, enc_log_var = nn.Linear(X_DIM, H_DIM), nn.Linear(H_DIM, Z_DIM), \
        nn.Linear(H_DIM, Z_DIM)
    dec_hidden, dec_out = nn.Linear(Z_DIM, H_DIM), nn.Linear(H_DIM, X_DIM)
    model = nn.ModuleList([enc, enc_mean, enc_log_var, dec_hidden, dec_out])
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    t0, seen, loss_sum = time.perf_counter(), 0, 0.0
    for x, _ in loader:
        x = torch.bernoulli(x)
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
        seen += x.shape[0]
        loss_sum += loss.item() * x.shape[0]
    seconds = time.perf_counter() - t0
    print(json.dumps({"images": seen, "seconds": seconds, "images_per_second": seen / seconds,
                      "setup_seconds": setup, "train_loss": loss_sum / seen,
                      "threads": torch.get_num_threads(), "workers": args.workers,
                      "torch_version": torch.__version__}), flush=True)


# ----------------------------------------------------------------------------- runners


def run_child(cmd, env, name):
    """Run cmd to completion: (stdout, peak RSS MiB, wall seconds). Exits on failure with the
    command and its stderr."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO_ROOT, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code != 0:
        sys.exit(f"{name} failed with exit status {code}\n  command: {' '.join(cmd)}\n"
                 f"  stderr:\n{stderr.strip()}\n  stdout (tail):\n{stdout.strip()[-2000:]}")
    return stdout, usage.ru_maxrss / 1024.0, seconds


def run_decode(args, paths, env):
    cmd = [str(args.binary), "data", "show", str(paths["folder"]), "--json"]
    stdout, rss, wall = run_child(cmd, env, "latent data show")
    shown = json.loads(stdout) if stdout.strip().startswith("{") else None
    return {"wall": wall, "rate": args.images / wall, "rss": rss, "cmd": cmd, "shown": shown}


def run_ours(args, paths, kind, env):
    data = ["--data", str(paths["folder"])] if kind == "folder" else \
        ["--data", str(paths["images"]), "--labels", str(paths["labels"])]
    with tempfile.TemporaryDirectory(prefix="own_data_loading_") as tmp:
        run_dir = pathlib.Path(tmp) / "run"
        cmd = [str(args.binary), "train", "vae"] + data + \
            ["--epochs", "1", "--out", str(run_dir), "--seed", str(SEED)]
        _, rss, wall = run_child(cmd, env, f"latent train ({kind})")
        lines = (run_dir / "metrics.jsonl").read_text().strip().splitlines()
        if not lines:
            sys.exit(f"latent train ({kind}): empty metrics.jsonl")
        rate = float(json.loads(lines[-1])["samples_per_second"])
        config = json.loads((run_dir / "config.json").read_text())
        config = {k: config.get(k) for k in ("model", "batch_size", "lr", "execution")}
    cmd[cmd.index("--out") + 1] = "TMP/run"
    return {"wall": wall, "rate": rate, "rss": rss, "cmd": cmd, "config": config}


def run_torch(args, kind, env):
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--torch-worker", kind,
           "--images", str(args.images), "--data-dir", str(args.data_dir),
           "--threads", str(args.threads), "--workers", str(args.workers)]
    stdout, rss, wall = run_child(cmd, env, f"PyTorch worker ({kind})")
    report = json.loads(stdout.strip().splitlines()[-1])
    return {"wall": wall, "rate": float(report["images_per_second"]), "rss": rss, "cmd": cmd,
            "report": report}


# ------------------------------------------------------------------------------ report


def model_bytes():
    layers = [(X_DIM, H_DIM), (H_DIM, Z_DIM), (H_DIM, Z_DIM), (Z_DIM, H_DIM), (H_DIM, X_DIM)]
    params = sum(i * o + o for i, o in layers)
    return params, 3 * 4 * params  # float32 parameters + Adam's first and second moments


def summarise(name, runs):
    return {"what": name, "wall_s": statistics.median(r["wall"] for r in runs),
            "images_per_second": statistics.median(r["rate"] for r in runs),
            "peak_rss_mib": max(r["rss"] for r in runs),
            "wall_s_runs": [r["wall"] for r in runs],
            "images_per_second_runs": [r["rate"] for r in runs],
            "peak_rss_mib_runs": [r["rss"] for r in runs], "command": runs[-1]["cmd"]}


def print_report(res):
    print(f"# Own-data training throughput: latent vs PyTorch DataLoader ({res['date']})")
    print(f"machine:  CPU {res['cpu']!r}, {res['cpu_count']} logical CPUs, threads "
          f"{res['threads']} (RAYON/OMP/OPENBLAS/MKL_NUM_THREADS, torch.set_num_threads)")
    print(f"data:     {res['images']} PNGs 32x32 RGB in {res['data_dir']}/folder (10 classes) "
          f"and the same as uint8 .npy; one epoch over {res['train_images']} images (90%), "
          f"batch {BATCH}, MLP VAE 3072-400-20; torch {res['torch_version']}, DataLoader "
          f"num_workers={res['workers']}; {res['reps']} repetition(s), medians (each column "
          f"on its own; the ratios are of medians)\n")
    rows = res["rows"]
    table = []
    for r in rows:
        rate = "-" if r["key"] == "decode" else f"{r['images_per_second']:,.0f}"
        ratio = r.get("vs_pytorch")
        table.append([r["what"], f"{r['wall_s']:.2f}", rate, f"{r['peak_rss_mib']:.0f}",
                      f"{ratio['wall']:.2f}" if ratio else "-",
                      f"{ratio['images_per_second']:.2f}" if ratio else "-",
                      f"{ratio['peak_rss']:.2f}" if ratio else "-"])
    markdown_table(["what", "wall s", "training images/s", "peak RSS MiB (max)", "wall ours/PT",
                    "images/s ours/PT", "RSS ours/PT"], table)
    dec = next(r for r in rows if r["key"] == "decode")
    print(f"\ndecode: {res['images']} PNGs in {dec['wall_s']:.2f} s = "
          f"{res['images'] / dec['wall_s']:,.0f} images/s (whole `latent data show` process).")
    m = res["memory"]
    print(f"\nmemory bound: 1.5 x {m['data_bytes']:,} B (uint8 data) + {m['model_bytes']:,} B "
          f"(model: {m['params']:,} float32 parameters + Adam m, v) = {m['bound_mib']:.0f} MiB\n")
    markdown_table(["what", "peak RSS MiB", "bound MiB", "RSS / bound", "within"],
                   [[r["what"], f"{r['peak_rss_mib']:.0f}", f"{m['bound_mib']:.0f}",
                     f"{r['peak_rss_mib'] / m['bound_mib']:.2f}",
                     "yes" if r["peak_rss_mib"] <= m["bound_mib"] else
                     f"no (+{r['peak_rss_mib'] - m['bound_mib']:.0f} MiB)"] for r in rows])
    print("\ncommands (TMP: a fresh temporary directory per run):")
    for r in rows:
        print(f"  {r['what']}: RAYON_NUM_THREADS={res['threads']} {' '.join(r['command'])}")


def main():
    args = parse_args()
    thread_env = {name: str(args.threads) for name in THREAD_VARS}
    os.environ.update(thread_env)
    if args.torch_worker:
        return torch_worker(args)
    if args.make_data:
        make_data(args, sys.stdout)
        print(f"data in {args.data_dir}: folder/ and npy/")
        return None
    if not (args.binary.is_file() and os.access(args.binary, os.X_OK)):
        sys.exit(f"latent binary not found (or not executable): {args.binary}\n"
                 f"  build it with `cargo build --release -p latent` or pass --binary PATH")
    import importlib.util
    for module, pkg in (("torch", "torch"), ("numpy", "numpy"), ("PIL", "pillow")):
        if importlib.util.find_spec(module) is None:
            sys.exit(f"{module} is not installed: python3 -m pip install {pkg}")
    log = sys.stderr if args.json else sys.stdout
    paths = make_data(args, log)
    env = dict(os.environ, **thread_env)
    runs = {k: [] for k in ("decode", "ours_folder", "torch_folder", "ours_npy", "torch_npy")}
    for rep in range(1, args.reps + 1):
        for key, fn in (("decode", lambda: run_decode(args, paths, env)),
                        ("ours_folder", lambda: run_ours(args, paths, "folder", env)),
                        ("torch_folder", lambda: run_torch(args, "folder", env)),
                        ("ours_npy", lambda: run_ours(args, paths, "npy", env)),
                        ("torch_npy", lambda: run_torch(args, "npy", env))):
            r = fn()
            runs[key].append(r)
            print(f"rep {rep}/{args.reps}  {key:13} wall {r['wall']:7.2f} s  "
                  f"{r['rate']:9,.0f} images/s  peak RSS {r['rss']:6.0f} MiB", file=log,
                  flush=True)
    w = args.workers
    names = {"decode": "latent data show (decode only)", "ours_folder": "latent, folder",
             "torch_folder": f"PyTorch, folder (PIL, workers={w})", "ours_npy": "latent, npy",
             "torch_npy": f"PyTorch, npy (mmap, workers={w})"}
    rows = {k: dict(summarise(names[k], v), key=k) for k, v in runs.items()}
    for ours, ref in (("ours_folder", "torch_folder"), ("ours_npy", "torch_npy")):
        o, t = rows[ours], rows[ref]
        o["vs_pytorch"] = {"wall": o["wall_s"] / t["wall_s"],
                           "images_per_second": o["images_per_second"] / t["images_per_second"],
                           "peak_rss": o["peak_rss_mib"] / t["peak_rss_mib"]}
    params, mbytes = model_bytes()
    data_bytes = args.images * X_DIM
    bound = (1.5 * data_bytes + mbytes) / 2 ** 20
    last_torch = runs["torch_npy"][-1]["report"]
    res = {"date": datetime.date.today().isoformat(), "cpu": cpu_text(),
           "cpu_count": os.cpu_count(), "threads": args.threads, "workers": args.workers,
           "reps": args.reps, "images": args.images, "train_images": last_torch["images"],
           "data_dir": str(args.data_dir), "torch_version": last_torch["torch_version"],
           "binary": str(args.binary),
           "decode_shown": runs["decode"][-1]["shown"],
           "latent_config": runs["ours_folder"][-1]["config"],
           "torch_reports": {k: [r["report"] for r in runs[k]]
                             for k in ("torch_folder", "torch_npy")},
           "memory": {"data_bytes": data_bytes, "params": params, "model_bytes": mbytes,
                      "bound_mib": bound,
                      "within": {k: r["peak_rss_mib"] <= bound for k, r in rows.items()}},
           "rows": list(rows.values())}
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print()
        print_report(res)


if __name__ == "__main__":
    sys.exit(main())
