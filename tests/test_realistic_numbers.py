"""benchmarks/realistic_numbers.py: the recorded truth matches the pictures, the shares are as asked, seeds repeat;
the conditions of benchmarks/realistic_conditions.py add what they say to the same numbers."""
import os
import re

import numpy as np
import pytest
from PIL import Image

from tfnotes import data

from benchmarks import realistic_numbers
from benchmarks.realistic_conditions import CONDITIONS, NUMBERS_ONLY, Look
from benchmarks.realistic_digits import make_realistic_set
from benchmarks.realistic_numbers import make_number_set, render_number

COUNT = 30


@pytest.fixture(scope="module")
def mnist_test_set():
    _, _, images, labels = data.load_mnist()
    return images, labels


@pytest.fixture(scope="module")
def number_set(mnist_test_set, tmp_path_factory):
    images, labels = mnist_test_set
    return make_number_set(str(tmp_path_factory.mktemp("numbers")), images, labels, COUNT, seed=0)


def grey(record):
    return np.asarray(Image.open(record["path"]).convert("L"), np.float32)


def dilate(mask):
    """8-neighbour dilation of a boolean mask."""
    padded = np.pad(mask, 1)
    out = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
    return out


def ink_connected(picture, a, b):
    """Whether dark pixels join digit a's ink (left of b's box) to digit b's ink (right of a's box) in the picture.

    The threshold is halfway between ink and paper in the two boxes; 2 px of slack at the box edges
    because blur spreads the ink a little beyond the recorded boxes.
    """
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    crop = picture[y0:y1, x0:x1]
    low, high = np.percentile(crop, [2, 98])
    ink = crop < (low + high) / 2
    cols = np.arange(crop.shape[1])[None, :] + x0
    rows = np.arange(crop.shape[0])[:, None] + y0

    def inside(box):
        return (cols >= box[0]) & (cols < box[0] + box[2]) & (rows >= box[1]) & (rows < box[1] + box[3])

    grown, target = ink & inside(a) & (cols < b[0] - 2), ink & inside(b) & (cols >= a[0] + a[2] + 2)
    while True:
        more = dilate(grown) & ink
        if (more & target).any():
            return True
        if (more == grown).all():
            return False
        grown = more


def boxes_overlap(a, b):
    return a[0] + a[2] > b[0] and b[0] + b[2] > a[0] and a[1] + a[3] > b[1] and b[1] + b[3] > a[1]


# ---------------------------------------------------------------------------------------------------------
# The set: files, shares, lengths, determinism
# ---------------------------------------------------------------------------------------------------------

def test_files_names_and_formats(number_set):
    assert len(number_set) == COUNT
    for n, r in enumerate(number_set):
        assert os.path.isfile(r["path"])
        ext = ".jpg" if r["format"] == "JPEG" else ".png"
        assert re.fullmatch(rf"n{n:04d}_{r['number']}{re.escape(ext)}", os.path.basename(r["path"]))
        assert Image.open(r["path"]).format == r["format"]
    assert {r["format"] for r in number_set} == {"JPEG", "PNG"}


def test_lengths_and_digits(number_set, mnist_test_set):
    lengths = [len(r["number"]) for r in number_set]
    assert min(lengths) >= 2 and max(lengths) <= 10
    assert len(set(lengths)) > 3                       # varied, not one length
    for r in number_set:
        assert r["number"].isdigit() and len(r["boxes"]) == len(r["number"])
    images, labels = mnist_test_set
    records = make_number_set(os.path.join(os.path.dirname(number_set[0]["path"]), "short"), images, labels, 6,
                              seed=1, lengths=(3, 4))
    assert {len(r["number"]) for r in records} <= {3, 4}


def test_shares_are_exact(number_set, mnist_test_set, tmp_path):
    assert sum(r["touching"] for r in number_set) == round(COUNT * 0.3)
    assert sum(r["ruled"] for r in number_set) == round(COUNT * 0.2)
    images, labels = mnist_test_set
    records = make_number_set(str(tmp_path), images, labels, 8, seed=2, touching_share=0.5, ruled_share=0.25)
    assert sum(r["touching"] for r in records) == 4
    assert sum(r["ruled"] for r in records) == 2


def test_same_seed_same_files(mnist_test_set, tmp_path):
    images, labels = mnist_test_set

    def files(folder, seed):
        records = make_number_set(str(tmp_path / folder), images, labels, 6, seed=seed)
        return [(os.path.basename(r["path"]), open(r["path"], "rb").read()) for r in records], records

    first, rec_a = files("a", 5)
    again, rec_b = files("b", 5)
    other, _ = files("c", 6)
    assert first == again
    assert [{**r, "path": None} for r in rec_a] == [{**r, "path": None} for r in rec_b]
    assert first != other


# ---------------------------------------------------------------------------------------------------------
# The truth matches the pictures
# ---------------------------------------------------------------------------------------------------------

def test_boxes_hold_the_ink_left_to_right(number_set):
    for r in number_set:
        picture = grey(r)
        height, width = picture.shape
        assert width > height
        outside = np.ones(picture.shape, bool)
        for x, y, w, h in r["boxes"]:
            assert 0 <= x and 0 <= y and x + w <= width and y + h <= height and w > 0 and h > 0
            outside[y:y + h, x:x + w] = False
        for x, y, w, h in r["boxes"]:
            # Paper near the box (the light is uneven across the picture), outside every box.
            near = (slice(max(0, y - h // 2), y + h + h // 2), slice(max(0, x - h // 2), x + w + h // 2))
            paper = np.median(picture[near][outside[near]])
            inside = picture[y:y + h, x:x + w]
            assert inside.mean() < paper - 5, r["path"]
            assert np.percentile(inside, 5) < paper - 0.3 * (paper - picture.min()), r["path"]
        centres = [x + w / 2 for x, _, w, _ in r["boxes"]]
        lefts = [x for x, _, _, _ in r["boxes"]]
        assert centres == sorted(centres) and lefts == sorted(lefts), r["path"]
        # The number is framed: margins on every side.
        assert min(lefts) > 0 and max(x + w for x, _, w, _ in r["boxes"]) < width


def test_touching_numbers_touch_and_others_do_not(number_set):
    for r in number_set:
        picture, boxes = grey(r), r["boxes"]
        assert bool(r["touching_pairs"]) == r["touching"], r["path"]
        for i in r["touching_pairs"]:
            assert boxes_overlap(boxes[i], boxes[i + 1]), r["path"]
        if r["ruled"]:
            continue                                  # a ruled line may join digits that do not touch
        joined = [i for i in range(len(boxes) - 1) if ink_connected(picture, boxes[i], boxes[i + 1])]
        if r["touching"]:
            assert set(joined) & set(r["touching_pairs"]), r["path"]
        else:
            assert not joined, r["path"]


def test_render_number(mnist_test_set):
    images, _ = mnist_test_set
    digits = [images[i] for i in range(4)]
    img, boxes = render_number(digits, np.random.default_rng(3), touching=True, ruled=True)
    assert isinstance(img, Image.Image) and img.width > img.height
    assert len(boxes) == 4 and all(len(b) == 4 for b in boxes)
    assert any(boxes_overlap(a, b) for a, b in zip(boxes, boxes[1:]))
    heights = [h for _, _, _, h in boxes]
    assert 10 < np.median(heights) < 150
    img2, boxes2 = render_number(digits, np.random.default_rng(3), touching=True, ruled=True)
    assert boxes2 == boxes and np.array_equal(np.asarray(img2), np.asarray(img))


def test_chained_numbers_touch_along_the_row(mnist_test_set, tmp_path):
    # The triple reader's maker draws chains: every pair of neighbours that can touch does, so half or more
    # of the numbers of three digits touch at both pairs, against few of the plain touching numbers.
    chained = make_number_set(tmp_path / "c", *mnist_test_set, 20, seed=4, touching_share=1.0, lengths=(3, 3),
                              chained=True)
    plain = make_number_set(tmp_path / "p", *mnist_test_set, 20, seed=4, touching_share=1.0, lengths=(3, 3))
    both = [r["touching_pairs"] == [0, 1] for r in chained]
    assert sum(both) >= 10 and sum(r["touching_pairs"] == [0, 1] for r in plain) < sum(both) / 2
    for r in chained:
        for i in r["touching_pairs"]:
            assert boxes_overlap(r["boxes"][i], r["boxes"][i + 1]), r["path"]


def test_main_writes_a_sample(tmp_path, capsys):
    realistic_numbers.main(["--count", "5", "--out", str(tmp_path), "--seed", "0"])
    out = capsys.readouterr().out
    assert "count: 5" in out and "touching:" in out and "ruled:" in out and "digits per number:" in out
    names = sorted(os.listdir(tmp_path))
    assert "numbers.json" in names and len(names) == 6


# ---------------------------------------------------------------------------------------------------------
# Conditions (benchmarks/realistic_conditions.py): the same numbers, one trouble of real photos added
# ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def condition_sets(mnist_test_set, tmp_path_factory):
    images, labels = mnist_test_set
    folder = tmp_path_factory.mktemp("conditions")
    return {c: make_number_set(str(folder / c), images, labels, 6, seed=7, condition=c) for c in CONDITIONS}


def test_every_condition_shows_the_clean_set_s_numbers(condition_sets):
    clean = condition_sets["clean"]
    for condition, records in condition_sets.items():
        assert [r["number"] for r in records] == [r["number"] for r in clean], condition
        assert all(r["condition"] == condition for r in records)
        if condition != "clean":                       # and the pictures differ from the clean ones
            assert any(not np.array_equal(grey(r), grey(c)) if grey(r).shape == grey(c).shape else True
                       for r, c in zip(records, clean)), condition


def test_a_clean_look_changes_nothing(mnist_test_set):
    images, _ = mnist_test_set
    digits = [images[i] for i in range(5)]
    plain, boxes = render_number(digits, np.random.default_rng(4), touching=True, ruled=True)
    looked, boxes2 = render_number(digits, np.random.default_rng(4), touching=True, ruled=True, look=Look())
    assert boxes == boxes2 and np.array_equal(np.asarray(plain), np.asarray(looked))


def test_conditions_repeat_with_their_seed(mnist_test_set, tmp_path):
    images, labels = mnist_test_set
    for condition in ("shadow", "tilt", "paper"):
        a = make_number_set(str(tmp_path / f"{condition}a"), images, labels, 3, seed=5, condition=condition)
        b = make_number_set(str(tmp_path / f"{condition}b"), images, labels, 3, seed=5, condition=condition)
        assert [open(r["path"], "rb").read() for r in a] == [open(r["path"], "rb").read() for r in b]


def test_overlapping_digits_cross_deeper_than_touching_ones(condition_sets):
    def overlaps(records):
        return [min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]) for r in records for i in r["touching_pairs"]
                for a, b in [(r["boxes"][i], r["boxes"][i + 1])]]
    deep, plain = overlaps(condition_sets["overlap"]), overlaps(condition_sets["clean"])
    assert all(r["touching"] for r in condition_sets["overlap"])
    assert np.median(deep) > np.median(plain) if plain else len(deep) >= 6


def test_tight_crops_put_the_ink_at_the_picture_s_edges(condition_sets):
    for r in condition_sets["tight"]:
        width, height = Image.open(r["path"]).size
        boxes, margin = r["boxes"], 0.05 * max(b[3] for b in r["boxes"]) + 2
        assert min(b[0] for b in boxes) <= margin and max(b[0] + b[2] for b in boxes) >= width - margin
        assert min(b[1] for b in boxes) <= margin and max(b[1] + b[3] for b in boxes) >= height - margin


def test_a_shadow_or_object_darkens_much_of_the_picture_but_not_the_digits(condition_sets):
    darker = 0
    for r in condition_sets["shadow"]:
        picture = grey(r)
        paper = np.percentile(picture, 90)
        darker += np.mean(picture < 0.6 * paper) > 0.1       # a large dark region, not only the ink
        for x, y, w, h in r["boxes"]:                        # the digits are still darker than around them
            around = picture[max(0, y - 4):y + h + 4, max(0, x - 4):x + w + 4]
            assert np.percentile(around, 5) < np.percentile(around, 95) - 40, r["path"]
    assert darker >= 4


def test_one_digit_conditions(mnist_test_set, tmp_path):
    images, labels = mnist_test_set
    clean = make_realistic_set(str(tmp_path / "clean"), images, labels, 4, seed=3)
    for condition in CONDITIONS:
        if condition in NUMBERS_ONLY:
            with pytest.raises(ValueError, match="no one-digit pictures"):
                make_realistic_set(str(tmp_path / condition), images, labels, 4, seed=3, condition=condition)
            continue
        written = make_realistic_set(str(tmp_path / condition), images, labels, 4, seed=3, condition=condition)
        assert [label for _, label in written] == [label for _, label in clean]
        assert all(min(Image.open(p).size) >= 8 for p, _ in written)
