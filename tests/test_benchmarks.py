"""The benchmarks say what they measured on: the processor and the load before and after, with a warning on a busy
machine; bench_augment prints both summaries of the cost, with the rounds' spread."""
import re

from benchmarks import bench_augment, machine


def test_a_busy_machine_is_named_and_a_quiet_one_is_not(monkeypatch):
    lines = []
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (1.4, 1.0, 0.9))
    assert machine.describe("start", lines.append) is True
    assert lines[0].startswith("processor: ") and "load average at the start: 1.4 1.0 0.9" in lines[0]
    assert lines[1].startswith("warning: load average 1.4 is over 0.5 per core on 2 cores (start)")
    lines.clear()
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (0.6, 1.0, 0.9))
    assert machine.describe("end", lines.append) is False
    assert lines == ["load average at the end: 0.6 1.0 0.9"]


def test_bench_augment_prints_both_summaries_of_the_cost(monkeypatch, capsys):
    speeds = iter([300.0, 200.0, 310.0, 190.0, 290.0, 210.0])  # plain, augmented, for three rounds
    monkeypatch.setattr(bench_augment, "steps_per_sec", lambda script, steps, augmented: next(speeds))
    monkeypatch.setattr(machine.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert bench_augment.main(["--rounds", "3"]) == 0
    out = capsys.readouterr().out
    assert "ratio of the medians 1.50x (the target: <= 1.5x, met)" in out   # 300 / 200
    assert "median of the rounds' ratios 1.50x, the rounds from 1.38x to 1.63x" in out
    assert re.search(r"plain 290\.0 to 310\.0, --augment 190\.0 to 210\.0", out)
    assert "warning" not in out
