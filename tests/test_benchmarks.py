"""The benchmarks say what they measured on: the processor, and the share of it other work took before and
during the run, with a warning when that is too much; bench_augment prints both summaries of the cost, with the rounds'
spread."""
import re

from benchmarks import bench_augment, machine


def test_a_run_shared_with_other_work_is_named_and_a_quiet_one_is_not(monkeypatch):
    # (busy s, total s) of the processor, as /proc/stat would give them, and the benchmark's own CPU s.
    times = iter([(100.0, 400.0), (101.0, 402.0), (103.0, 412.0)])
    cpu = iter([5.0, 5.0, 13.5])
    monkeypatch.setattr(machine, "processor_times", lambda: next(times))
    monkeypatch.setattr(machine, "own_cpu", lambda: next(cpu))
    monkeypatch.setattr(machine.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (2.4, 1.0, 0.9))   # a job that just ended: no judge
    lines = []
    # The second before the start: 1 of 2 processor-seconds busy, none of it ours: other work took 50 %.
    assert machine.describe("start", lines.append) is True
    assert lines[0].startswith("processor: ") and "load average at the start: 2.4 1.0 0.9" in lines[0]
    assert lines[1:] == ["other work: 50% of the processor in the 1 s before the start",
                         "warning: other processes took 50% of the processor in the 1 s before the start (over 10%): "
                         "these figures are not for the docs"]
    lines.clear()
    # The run: 2 of 10 processor-seconds busy, less than the benchmark's own 8.5 s of CPU: none left for others.
    assert machine.describe("end", lines.append) is False
    assert lines == ["load average at the end: 2.4 1.0 0.9", "other work: 0% of the processor in the run"]


def test_other_work_is_the_busy_time_the_benchmark_did_not_use():
    assert machine.other_share((0.0, 0.0, 0.0), (12.0, 20.0, 10.0)) == 0.1     # 2 of 20 s
    assert machine.other_share((0.0, 0.0, 0.0), (12.0, 20.0, 14.0)) == 0.0     # never below nothing
    assert machine.other_share((5.0, 5.0, 0.0), (5.0, 5.0, 0.0)) == 0.0       # no time passed


def test_without_proc_stat_it_says_so(monkeypatch):
    monkeypatch.setattr(machine, "processor_times", lambda: None)
    lines = []
    assert machine.describe("start", lines.append) is False
    assert lines[1] == "other work: unknown (no /proc/stat) in the 1 s before the start"


def test_bench_augment_prints_both_summaries_of_the_cost(monkeypatch, capsys):
    speeds = iter([300.0, 200.0, 310.0, 190.0, 290.0, 210.0])  # plain, augmented, for three rounds
    monkeypatch.setattr(bench_augment, "steps_per_sec", lambda script, steps, augmented: next(speeds))
    monkeypatch.setattr(machine, "reading", lambda: (0.0, 1.0, 0.0))   # a quiet processor
    monkeypatch.setattr(machine.time, "sleep", lambda seconds: None)
    assert bench_augment.main(["--rounds", "3"]) == 0
    out = capsys.readouterr().out
    assert "ratio of the medians 1.50x (the target: <= 1.5x, met)" in out   # 300 / 200
    assert "median of the rounds' ratios 1.50x, the rounds from 1.38x to 1.63x" in out
    assert re.search(r"plain 290\.0 to 310\.0, --augment 190\.0 to 210\.0", out)
    assert "warning" not in out
