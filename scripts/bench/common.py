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


def cpu_info():
    """The CPU's model name and the SIMD flags the benchmarks name ("?" and "" when
    /proc/cpuinfo cannot be read)."""
    model, flags = "?", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model == "?":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = " ".join(f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f") if f in flags)
    return model, simd


def cpu_text():
    """The CPU as the benchmarks print it beside their figures: "MODEL (SIMD: FLAGS)"."""
    model, simd = cpu_info()
    return f"{model} (SIMD: {simd or '?'})"
