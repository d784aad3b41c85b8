"""Your own handwriting: the collection folder, the course's data set made from it, fine-tuning from a trained model
(which stays untouched) and the test on the held-out digits. The writer (benchmarks/writer.py) writes for a person.
"""
import contextlib
import hashlib
import io
import os
import re

import numpy as np
import pytest

from tfnotes import collect, inference, pictures, records
from tfnotes.errors import ConfigError, DataError, ImageError

import mnist_backward
import mnist_generateds
import mnist_test
from benchmarks import writer
from lenet5 import mnist_lenet5_backward

ACC_LINE = re.compile(r"After (\d+) training step\(s\), test accuracy = ([0-9.]+)")


def run(main, argv):
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def fingerprint(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in sorted(os.listdir(folder))
            if (folder / name).is_file()}


@pytest.fixture(scope="module")
def writer_collection(tmp_path_factory):
    """40 of the writer's digits saved as the Collect tab saves them, and the TFRecord file of the training part."""
    folder = tmp_path_factory.mktemp("collected")
    collection = collect.Collection(folder / "my_digits")
    for digit, sample in writer.samples(40, 3):
        collection.add(digit, writer.page_png(sample))
    train = folder / "my_digits" / "train"
    code, out, err = run(mnist_generateds.main, ["tfrecords", "--image-dir", train, "--label-file",
                                                 str(train) + ".txt", "--output", folder / "mine.tfrecords"])
    assert code == 0, err
    return collection, folder / "mine.tfrecords"


def test_the_collection_holds_the_course_layout(writer_collection):
    collection, _ = writer_collection
    counts = collection.counts()
    assert counts["total"] == 40 and sum(counts["test"]) == 8 and sum(counts["train"]) == 32  # every 5th held out
    folder = collection.folder
    train_lines = open(os.path.join(folder, "train.txt")).read().split("\n")
    assert train_lines[0] == "00001_" + train_lines[0].split()[1] + ".png " + train_lines[0].split()[1]
    first = os.path.join(folder, "train", train_lines[0].split()[0])
    assert pictures.load_image(first).size == (28, 28)
    assert len(os.listdir(os.path.join(folder, "raw"))) == 40
    images, labels = records.load_labelled(os.path.join(folder, "test"))   # the folder and test.txt beside it
    assert images.shape == (8, 784) and 0 < images.max() <= 1.0 and list(labels) == [
        int(line.split()[1]) for line in open(os.path.join(folder, "test.txt"))]


def test_a_bad_sample_is_refused_and_loses_nothing(tmp_path, monkeypatch):
    collection = collect.Collection(tmp_path / "c")
    digit, sample = writer.samples(1, 0)[0]
    collection.add(digit, writer.page_png(sample))
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    for label in ("10", "x", "-1", "", "1.5"):
        with pytest.raises(ConfigError, match="must be one digit"):
            collection.add(label, writer.page_png(sample))
    with pytest.raises(ImageError):
        collection.add(3, b"not a picture")
    real = collect.atomic_write_text

    def full_disk(path, text):
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(collect, "atomic_write_text", full_disk)
    with pytest.raises(OSError, match="No space left"):
        collection.add(digit, writer.page_png(sample))
    monkeypatch.setattr(collect, "atomic_write_text", real)
    assert collection.counts()["total"] == 1      # the label file, written last, was never touched
    collection.add(digit, writer.page_png(sample))
    assert collection.counts()["total"] == 2
    assert collection.undo()["number"] == 2 and collection.counts()["total"] == 1
    assert [p for p in before if p not in {str(q.relative_to(tmp_path)) for q in tmp_path.rglob("*")}] == []
    assert collection.undo()["number"] == 1 and collection.undo() is None


def test_fine_tuning_learns_the_writer_and_leaves_the_original_untouched(writer_collection, small_fc_model,
                                                                          tmp_path):
    collection, tfrecord = writer_collection
    base = os.path.abspath(small_fc_model)
    untouched = fingerprint(type(tmp_path)(base))
    mine = tmp_path / "mine"
    flags = ["--init-from", base, "--own-data", tfrecord, "--batch-size", 40, "--learning-rate-base", 0.05,
             "--log-every", 30, "--save-every", 30, "--model-dir", mine]
    code, out, err = run(mnist_backward.main, flags + ["--steps", 30])
    assert code == 0, err
    assert f"starting from the weights of {base}" in out and "only read" in out
    code, out, err = run(mnist_backward.main, flags + ["--steps", 60])        # resumes its own run, as any run
    assert code == 0 and "resumed from step 30" in out and "starting from" not in out
    assert fingerprint(type(tmp_path)(base)) == untouched
    x, y = records.load_labelled(str(tfrecord))

    def loss(folder):
        with inference.load_model("fc", str(folder)) as model:
            return float(-np.mean(np.log(model.predict(x)[np.arange(len(y)), y] + 1e-12)))

    assert loss(mine) < 0.5 * loss(base)     # it learned the writer's digits
    code, out, _ = run(mnist_test.main, ["--once", "--model-dir", mine, "--data", os.path.join(collection.folder,
                                                                                                 "test")])
    assert code == 0 and "(8 digits of " in out and (mine / "on_my_digits_test" / "confusion_matrix.png").exists()
    code, out, _ = run(mnist_test.main, ["--model-dir", mine, "--compare", base, "--data",
                                         os.path.join(collection.folder, "test")])
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| before") or line.startswith("| after")]
    assert len(rows) == 2 and "MNIST test (10000)" in out and "(8)" in out


def test_fine_tuning_refuses_what_cannot_work(writer_collection, small_fc_model, tmp_path):
    _, tfrecord = writer_collection
    base = os.path.abspath(small_fc_model)
    cases = [(["--init-from", base, "--model-dir", base], "is the --model-dir too"),
             (["--init-from", tmp_path / "none"], "no such folder"),
             (["--init-from", tmp_path], "no checkpoint there"),
             (["--own-data", tfrecord, "--feed"], "not with --feed"),
             (["--own-data", tfrecord], "holds 32 digits, and each batch of 200 would take 100"),
             (["--own-data", tfrecord, "--mnist-mix", "1"], "--mnist-mix must be"),
             (["--own-data", tmp_path], "without its label file")]
    for flags, message in cases:
        code, _, err = run(mnist_backward.main, flags + ["--steps", 5, "--model-dir", tmp_path / "out"]
                           if "--model-dir" not in flags else flags + ["--steps", 5])
        assert code != 0 and message in err, (flags, err)
        assert "Traceback" not in err


def test_the_default_folder_of_a_fine_tune_is_the_models_own_with_mine(small_fc_model):
    args = mnist_backward.training.parse_args(mnist_backward.MODEL, vars(mnist_backward),
                                              ["--init-from", small_fc_model])
    assert args.model_dir == mnist_backward.MODEL.model_dir + "_mine"


def test_lenet5_fine_tunes_the_same_way(writer_collection, tmp_path):
    _, tfrecord = writer_collection
    base = tmp_path / "lenet"
    code, _, err = run(mnist_lenet5_backward.main, ["--steps", 20, "--optimizer", "adam", "--learning-rate-base",
                                                    0.002, "--model-dir", base])
    assert code == 0, err
    code, out, err = run(mnist_lenet5_backward.main, ["--init-from", base, "--own-data", tfrecord, "--batch-size",
                                                      40, "--steps", 10, "--model-dir", tmp_path / "mine"])
    assert code == 0 and "starting from the weights" in out, err


def test_own_data_files_that_cannot_be_read_are_named(tmp_path, writer_collection):
    _, tfrecord = writer_collection
    cut = tmp_path / "cut.tfrecords"
    cut.write_bytes(tfrecord.read_bytes()[:1500])
    with pytest.raises(DataError, match=r"cut.tfrecords: record \d+ cannot be read"):
        records.load_labelled(str(cut))
    with pytest.raises(DataError, match="does not exist"):
        records.load_labelled(str(tmp_path / "missing"))
