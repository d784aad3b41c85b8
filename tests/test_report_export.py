"""After training: the evaluation's report files (mnist_test.py) and the export (mnist_export.py)."""
import contextlib
import csv
import io
import json
import os
import re

import numpy as np
import pytest
from PIL import Image

from tfnotes import data, export, inference
from tfnotes.report import confusion_matrix, per_class, worst_mistakes
from tfnotes.tfenv import tf2

import mnist_backward
import mnist_export
import mnist_test
from lenet5 import mnist_lenet5_backward, mnist_lenet5_test

ACC_LINE = re.compile(r"After (\d+) training step\(s\), test accuracy = ([0-9.]+)")
REPORT = ("confusion_matrix.png", "mistakes.png", "per_class.csv")


def quiet(fn, argv):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = fn(argv)
    assert code == 0, buf.getvalue()
    return buf.getvalue()


@pytest.fixture(scope="module")
def fc_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fc_report")
    quiet(mnist_backward.main, ["--model-dir", str(folder), "--steps", "200", "--save-every", "100",
                                "--log-every", "100"])
    return folder


@pytest.fixture(scope="module")
def lenet_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lenet_report")
    quiet(mnist_lenet5_backward.main, ["--model-dir", str(folder), "--steps", "40", "--optimizer", "adam",
                                       "--learning-rate-base", "0.001", "--batch-size", "50", "--log-every", "40"])
    return folder


@pytest.fixture(scope="module")
def test_set():
    test = data.read_data_sets(one_hot=False).test
    return test.images, test.labels


# ---------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------

def test_report_arithmetic():
    labels = np.array([0, 0, 1, 1, 2])
    probs = np.eye(3)[[0, 1, 1, 0, 2]] * 0.6 + 0.4 / 3
    probs[3] = [0.9, 0.05, 0.05]                      # the most confident mistake
    counts = confusion_matrix(labels, probs.argmax(1), classes=3)
    assert counts.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert per_class(counts) == [(0, 2, 0.5, 0.5), (1, 2, 0.5, 0.5), (2, 1, 1.0, 1.0)]
    assert worst_mistakes(labels, probs).tolist() == [3, 1]


def test_each_evaluation_writes_the_report(fc_dir, test_set):
    out = quiet(mnist_test.main, ["--once", "--model-dir", str(fc_dir)])
    (step, acc), = ACC_LINE.findall(out)
    assert step == "200"
    for name in REPORT[:2]:
        with Image.open(fc_dir / name) as img:
            img.verify()                                  # a complete, valid PNG
            assert img.format == "PNG" and img.size[0] > 300
    with open(fc_dir / "per_class.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    labels = test_set[1]
    assert [int(r["digit"]) for r in rows] == list(range(10))
    assert [int(r["count"]) for r in rows] == np.bincount(labels, minlength=10).tolist()
    # The recalls give back the number of right answers, hence the printed accuracy.
    right = sum(int(r["count"]) * float(r["recall"]) for r in rows)
    assert right / len(labels) == pytest.approx(float(acc), abs=2e-4)
    # And they are the real model's: recompute from its predictions.
    with inference.load_model(model_dir=str(fc_dir)) as model:
        predicted = model.predict(test_set[0]).argmax(1)
    for r in rows:
        d = int(r["digit"])
        assert float(r["recall"]) == pytest.approx(np.mean(predicted[labels == d] == d), abs=1e-4)
        assert float(r["precision"]) == pytest.approx(np.mean(labels[predicted == d] == d), abs=1e-4)


def test_no_report_flag(lenet_dir):
    quiet(mnist_lenet5_test.main, ["--once", "--no-report", "--model-dir", str(lenet_dir)])
    assert (lenet_dir / "test_accuracy.csv").is_file()
    assert not any((lenet_dir / name).exists() for name in REPORT)


# ---------------------------------------------------------------------------------------------------------
# The export
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["fc", "lenet5"])
def test_export_round_trip(model, fc_dir, lenet_dir, test_set, tmp_path, capsys):
    model_dir = fc_dir if model == "fc" else lenet_dir
    out = tmp_path / "export"
    assert mnist_export.main(["--model", model, "--model-dir", str(model_dir), "--out", str(out)]) == 0
    assert "exported " + model in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["export.json", "model.tflite", "saved_model"]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]   # the work folder was renamed
    info = json.loads((out / "export.json").read_text())
    images, labels = test_set
    with inference.load_model(model, str(model_dir)) as restored:
        reference = restored.predict(images)
        assert info["checkpoint_step"] == restored.step
    # Loaded as a user would, the SavedModel agrees with the checkpoint.
    serve = tf2.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    result = serve(images=tf2.constant(images[:500]))
    assert result["probabilities"].dtype == tf2.float32 and result["digits"].dtype == tf2.int64
    assert np.abs(result["probabilities"].numpy() - reference[:500]).max() <= 1e-5
    assert result["digits"].numpy().tolist() == reference[:500].argmax(1).tolist()
    accuracy = float(np.mean(reference.argmax(1) == labels))
    assert info["test_accuracy"] == info["checkpoint_test_accuracy"] == accuracy
    assert info["saved_model_max_abs_diff"] <= 1e-5 and info["model"] == model
    # The TFLite model, run by the TFLite interpreter.
    lite = export.tflite_probabilities(str(out / "model.tflite"), images[:300])
    assert np.abs(lite - reference[:300]).max() < 1e-3
    assert info["tflite_max_abs_diff"] < 1e-3 and abs(info["tflite_test_accuracy"] - accuracy) < 1e-3


def test_export_refuses_a_non_empty_out_unless_forced(fc_dir, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert mnist_export.main(["--model-dir", str(fc_dir), "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err and (out / "keep.txt").read_text() == "mine"
    assert mnist_export.main(["--model-dir", str(fc_dir), "--out", str(out), "--force"]) == 0
    assert sorted(os.listdir(out)) == ["export.json", "model.tflite", "saved_model"]


def test_export_without_checkpoint_names_the_training_command(tmp_path, capsys):
    for model, command in (("fc", "python mnist_backward.py"), ("lenet5", "python lenet5/mnist_lenet5_backward.py")):
        code = mnist_export.main(["--model", model, "--model-dir", str(tmp_path / "none"), "--out",
                                  str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and "no checkpoint" in err and command in err, err
        assert not (tmp_path / "out").exists()


def test_export_says_when_tflite_is_not_possible(fc_dir, tmp_path, monkeypatch, capsys):
    class NoConverter:
        @staticmethod
        def from_saved_model(*args, **kwargs):
            raise RuntimeError("this TensorFlow has no TFLite converter")

    monkeypatch.setattr(export.tf2.lite, "TFLiteConverter", NoConverter)
    out = tmp_path / "export"
    assert mnist_export.main(["--model-dir", str(fc_dir), "--out", str(out)]) == 0
    assert "TFLite: not written" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["export.json", "saved_model"]
    info = json.loads((out / "export.json").read_text())
    assert info["tflite"] is None and "no TFLite converter" in info["tflite_error"]
