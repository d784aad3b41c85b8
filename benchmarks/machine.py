"""What every speed benchmark says about the machine it ran on: the processor, and whether other work shared it.

A figure for the docs comes from a run on a quiet machine. Speed shifts with other work, so each benchmark says
how much of the processor went to *other* processes: in the second before it starts, and over the whole run (the
processor's busy time from /proc/stat minus the benchmark's own CPU time, children included). Over OTHER_SHARE
it warns, and a run with that warning is not published. The load average is printed too, but it cannot judge a
run: it counts the benchmark's own threads, and a job that ended a minute ago still weighs on it.
"""
import os
import resource
import time

from tfnotes import precision

OTHER_SHARE = 0.1     # share of the processor's time (all cores) taken by other processes that makes a run busy
SAMPLE_S = 1.0        # how long the start looks at the processor before the benchmark begins

_start = None         # (processor busy s, processor total s, own CPU s) at describe("start")


def load_average():
    """The 1, 5 and 15 minute load averages as text ('unknown' where the system has none)."""
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def processor_times():
    """(busy s, total s) of all cores since boot, from /proc/stat; None where there is no such file."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]                    # idle + iowait
    return (sum(values) - idle) / tick, sum(values) / tick


def own_cpu():
    """CPU seconds of this process and of its children that have ended."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def other_share(before, after):
    """The share of the processor's time between two (busy, total, own CPU) readings that other processes took."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return max(0.0, busy - (after[2] - before[2])) / total if total > 0 else 0.0


def reading():
    """(processor busy s, processor total s, own CPU s) now; None where there is no /proc/stat."""
    times = processor_times()
    return None if times is None else (*times, own_cpu())


def describe(when, out=print):
    """Print the processor (at the start), the load average and the share of the processor other work took (the
    second before the start; the whole run at the end); warn when it is over OTHER_SHARE. Returns True then."""
    global _start
    cpus = os.cpu_count() or 1
    if when == "start":
        out(f"processor: {precision.cpu_summary()}; cpus: {cpus}; load average at the start: {load_average()}")
        first = reading()
        time.sleep(SAMPLE_S if first else 0)
        _start = reading()
        share = other_share(first, _start) if first and _start else None
        span = f"the {SAMPLE_S:g} s before the start"
    else:
        out(f"load average at the end: {load_average()}")
        now = reading()
        share = other_share(_start, now) if _start and now else None
        span = "the run"
    if share is None:
        out(f"other work: unknown (no /proc/stat) in {span}")
        return False
    out(f"other work: {share:.0%} of the processor in {span}")
    if share > OTHER_SHARE:
        out(f"warning: other processes took {share:.0%} of the processor in {span} (over {OTHER_SHARE:.0%}): "
            "these figures are not for the docs")
    return share > OTHER_SHARE
