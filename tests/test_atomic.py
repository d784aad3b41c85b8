"""Replacing a folder loses nothing: the image folders of mnist_generateds.py and the export's --out are put in
place by renames, and when the last rename fails the old folder is still there, whole."""
import os

import numpy as np
import pytest

from tfnotes import atomic, records


def folder_with(path, files):
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def contents(path):
    return {p.name: p.read_text() for p in sorted(path.iterdir())}


def failing_rename_into(target, monkeypatch):
    """os.replace fails when it would rename something onto `target` (as a full disk or a lost mount might)."""
    real = os.replace

    def replace(src, dst):
        if os.path.abspath(dst) == os.path.abspath(target) and ".old" not in os.path.basename(str(src)):
            raise OSError(28, "No space left on device (simulated)")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)


def test_replace_dir_puts_the_new_folder_in_and_leaves_no_debris(tmp_path):
    old = folder_with(tmp_path / "out", {"a.txt": "old"})
    new = folder_with(tmp_path / "new.tmp", {"b.txt": "new"})
    atomic.replace_dir(str(new), str(old))
    assert contents(tmp_path / "out") == {"b.txt": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    atomic.replace_dir(str(folder_with(tmp_path / "first.tmp", {"c.txt": "c"})), str(tmp_path / "fresh"))
    assert contents(tmp_path / "fresh") == {"c.txt": "c"}


def test_replace_dir_keeps_the_old_folder_when_the_rename_fails(tmp_path, monkeypatch):
    target = folder_with(tmp_path / "out", {"a.txt": "old", "b.txt": "old too"})
    new = folder_with(tmp_path / "new.tmp", {"c.txt": "new"})
    failing_rename_into(target, monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        atomic.replace_dir(str(new), str(target))
    assert contents(target) == {"a.txt": "old", "b.txt": "old too"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.tmp", "out"]  # nothing left aside


def test_an_image_export_that_fails_at_the_end_keeps_the_earlier_one(tmp_path, monkeypatch):
    images = np.zeros((3, 28, 28), np.uint8)
    folder, labels = records.export_split(images, np.array([1, 2, 3]), str(tmp_path), "test", fmt="png",
                                          stream=open(os.devnull, "w"))
    before = sorted(os.listdir(folder))
    failing_rename_into(folder, monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        records.export_split(images + 255, np.array([1, 2, 3]), str(tmp_path), "test", fmt="png",
                             stream=open(os.devnull, "w"))
    assert sorted(os.listdir(folder)) == before == ["0_1.png", "1_2.png", "2_3.png"]
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []  # the new one's temporary folder is gone
