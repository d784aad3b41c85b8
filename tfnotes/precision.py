"""The arithmetic precision of a session: float32 (the course's) or bfloat16 mixed precision.

fp32 is TensorFlow's plain float32 session, exactly as before. bf16 leaves the graph as it is (every
variable, optimizer slot and moving average, and so every checkpoint, stays float32) and asks one of
TensorFlow's graph rewrites (grappler) to run the heavy ops in a 16-bit type, casting at their edges:

- on a CPU, oneDNN's auto-mixed-precision rewrite to bfloat16 (RewriterConfig
  auto_mixed_precision_onednn_bfloat16). It is used only where the processor has bfloat16
  instructions (AVX512_BF16 or AMX-BF16, read from /proc/cpuinfo) and TensorFlow's oneDNN kernels are
  on; elsewhere bf16 stops with a ConfigError that says what is missing, rather than run slower;
- on a GPU, TensorFlow's GPU auto-mixed-precision rewrite (RewriterConfig auto_mixed_precision), which
  computes in float16, the GPU rewrite TensorFlow offers (no loss scaling).
"""
import os

from tfnotes.errors import ConfigError
from tfnotes.tfenv import tf, tf2

PRECISIONS = ("fp32", "bf16")
DEFAULT = "fp32"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")   # either one gives oneDNN bfloat16 kernels
SHOWN_CPU_FLAGS = ("avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")
CPUINFO = "/proc/cpuinfo"
PRECISION_HELP = ("fp32: float32, the course's; bf16: bfloat16 mixed precision (weights, moving averages and "
                  "checkpoints stay float32) on a CPU with AVX512_BF16 or AMX, or the GPU rewrite on a GPU")


def cpu_flags(path=CPUINFO):
    """The processor's feature flags (a frozenset) from /proc/cpuinfo, or None where it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        return None
    return frozenset()


def gpu_present():
    """Whether TensorFlow sees a GPU."""
    return bool(tf2.config.list_physical_devices("GPU"))


def onednn_on():
    """Whether TensorFlow's oneDNN kernels are on in this process: without them the bfloat16 rewrite does nothing."""
    tf.Graph  # noqa: B018  (TensorFlow loaded, through tfenv, before its private module below is imported)
    try:  # private, but the one way to ask whether oneDNN is on in this process (TF's default depends on the CPU)
        from tensorflow.python.util._pywrap_util_port import IsMklEnabled
    except ImportError:
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0"
    return bool(IsMklEnabled())


def shown_cpu_flags():
    """The flags that matter for speed here, as text (for benchmarks and messages)."""
    flags = cpu_flags()
    if flags is None:
        return f"unknown ({CPUINFO} unreadable)"
    return " ".join(f for f in SHOWN_CPU_FLAGS if f in flags) or "none of " + ", ".join(SHOWN_CPU_FLAGS)


def cpu_summary():
    """The processor's name and its flags that matter here, e.g. 'AMD EPYC (avx512f avx512_bf16 avx512_vnni)'."""
    name = "unknown processor"
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name} ({shown_cpu_flags()})"


def bf16_device():
    """'gpu' or 'cpu': where bf16 runs. ConfigError naming what is missing where it cannot run fast."""
    if gpu_present():
        return "gpu"
    flags = cpu_flags()
    if flags is None:
        raise ConfigError(f"--precision bf16: cannot read the processor's flags ({CPUINFO}); bfloat16 needs "
                          f"AVX512_BF16 or AMX-BF16. Use --precision fp32.")
    if not any(f in flags for f in BF16_CPU_FLAGS):
        raise ConfigError("--precision bf16 needs a processor with bfloat16 instructions: this one has neither "
                          f"{' nor '.join(BF16_CPU_FLAGS)} in {CPUINFO} (and TensorFlow sees no GPU); it would "
                          "only run slower. Use --precision fp32.")
    if not onednn_on():
        raise ConfigError("--precision bf16 needs TensorFlow's oneDNN kernels, which are off in this process "
                          "(TF_ENABLE_ONEDNN_OPTS=0?): unset TF_ENABLE_ONEDNN_OPTS, or use --precision fp32.")
    return "cpu"


def session_config(precision):
    """The tf.ConfigProto for `precision` (None for fp32: TensorFlow's defaults, as before).

    Raises ConfigError for an unknown precision, or for bf16 where it cannot run (see bf16_device).
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return None
    config = tf.ConfigProto()
    rewrites = config.graph_options.rewrite_options
    on = type(rewrites).ON  # RewriterConfig.ON
    if bf16_device() == "gpu":
        rewrites.auto_mixed_precision = on
    else:
        rewrites.auto_mixed_precision_onednn_bfloat16 = on
    return config


def describe(precision):
    """A few words for progress lines: which arithmetic runs."""
    if precision == "fp32":
        return "fp32"
    if gpu_present():
        return "bf16 flag: GPU auto mixed precision (float16)"
    return "bf16 (oneDNN auto mixed precision)"
