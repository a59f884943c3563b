"""Timing and peak-memory helpers shared by bench_sam.py's rows (sam_text.py's too): calls
timed with the process's resident-set high-water mark, phases taking turns round by round."""

import platform
import resource
import statistics
import time


def _reset_peak():
    """Reset VmHWM so the next phase's peak is its own (Linux only; harmless elsewhere)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_call(fn, i):
    """(seconds, peak MB) of one call."""
    _reset_peak()
    start = time.perf_counter()
    fn(i)
    return time.perf_counter() - start, _peak_mb()


def timed_phases(phases, repeats):
    """Time each phase: one warm-up call, then `repeats` rounds that run the phases in
    turn, so a neighbour's load on a shared machine hits every phase alike.

    Returns:
      {name: (first call s, median s, peak MB)}.
    """
    first = {name: timed_call(fn, 0) for name, fn in phases.items()}
    rounds = {name: [] for name in phases}
    for i in range(repeats):
        for name, fn in phases.items():
            rounds[name].append(timed_call(fn, i + 1))
    return {
        name: (first[name][0], statistics.median(t for t, _ in rounds[name]),
               max([first[name][1]] + [m for _, m in rounds[name]]))
        for name in phases
    }


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
