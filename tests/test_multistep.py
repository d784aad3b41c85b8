"""Several training steps per session call (a tf.while_loop in the graph): the same numbers as one step per call.

Progress lines, summaries and checkpoints stay on their steps, a stop requested during a call ends at a
step that resumes exactly, and the loop is used only where it gives the plain steps' numbers.
"""
import argparse
import io
import re
import signal

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tfnotes import checkpoints, training
from tfnotes.errors import ConfigError
from tfnotes.models import MODELS

import mnist_backward
from lenet5 import mnist_lenet5_backward

LOSS_LINE = re.compile(r"After (\d+) training step\(s\), loss on training batch is (\d[0-9.eE+-]*?)\.? ")


def losses(text):
    return {int(s): float(v) for s, v in LOSS_LINE.findall(text)}


def train(capsys, model_dir, *flags, code=0):
    got = mnist_backward.main(["--model-dir", str(model_dir), "--seed", "4", "--max-to-keep", "100"]
                              + [str(f) for f in flags])
    captured = capsys.readouterr()
    assert got == code, captured.err
    return captured.out


def weights(model_dir, step):
    reader = tf.train.load_checkpoint(str(model_dir / f"mnist_model-{step}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def assert_same_weights(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def summary_steps(model_dir):
    steps = set()
    for events in model_dir.glob("events.out.tfevents.*"):
        steps |= {e.step for e in tf.train.summary_iterator(str(events)) if e.summary.value}
    return sorted(steps)


def test_plain_steps_ahead_stops_before_each_shown_step_and_at_each_checkpoint():
    args = argparse.Namespace(log_every=50, summary_every=30, save_every=40, steps=130)
    ahead = training.plain_steps_ahead
    assert ahead(0, args, 100) == 29        # steps 1..29; step 30 fetches a summary
    assert ahead(30, args, 100) == 10       # 31..40, then a checkpoint after step 40
    assert ahead(40, args, 100) == 9        # 41..49; step 50 shows a progress line
    assert ahead(0, args, 5) == 5           # never more than the limit
    assert ahead(29, args, 100) == 0        # the next step shows values: a call of its own
    assert ahead(120, args, 100) == 9       # 121..129; the last step (130) shows values


def test_loop_only_where_it_gives_the_same_numbers(tmp_path):
    def per_call(script, *flags):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        args = training.parse_args(script.MODEL, vars(script), ["--steps", "1", "--model-dir", str(folder), *flags])
        run = script.backward(args, stream=io.StringIO())
        return run.steps_per_call, sorted(v.op.name for v in run.graph.get_collection("variables")), run

    spc, names, run = per_call(mnist_backward)
    assert spc == training.STEPS_PER_CALL and "multi_step" in run.ops
    assert names == per_call(mnist_backward, "--steps-per-call", "1")[1]  # the loop made no variable of its own
    assert per_call(mnist_backward, "--feed")[0] == 1
    assert per_call(mnist_backward, "--steps-per-call", "7")[0] == 7
    assert per_call(mnist_lenet5_backward)[0] == 1  # dropout draws numbers: a loop would draw others
    assert per_call(mnist_lenet5_backward, "--steps-per-call", "3")[0] == 3
    for flags in (["--feed", "--steps-per-call", "2"], ["--steps-per-call", "0"]):
        with pytest.raises(ConfigError, match="--steps-per-call"):
            training.check_args(training.parse_args(MODELS["fc"], vars(mnist_backward), flags))


def test_multi_step_calls_give_the_single_steps_losses_and_weights(tmp_path, capsys):
    flags = ("--steps", 130, "--log-every", 50, "--summary-every", 30, "--save-every", 40)
    runs = {}
    for spc in (1, 7, 100):
        out = train(capsys, tmp_path / str(spc), *flags, "--steps-per-call", spc)
        assert f"up to {spc} step(s) per call" in out
        runs[spc] = losses(out)
        assert sorted(runs[spc]) == [50, 100, 130]                                # progress lines on their steps
        assert summary_steps(tmp_path / str(spc)) == [30, 60, 90, 120]            # TensorBoard points too
        saved = sorted(checkpoints.checkpoint_step(p) for p in checkpoints.list_checkpoints(str(tmp_path / str(spc))))
        assert saved == [40, 80, 120, 130]                                        # and checkpoints
    assert runs[1] == runs[7] == runs[100]
    for step in (40, 130):
        assert_same_weights(weights(tmp_path / "1", step), weights(tmp_path / "100", step))
        assert_same_weights(weights(tmp_path / "1", step), weights(tmp_path / "7", step))


def test_the_loop_crosses_epochs_with_augment_as_single_steps_do(tmp_path, capsys):
    # Batches of 1,000: an epoch is 55 steps, and each loop call starts one, with the next step's augmented
    # batch built while the current step trains. Two batches built at once could both start the epoch's
    # shuffle and one read the order while the other writes it: without the guard against that, this
    # test failed about one run in three.
    flags = ("--steps", 165, "--batch-size", 1000, "--log-every", 55, "--save-every", 1000, "--augment")
    one = losses(train(capsys, tmp_path / "1", *flags, "--steps-per-call", 1))
    many = losses(train(capsys, tmp_path / "100", *flags, "--steps-per-call", 100))
    assert sorted(one) == [55, 110, 165] and one == many
    assert_same_weights(weights(tmp_path / "1", 165), weights(tmp_path / "100", 165))


def test_a_stop_during_a_multi_step_call_resumes_exactly(tmp_path, capsys, monkeypatch):
    real = training.make_runner

    def runner_stopped_in_its_second_loop_call(sess, ops, feed_fn):
        run, loop_calls = real(sess, ops, feed_fn), []

        def run_and_stop(show, summarize, ahead):
            if ahead > 1:
                loop_calls.append(ahead)
                if len(loop_calls) == 2:  # Ctrl-C arrives while this call runs its steps
                    signal.raise_signal(signal.SIGINT)
            return run(show, summarize, ahead)

        return run_and_stop

    monkeypatch.setattr(training, "make_runner", runner_stopped_in_its_second_loop_call)
    flags = ("--log-every", 25, "--save-every", 1000, "--steps-per-call", 10)
    out = train(capsys, tmp_path / "stopped", "--steps", 100, *flags, code=128 + signal.SIGINT)
    assert "stopped by signal" in out
    status = checkpoints.read_status(str(tmp_path / "stopped"))
    assert status["status"] == "interrupted" and status["step"] == 20  # the call of steps 11..20 ran to its end
    monkeypatch.setattr(training, "make_runner", real)
    resumed = losses(train(capsys, tmp_path / "stopped", "--steps", 100, *flags))
    unbroken = losses(train(capsys, tmp_path / "unbroken", "--steps", 100, *flags))
    assert sorted(resumed) == [25, 50, 75, 100] and resumed == unbroken
    assert_same_weights(weights(tmp_path / "stopped", 100), weights(tmp_path / "unbroken", 100))


def test_the_first_call_ends_after_the_warm_up_steps_so_the_speed_is_timed_from_there(tmp_path, capsys, monkeypatch):
    # bench_fc.py leaves out --warmup steps on every side: ours ends its first session call exactly there.
    real, calls = training.make_runner, []

    def recording_runner(sess, ops, feed_fn):
        run = real(sess, ops, feed_fn)

        def recorded(show, summarize, ahead):
            done, out = run(show, summarize, ahead)
            calls.append(done)
            return done, out

        return recorded

    monkeypatch.setattr(training, "make_runner", recording_runner)
    monkeypatch.setattr(training, "WARMUP_STEPS", 7)
    train(capsys, tmp_path, "--steps", 60, "--log-every", 1000, "--save-every", 1000)
    assert calls[0] == 7 and sum(calls) == 60 and max(calls) > 7
