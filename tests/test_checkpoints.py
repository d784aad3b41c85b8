"""Damaged checkpoints: every script names the damaged file and falls back to the newest readable checkpoint,
with a warning that names its step; where none can be read it stops with exit status 2 and the command to run.
"""
import contextlib
import io
import re
import shutil

import pytest

from tfnotes import checkpoints, inference

import mnist_app
import mnist_backward
import mnist_export
import mnist_test

LOSS_LINE = re.compile(r"After (\d+) training step\(s\), loss on training batch is (\S+?)\.? ")


def data_file(folder, step):
    found = list(folder.glob(f"mnist_model-{step}.data-*"))
    assert len(found) == 1
    return found[0]


def truncate(folder, step):
    with open(data_file(folder, step), "r+b") as f:
        f.truncate(1000)


def zero_fill(folder, step):
    path = data_file(folder, step)
    path.write_bytes(bytes(path.stat().st_size))


def flip_a_bit(folder, step):
    path = data_file(folder, step)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def cut_the_index(folder, step):
    with open(folder / f"mnist_model-{step}.index", "r+b") as f:
        f.truncate(50)


def lose_the_data(folder, step):
    data_file(folder, step).unlink()


DAMAGE = [truncate, zero_fill, flip_a_bit, cut_the_index]


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """A model folder with checkpoints at steps 20 and 40, and the losses of its run."""
    folder = tmp_path_factory.mktemp("two_checkpoints")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert mnist_backward.main(["--steps", "40", "--save-every", "20", "--log-every", "20",
                                    "--model-dir", str(folder)]) == 0
    return folder, out.getvalue()


@pytest.fixture
def damaged(two_checkpoints, tmp_path):
    """A copy of the folder whose newest checkpoint (step 40) is damaged by the given function."""
    def make(damage, steps=(40,)):
        folder = tmp_path / f"model{len(list(tmp_path.iterdir()))}"
        shutil.copytree(two_checkpoints[0], folder)
        for step in steps:
            damage(folder, step)
        return folder
    return make


@pytest.mark.parametrize("damage", DAMAGE, ids=[d.__name__ for d in DAMAGE])
def test_the_app_names_the_damaged_file_and_reads_with_the_older_checkpoint(damaged, damage, root, capsys):
    folder = damaged(damage)
    assert mnist_app.main(["--model-dir", str(folder), str(root / "pic" / "3.png")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{root / 'pic' / '3.png'}: ")
    assert f"{folder / 'mnist_model-40'} is damaged (" in err
    assert "using the checkpoint of step 20" in err
    assert "Traceback" not in err


def test_a_checkpoint_without_its_data_file_is_passed_over_as_one_being_deleted(damaged):
    # The Saver deletes the files of old checkpoints while others may read the folder: not an error.
    with inference.load_model(model_dir=str(damaged(lose_the_data))) as model:
        assert model.step == 20


def test_the_app_stops_with_status_2_when_no_checkpoint_can_be_read(damaged, root, capsys):
    folder = damaged(truncate, steps=(20, 40))
    assert mnist_app.main(["--model-dir", str(folder), str(root / "pic" / "3.png")]) == 2
    err = capsys.readouterr().err
    assert "mnist_model-20 is damaged" in err and "mnist_model-40 is damaged" in err
    assert f"error: no readable checkpoint in {folder}: run training first (python mnist_backward.py" in err
    with pytest.raises(checkpoints.UnreadableCheckpoints):
        inference.load_model(model_dir=str(folder))


def test_the_test_script_falls_back_and_stops_with_status_2_when_none_is_readable(damaged, capsys):
    folder = damaged(zero_fill)
    assert mnist_test.main(["--once", "--no-report", "--model-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "mnist_model-40 is damaged (" in out and "After 20 training step(s), test accuracy = " in out
    folder = damaged(zero_fill, steps=(20, 40))
    assert mnist_test.main(["--once", "--no-report", "--model-dir", str(folder)]) == 2
    assert "no readable checkpoint" in capsys.readouterr().err


def test_training_resumes_from_the_newest_readable_checkpoint(damaged, two_checkpoints, capsys):
    folder = damaged(truncate)
    assert mnist_backward.main(["--steps", "40", "--save-every", "20", "--log-every", "20",
                                "--model-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "mnist_model-40 is damaged (" in out and "resumed from step 20" in out
    # The steps after 20 repeat the unbroken run's exactly, and a readable step-40 checkpoint replaces the bad one.
    assert dict(LOSS_LINE.findall(out)) == {"40": dict(LOSS_LINE.findall(two_checkpoints[1]))["40"]}
    with inference.load_model(model_dir=str(folder)) as model:
        assert model.step == 40


def test_training_refuses_a_folder_of_damaged_checkpoints(damaged, capsys):
    folder = damaged(cut_the_index, steps=(20, 40))
    assert mnist_backward.main(["--steps", "60", "--model-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "none of the 2 checkpoints" in err and "--fresh" in err
    assert sorted(p.name for p in folder.glob("*.index")) == ["mnist_model-20.index", "mnist_model-40.index"]


def test_the_export_uses_the_newest_readable_checkpoint(damaged, tmp_path, capsys):
    folder = damaged(flip_a_bit)
    assert mnist_export.main(["--model-dir", str(folder), "--out", str(tmp_path / "export")]) == 0
    out, err = capsys.readouterr()
    assert "(step 20)" in out and "mnist_model-40 is damaged" in err


def test_the_web_page_does_not_start_on_damaged_checkpoints_only(damaged, capsys):
    folder = damaged(truncate, steps=(20, 40))
    assert mnist_app.main(["--serve", "--port", "0", "--model-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "no readable checkpoint" in err and "Traceback" not in err
