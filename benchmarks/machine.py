"""What every speed benchmark says about the machine it ran on: the processor, and the load before and after.

A figure for the docs comes from a run on a quiet machine. Speed shifts with other work, so each benchmark
prints the load average at its start and its end and warns where it is over LOAD_PER_CORE per core; a run with
that warning is not published.
"""
import os

from tfnotes import precision

LOAD_PER_CORE = 0.5   # load average per core above which other work is running


def load_average():
    """The 1, 5 and 15 minute load averages as text ('unknown' where the system has none)."""
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def busy():
    """The 1-minute load average when it is over LOAD_PER_CORE per core, else None."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    return load if load > LOAD_PER_CORE * (os.cpu_count() or 1) else None


def describe(when, out=print):
    """Print the processor (at the start) and the load average; warn when the machine is busy.
    Returns True when it was."""
    cpus = os.cpu_count() or 1
    if when == "start":
        out(f"processor: {precision.cpu_summary()}; cpus: {cpus}; load average at the start: {load_average()}")
    else:
        out(f"load average at the end: {load_average()}")
    load = busy()
    if load is not None:
        out(f"warning: load average {load:.1f} is over {LOAD_PER_CORE} per core on {cpus} cores ({when}): other "
            "work shares the processor, so these figures are not for the docs")
    return load is not None
