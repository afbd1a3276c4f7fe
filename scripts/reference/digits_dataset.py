#!/usr/bin/env python3
"""Generate datasets/digits/: scikit-learn's 8x8 optical digits as gzipped IDX files.

Source: sklearn.datasets.load_digits(), 1,797 images of 8 x 8 integer grey levels 0..16 with
labels 0..9. It is the test part ("optdigits.tes") of the UCI "Optical Recognition of
Handwritten Digits" data set (E. Alpaydin and C. Kaynak, 1998; CC BY 4.0, see
datasets/digits/README.md and LICENSE).

What is written, in the layout of datasets/mnist/:

* Grey levels are rescaled from 0..16 to 0..255 as round(v * 255 / 16), i.e.
  0, 16, 32, 48, 64, 80, 96, 112, 128, 143, 159, 175, 191, 207, 223, 239, 255 for v = 0..16.
  The only tie is v = 8 (127.5), which becomes 128 (round-half-even and round-half-up agree).
* A fixed, seeded, class-stratified split: rng = numpy.random.default_rng(0); for each class
  c = 0, 1, ..., 9 in turn, rng.choice(indices of class c in the original order, 30,
  replace=False) go to the test set (10 x 30 = 300 images); the other 1,497 images form the
  training set. Within each set the images keep their order in load_digits().
* Four gzipped IDX files named like MNIST's:
    train-images-idx3-ubyte.gz  magic 0x00000803, dims [1497, 8, 8], unsigned bytes
    train-labels-idx1-ubyte.gz  magic 0x00000801, dims [1497]
    t10k-images-idx3-ubyte.gz   magic 0x00000803, dims [300, 8, 8]
    t10k-labels-idx1-ubyte.gz   magic 0x00000801, dims [300]
  IDX: a big-endian magic (two zero bytes, type code 0x08 = unsigned byte, number of dims),
  each dim as a big-endian u32, then the bytes in row-major order.
* The gzip streams are written reproducibly (no file name, mtime 0, compression level 9), so
  rerunning the script gives byte-identical files (given the same zlib).
* SHA256SUMS in the format of datasets/mnist/SHA256SUMS ("HEX  NAME" lines, sorted by name).

The script decodes every file it wrote and checks it against the source arrays, then prints
the class counts of both sets and the SHA-256 sums.

Run from anywhere (install the pinned versions with
`python3 -m pip install -r scripts/reference/requirements.txt`):

    python3 scripts/reference/digits_dataset.py [--out-dir DIR]
"""
import argparse
import gzip
import hashlib
import io
import pathlib
import struct

import numpy as np
import sklearn
from sklearn.datasets import load_digits

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "datasets" / "digits"
SPLIT_SEED = 0
TEST_PER_CLASS = 30
N_CLASSES = 10
N_TOTAL = 1797
MAX_LEVEL = 16

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def scale_levels(levels):
    """0..16 -> 0..255 as round(v * 255 / 16)."""
    levels = np.asarray(levels)
    if levels.min() < 0 or levels.max() > MAX_LEVEL or not np.all(levels == np.floor(levels)):
        raise ValueError("expected integer grey levels in 0..16")
    scaled = np.round(levels.astype(np.float64) * 255.0 / MAX_LEVEL).astype(np.uint8)
    # The same with integer round-half-up; the only tie (v = 8 -> 127.5) rounds to 128 both ways.
    half_up = (levels.astype(np.int64) * 255 + MAX_LEVEL // 2) // MAX_LEVEL
    assert np.array_equal(scaled, half_up)
    return scaled


def stratified_split(labels):
    """Boolean test mask: TEST_PER_CLASS images of each class, drawn with default_rng(0)."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.zeros(labels.shape[0], dtype=bool)
    for c in range(N_CLASSES):
        members = np.flatnonzero(labels == c)
        chosen = rng.choice(members, size=TEST_PER_CLASS, replace=False)
        test[chosen] = True
    return test


def idx_bytes(array):
    """IDX encoding of a uint8 array: magic 0x0000 08 ndim, big-endian u32 dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes(order="C")


def gzip_bytes(payload):
    """A reproducible gzip stream: no file name, mtime 0, level 9."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(payload)
    return buf.getvalue()


def decode_idx_gz(path):
    """Read back a gzipped IDX file of unsigned bytes, checking its header."""
    data = gzip.decompress(path.read_bytes())
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: bad IDX magic {data[:4].hex()}")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data[4 + 4 * ndim:], dtype=np.uint8)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {int(np.prod(dims))} bytes, found {body.size}")
    magic = struct.unpack(">I", data[:4])[0]
    return magic, dims, body.reshape(dims)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    digits = load_digits()
    levels = digits.images                      # (1797, 8, 8) float64, integers 0..16
    labels = digits.target.astype(np.int64)     # (1797,)
    if levels.shape != (N_TOTAL, 8, 8) or labels.shape != (N_TOTAL,):
        raise ValueError(f"unexpected load_digits shapes {levels.shape}, {labels.shape}")
    if not np.array_equal(levels.reshape(N_TOTAL, 64), digits.data):
        raise ValueError("digits.images and digits.data disagree")

    pixels = scale_levels(levels)
    test = stratified_split(labels)
    train_idx = np.flatnonzero(~test)           # ascending: original order kept
    test_idx = np.flatnonzero(test)
    arrays = {
        "train_images": pixels[train_idx],
        "train_labels": labels[train_idx].astype(np.uint8),
        "test_images": pixels[test_idx],
        "test_labels": labels[test_idx].astype(np.uint8),
    }

    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    sums = {}
    for key, name in FILES.items():
        blob = gzip_bytes(idx_bytes(arrays[key]))
        (out / name).write_bytes(blob)
        sums[name] = hashlib.sha256(blob).hexdigest()
    lines = "".join(f"{sums[name]}  {name}\n" for name in sorted(sums))
    (out / "SHA256SUMS").write_text(lines)

    # Decode everything back and compare with the source arrays.
    expected_magic = {"train_images": 0x803, "train_labels": 0x801,
                      "test_images": 0x803, "test_labels": 0x801}
    for key, name in FILES.items():
        magic, dims, decoded = decode_idx_gz(out / name)
        assert magic == expected_magic[key], (name, hex(magic))
        assert tuple(dims) == arrays[key].shape, (name, dims)
        assert np.array_equal(decoded, arrays[key]), name
    train_back = decode_idx_gz(out / FILES["train_images"])[2]
    test_back = decode_idx_gz(out / FILES["test_images"])[2]
    lab_train_back = decode_idx_gz(out / FILES["train_labels"])[2]
    lab_test_back = decode_idx_gz(out / FILES["test_labels"])[2]
    # The scaling is invertible: round(p * 16 / 255) gives back the original levels.
    assert np.array_equal(np.round(train_back / 255.0 * MAX_LEVEL).astype(np.int64),
                          levels[train_idx].astype(np.int64))
    assert np.array_equal(np.round(test_back / 255.0 * MAX_LEVEL).astype(np.int64),
                          levels[test_idx].astype(np.int64))
    assert np.array_equal(lab_train_back, labels[train_idx])
    assert np.array_equal(lab_test_back, labels[test_idx])
    assert np.intersect1d(train_idx, test_idx).size == 0
    assert train_idx.size + test_idx.size == N_TOTAL

    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    print(f"wrote {out}: train {arrays['train_images'].shape}, test {arrays['test_images'].shape}")
    header = "class " + " ".join(f"{c:>4}" for c in range(N_CLASSES)) + "  total"
    print(header)
    for name, lab in (("train", arrays["train_labels"]), ("test", arrays["test_labels"])):
        counts = np.bincount(lab, minlength=N_CLASSES)
        print(f"{name:<5} " + " ".join(f"{n:>4}" for n in counts) + f"  {counts.sum():>5}")
    print("SHA256SUMS:")
    print(lines, end="")


if __name__ == "__main__":
    main()
