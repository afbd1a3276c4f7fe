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


# Environment variables that keep PyTorch (ATen's kernels, oneDNN, MKL), numpy's OpenBLAS and
# glibc's string functions (memmove, memset: GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,...)
# below the instruction sets the CPU has: set them to measure an AVX2-only machine on an
# AVX-512 one (BENCHMARKS.md, *An AVX2-only machine, emulated* and *Held to AVX2 throughout*).
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
            "OPENBLAS_CORETYPE", "GLIBC_TUNABLES")


def cpu_text():
    """The CPU as the benchmarks print it beside their figures: "MODEL (SIMD: FLAGS)", and the
    instruction-set caps of ISA_CAPS in force, if any."""
    model, simd = cpu_info()
    caps = " ".join(f"{name}={os.environ[name]}" for name in ISA_CAPS if name in os.environ)
    return f"{model} (SIMD: {simd or '?'})" + (f", capped by {caps}" if caps else "")
