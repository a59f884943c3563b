"""Choosing and setting the Keras dtype policy (float32 or mixed precision).

Mixed precision only pays where the hardware has fast low-precision math: tensor cores on NVIDIA
GPUs of compute capability >= 7.0 (float16), or CPUs with native bfloat16 instructions
(AVX512_BF16 / AMX). Elsewhere a mixed policy only adds casts, so "auto" falls back to float32.
The policy is global in Keras: set it before building the model, in the same process.
"""

import keras
import tensorflow as tf

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
CHOICES = ("auto",) + POLICIES

# /proc/cpuinfo flags meaning the CPU computes bfloat16 natively (oneDNN then uses them).
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo_path="/proc/cpuinfo"):
    """The set of CPU feature flags from the first `flags` line of cpuinfo; empty if unreadable."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass  # not Linux, or sandboxed: no evidence of bf16, so auto stays float32
    return set()


def gpu_compute_capabilities():
    """[(major, minor), ...] for each visible GPU; empty list on CPU-only machines."""
    caps = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        caps.append(tuple(details.get("compute_capability") or (0, 0)))
    return caps


def auto_policy(gpu_capabilities=None, flags=None):
    """The fastest policy that is safe on this machine.

    Args:
      gpu_capabilities: list of (major, minor); default: probe the visible GPUs.
      flags: set of CPU flags; default: read /proc/cpuinfo.

    Returns:
      "mixed_float16", "mixed_bfloat16" or "float32".
    """
    if gpu_capabilities is None:
        gpu_capabilities = gpu_compute_capabilities()
    if gpu_capabilities:
        # Every replica runs the same policy: the slowest GPU decides.
        return "mixed_float16" if min(gpu_capabilities) >= (7, 0) else "float32"
    if flags is None:
        flags = cpu_flags()
    if flags & set(_BF16_CPU_FLAGS):
        return "mixed_bfloat16"
    return "float32"


def resolve_policy(policy):
    """Map a --precision choice to a concrete policy name; ValueError for unknown names."""
    if policy not in CHOICES:
        raise ValueError(f"unknown precision policy {policy!r}; choose one of {list(CHOICES)}")
    return auto_policy() if policy == "auto" else policy


def set_precision(policy="auto"):
    """Set the global Keras dtype policy and return its name.

    Call before building the model (layers read the global policy when they are created). Keras
    wraps the optimizer in a LossScaleOptimizer itself at compile time under mixed_float16.

    Returns:
      str, e.g. "float32" or "mixed_bfloat16".
    """
    name = resolve_policy(policy)
    keras.mixed_precision.set_global_policy(name)
    return name
