"""The fully connected lesson: mnist_forward, mnist_backward (shared training loop) and mnist_test."""
import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from tfnotes import batches, checkpoints, evaluation, inference, training
from tfnotes.errors import ConfigError, NoCheckpointError
from tfnotes.models import MODELS

import mnist_backward
import mnist_forward
import mnist_test

LOSS_LINE = re.compile(r"After (\d+) training step\(s\), loss on training batch is (\d[0-9.eE+-]*?)\.? ")
ACC_LINE = re.compile(r"After (\d+) training step\(s\), test accuracy = ([0-9.]+)")


def losses(text):
    return {int(s): float(v) for s, v in LOSS_LINE.findall(text)}


def train(capsys, model_dir, *flags):
    code = mnist_backward.main(["--model-dir", str(model_dir), "--log-every", "50"] + [str(f) for f in flags])
    out = capsys.readouterr().out
    return code, out


def script_env():
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    return env


# ---------------------------------------------------------------------------------------------------------
# mnist_forward
# ---------------------------------------------------------------------------------------------------------

def test_forward_shape_and_parameter_count():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 784])
        y = mnist_forward.forward(x, None)
        assert y.shape.as_list() == [None, 10]
        params = sum(int(np.prod(v.shape.as_list())) for v in tf.trainable_variables())
        names = sorted(v.op.name for v in tf.trainable_variables())
    assert params == 397510  # 784*500 + 500 + 500*10 + 10
    assert names == ["layer1/biases", "layer1/weights", "layer2/biases", "layer2/weights"]


def test_losses_collection_holds_the_two_weight_terms():
    with tf.Graph().as_default():
        mnist_forward.forward(tf.placeholder(tf.float32, [None, 784]), 0.0001)
        terms = tf.get_collection("losses")
        weights = [v for v in tf.trainable_variables() if v.op.name.endswith("weights")]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            got = sess.run(terms)
            want = [0.0001 * 0.5 * np.sum(w ** 2) for w in sess.run(weights)]
    assert len(terms) == 2
    np.testing.assert_allclose(sorted(got), sorted(want), rtol=1e-4)
    with tf.Graph().as_default():
        mnist_forward.forward(tf.placeholder(tf.float32, [None, 784]), None)
        assert tf.get_collection("losses") == []


# ---------------------------------------------------------------------------------------------------------
# Pieces of the training loop
# ---------------------------------------------------------------------------------------------------------

def test_in_graph_batches_visit_every_example_once_per_epoch():
    n, batch = 12, 4
    images = np.arange(n * 784, dtype=np.float32).reshape(n, 784)
    with tf.Graph().as_default():
        step = tf.placeholder(tf.int64, [])
        x, y, feed = batches.in_graph_batches(images, np.arange(n), batch, step, seed=5)
        with tf.Session() as sess:
            sess.run(tf.local_variables_initializer(), feed)
            epochs = [np.concatenate([sess.run(y, {step: e * 3 + k}) for k in range(3)]) for e in range(3)]
            again = sess.run(y, {step: 1})
            xs, ys = sess.run([x, y], {step: 0})
    for seen in epochs:
        assert sorted(seen) == list(range(n))
    assert not all(np.array_equal(epochs[0], e) for e in epochs[1:])  # reshuffled each epoch
    np.testing.assert_array_equal(again, epochs[0][4:8])             # a batch depends only on the step
    np.testing.assert_array_equal(xs, images[ys])                     # images stay with their labels


def test_list_checkpoints_trusts_only_the_savers_index(tmp_path):
    with tf.Graph().as_default():
        tf.get_variable("v", [3])
        saver = tf.train.Saver(save_relative_paths=True)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            saver.save(sess, str(tmp_path / "mnist_model"), global_step=10)
            saver.save(sess, str(tmp_path / "mnist_model"), global_step=20)
    # A save cut short: files exist, but the `checkpoint` index was never updated to list them.
    (tmp_path / "mnist_model-30.index").write_bytes(b"half")
    (tmp_path / "mnist_model-30.data-00000-of-00001").write_bytes(b"")
    assert [checkpoints.checkpoint_step(p) for p in checkpoints.list_checkpoints(str(tmp_path))] == [20, 10]
    # A listed checkpoint whose files are gone is skipped.
    for f in tmp_path.glob("mnist_model-20.*"):
        f.unlink()
    assert [checkpoints.checkpoint_step(p) for p in checkpoints.list_checkpoints(str(tmp_path))] == [10]


def test_bad_flag_values_are_rejected_by_name(tmp_path, capsys):
    assert mnist_backward.main(["--batch-size", "0", "--model-dir", str(tmp_path)]) == 1
    assert "error: --batch-size must be positive, got 0" in capsys.readouterr().err
    assert mnist_backward.main(["--learning-rate-decay", "1.5", "--model-dir", str(tmp_path)]) == 1
    assert "error: --learning-rate-decay must be in (0, 1], got 1.5" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--batch-size"):  # the library raises; only main() prints
        mnist_backward.backward(training.parse_args(MODELS["fc"], vars(mnist_backward), ["--batch-size", "0"]))


def test_mnist_test_without_checkpoint_says_to_train(tmp_path, capsys):
    assert mnist_test.main(["--once", "--model-dir", str(tmp_path)]) == 1
    assert "run training first" in capsys.readouterr().err
    assert mnist_test.main(["--model-dir", str(tmp_path), "--timeout", "1"]) == 1
    with pytest.raises(NoCheckpointError, match="python mnist_backward.py"):
        inference.load_model(model_dir=str(tmp_path))


# ---------------------------------------------------------------------------------------------------------
# Short real runs
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """300 steps of the default model, seed 1, in a fresh folder; returns (folder, printed output)."""
    model_dir = tmp_path_factory.mktemp("fc_short")
    buf = io.StringIO()  # a module-scoped fixture cannot use capsys
    with contextlib.redirect_stdout(buf):
        code = mnist_backward.main(["--model-dir", str(model_dir), "--steps", "300", "--log-every", "50",
                                    "--seed", "1", "--save-every", "100"])
    assert code == 0
    return model_dir, buf.getvalue()


def test_short_run_lowers_the_loss_and_scores_well(short_run, capsys):
    model_dir, out = short_run
    loss = losses(out)
    assert sorted(loss) == [50, 100, 150, 200, 250, 300]
    assert loss[300] < 0.7 * loss[50]
    status = checkpoints.read_status(str(model_dir))
    assert status["status"] == "finished" and status["step"] == 300
    tags = {}
    for events in model_dir.glob("events.out.tfevents.*"):
        for e in tf.train.summary_iterator(str(events)):
            for v in e.summary.value:
                tags.setdefault(v.tag, []).append(e.step)
    assert tags == {name: [100, 200, 300] for name in ("loss", "learning_rate", "train_accuracy")}
    assert mnist_test.main(["--once", "--model-dir", str(model_dir)]) == 0
    (step, acc), = ACC_LINE.findall(capsys.readouterr().out)
    assert int(step) == 300 and float(acc) > 0.85       # chance is 0.10
    assert (model_dir / "test_accuracy.png").stat().st_size > 1000
    rows = evaluation.read_history(str(model_dir))
    assert float(rows[300]["accuracy"]) == pytest.approx(float(acc), abs=1e-4)
    with inference.load_model(model_dir=str(model_dir)) as model:
        probs = model.predict(np.zeros((3, 28, 28), np.float32))
    assert model.step == 300 and probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)


def test_resume_continues_at_the_saved_step_like_an_unbroken_run(short_run, tmp_path, capsys):
    model_dir, first = short_run
    code, out = train(capsys, model_dir, "--steps", 400, "--seed", 1)
    assert code == 0
    assert "resumed from step 300" in out
    resumed = losses(out)
    assert sorted(resumed) == [350, 400]
    code, straight = train(capsys, tmp_path, "--steps", 400, "--seed", 1, "--save-every", 100)
    # Same seed: the first 300 steps repeat exactly, and the resumed steps match the unbroken run's.
    assert {s: v for s, v in losses(straight).items() if s <= 300} == losses(first)
    assert {s: losses(straight)[s] for s in (350, 400)} == resumed
    code, out = train(capsys, model_dir, "--steps", 400)
    assert "nothing to do" in out


def test_fresh_moves_the_old_run_aside(short_run, tmp_path, capsys):
    train(capsys, tmp_path, "--steps", 20)
    code, out = train(capsys, tmp_path, "--steps", 10, "--fresh")
    assert code == 0 and "moved the previous run" in out and "resumed" not in out
    old, = (tmp_path / "previous").iterdir()
    assert (old / "mnist_model-20.index").exists()
    assert [checkpoints.checkpoint_step(p) for p in checkpoints.list_checkpoints(str(old))] == [20]
    assert checkpoints.checkpoint_step(checkpoints.list_checkpoints(str(tmp_path))[0]) == 10


def test_vanished_checkpoint_is_skipped(short_run, monkeypatch, capsys):
    model_dir, _ = short_run
    gone = str(model_dir / "mnist_model-777")  # listed, but deleted before it could be restored
    real = checkpoints.checkpoint_paths
    monkeypatch.setattr(evaluation, "checkpoint_paths", lambda state, folder: [gone] + real(state, folder))
    assert mnist_test.main(["--once", "--no-report", "--model-dir", str(model_dir)]) == 0
    out = capsys.readouterr().out
    (step, _), = ACC_LINE.findall(out)
    assert int(step) == checkpoints.checkpoint_step(checkpoints.list_checkpoints(str(model_dir))[0])
    assert "mnist_model-777 was deleted before it could be read" in out


# ---------------------------------------------------------------------------------------------------------
# Signals, and mnist_test following a run (real processes)
# ---------------------------------------------------------------------------------------------------------

def start_training(root, model_dir, *flags):
    cmd = [sys.executable, str(root / "mnist_backward.py"), "--model-dir", str(model_dir), "--seed", "2"]
    return subprocess.Popen(cmd + [str(f) for f in flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=script_env(), cwd=str(root.parent))


def test_sigterm_saves_and_mnist_test_follows_the_run_to_its_end(root, tmp_path, capsys):
    proc = start_training(root, tmp_path, "--steps", 1000000, "--save-every", 1000000)
    for line in proc.stdout:  # wait until the loop runs
        if line.startswith("training fc"):
            break
    # The follower (mnist_test.main, in a thread to spare a second TensorFlow start-up) starts while the
    # training runs, sees it stopped and resumed, and must return by itself once the resumed run has finished.
    follow_out, result = io.StringIO(), {}

    def follow():
        result["code"] = mnist_test.main(["--model-dir", str(tmp_path), "--interval", "0.3", "--timeout", "120"],
                                         stream=follow_out)

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "stopped by signal" in out and "Traceback" not in out
    status = checkpoints.read_status(str(tmp_path))
    saved = checkpoints.list_checkpoints(str(tmp_path))
    assert status["status"] == "interrupted" and saved
    stopped_at = checkpoints.checkpoint_step(saved[0])
    assert stopped_at == status["step"] > 0
    with inference.load_model(model_dir=str(tmp_path)) as model:  # the checkpoint restores
        assert model.step == stopped_at

    final = stopped_at + 100
    code, out = train(capsys, tmp_path, "--steps", final, "--save-every", 50)
    assert code == 0 and f"resumed from step {stopped_at}" in out
    follower.join(timeout=150)
    follow_out = follow_out.getvalue()
    assert not follower.is_alive() and result["code"] == 0, follow_out
    steps = [int(s) for s, _ in ACC_LINE.findall(follow_out)]
    assert steps and steps[-1] == final and len(steps) == len(set(steps))  # each checkpoint once
    assert f"training finished at step {final}" in follow_out


def test_sigkill_resumes_from_the_newest_complete_checkpoint(root, tmp_path, capsys):
    # Saving every 5 steps, the process spends much of its time inside Saver.save, so the kill often lands
    # in the middle of one; whatever it interrupts, the next run must restore a complete checkpoint.
    proc = start_training(root, tmp_path, "--steps", 1000000, "--save-every", 5, "--max-to-keep", 3)
    for line in proc.stdout:
        if line.startswith("training fc"):
            break
    deadline = time.monotonic() + 120
    while len(checkpoints.list_checkpoints(str(tmp_path))) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.37)
    proc.kill()
    proc.communicate(timeout=60)
    listed = checkpoints.list_checkpoints(str(tmp_path))
    assert len(listed) >= 3
    newest = checkpoints.checkpoint_step(listed[0])
    code, out = train(capsys, tmp_path, "--steps", newest + 5, "--save-every", 5)
    assert code == 0 and f"resumed from step {newest} " in out and "warning" not in out, out


def test_tensorboard_reads_the_summaries_of_a_run(tmp_path, capsys):
    # TensorBoard is a requirement (TensorFlow no longer brings it), and its own reader finds what the docs promise.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    code, _ = train(capsys, tmp_path, "--steps", 200, "--summary-every", 50, "--save-every", 200)
    assert code == 0
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert {"loss", "learning_rate", "train_accuracy"} <= set(events.Tags()["scalars"]) and events.Tags()["graph"]
    for tag in ("loss", "learning_rate", "train_accuracy"):
        assert [e.step for e in events.Scalars(tag)] == [50, 100, 150, 200]
    assert [e.value for e in events.Scalars("learning_rate")] == pytest.approx([0.1] * 4)  # first epoch: no decay yet
    assert events.Scalars("loss")[-1].value < events.Scalars("loss")[0].value
    assert 0.5 < events.Scalars("train_accuracy")[-1].value <= 1.0
    command = os.path.join(os.path.dirname(sys.executable), "tensorboard")  # the command the docs give
    assert os.access(command, os.X_OK), f"{command}: pip install -r requirements.txt installs it"
