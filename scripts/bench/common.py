"""Helpers shared by the benchmark scripts in this folder."""
import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def latent_binary(profile):
    """The `latent` binary of a cargo profile ("debug" or "release"): under $CARGO_TARGET_DIR
    when it is set (relative to the repository root if relative), else under target/."""
    target = os.environ.get("CARGO_TARGET_DIR")
    base = pathlib.Path(target) if target else REPO_ROOT / "target"
    if not base.is_absolute():
        base = REPO_ROOT / base
    return base / profile / "latent"


def markdown_table(header, rows):
    """Prints a Markdown table: the first column left-aligned, the others right-aligned."""
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for row in rows:
        print("| " + " | ".join(row) + " |")
