"""The line-reading network (tfnotes/linereader.py): its input, NumPy forward pass and decoding, the shipped
weights on numbers of MNIST test digits, how the number reader takes its view, its errors, the maker."""

import itertools
import os

import numpy as np
import pytest

from tfnotes import data, digits, linereader, segment, touching
from tfnotes.errors import ModelError
from tfnotes.tfenv import tf, tf2

from benchmarks.make_line_weights import STRETCH, picture_line, varied
from benchmarks.realistic_conditions import Look
from benchmarks.realistic_numbers import render_number

# shares of numbers of test digits the shipped network alone must read exactly (it reads 37 of 40 clean ones and
# 25 of 30 overlapping ones; a network that learned nothing reads none)
LINES_READ, OVERLAPPING_READ = 0.75, 0.55


@pytest.mark.parametrize("backwards", [False, True])
def test_recurrent_layer_matches_keras(backwards):
    # the line reader's GRU, computed again in NumPy, is the Keras layer it learned as (each way along the bands)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 7, 5)).astype(np.float32)
    layer = tf2.keras.layers.GRU(4, return_sequences=True, go_backwards=backwards)
    layer.build(x.shape)
    w, u, b = (rng.normal(size=v.shape).astype(np.float32) for v in layer.get_weights())
    layer.set_weights([w, u, b])
    want = np.asarray(layer(x))
    if backwards:                # Keras gives the outputs in the order it read the bands: turn them back
        want = want[:, ::-1]
    np.testing.assert_allclose(linereader._gru(x, w, u, b, backwards), want, rtol=1e-5, atol=1e-5)


def test_band_convolution_matches_tensorflow():
    rng = np.random.default_rng(0)
    x = rng.random((2, 9, 6), np.float32)
    w = rng.normal(size=(5, 6, 4)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        want = sess.run(tf.nn.conv1d(x, w, 1, "SAME") + b)
    np.testing.assert_allclose(linereader._band_conv(x, w, b, relu=False), want, rtol=1e-5, atol=1e-5)


def test_decode_joins_a_digit_s_run_and_drops_the_blanks():
    bands = [1, 1, None, 1, None, 7, 7, None]        # "1", "1" again after a blank, "7" over two bands
    probs = np.full((len(bands), 11), 0.01, np.float32)
    for t, label in enumerate(bands):
        probs[t, linereader.BLANK if label is None else label] = 0.9
    probs[6, 7], probs[6, 2] = 0.6, 0.3                # the 7's second band is less sure, with a 2 beside it
    got, each = linereader.decode(probs)
    assert got == [1, 1, 7]
    assert each.shape == (3, 10) and np.allclose(each.sum(axis=1), 1.0)
    assert each[2].argmax() == 7 and each[2][2] < 0.05   # the 7's surest band speaks for it
    assert linereader.decode(np.eye(11, dtype=np.float32)[[10, 10]])[0] == []


def test_line_input_is_scaled_to_its_height_with_paper_on_the_right():
    mask = np.zeros((100, 400), bool)
    mask[30:70, 50:250] = True                          # 40 rows by 200 columns of ink: 120 columns at 24 rows
    image = linereader.line_input(mask)
    assert image.shape == (linereader.HEIGHT, 136) and image.shape[1] % linereader.FRAME == 0
    assert image[:, :120].min() > 0.99 and not image[:, 120:].any()
    long = np.ones((10, 2000), bool)                  # far longer than WIDTH allows: squeezed to fit
    assert linereader.line_input(long).shape == (linereader.HEIGHT, linereader.WIDTH)
    tilted = linereader.line_input(mask, angle=8.0)   # turned level first: taller box, narrower at 24 rows
    assert tilted.shape[0] == linereader.HEIGHT and tilted.shape[1] < image.shape[1]


def _read_lines(condition, count, seed):
    """(right, lines read) by the shipped network alone on numbers of MNIST test digits drawn in `condition`."""
    images, labels = data.load_mnist()[2:]
    weights, rng, right, read = linereader.load(), np.random.default_rng(seed), 0, 0
    for n in range(count):
        chosen = rng.choice(len(images), int(rng.integers(2, 8)), replace=False)
        look = Look(condition, np.random.default_rng([seed, n]))
        picture, _ = render_number([images[i] for i in chosen], np.random.default_rng([seed, n, 1]),
                                   touching=n % 2 == 0, look=look)
        image = picture_line(picture)
        if image is None:
            continue
        read += 1
        right += linereader.decode(linereader.bands(weights, image[None])[0])[0] == [int(labels[i]) for i in chosen]
    return right, read


def test_shipped_weights_read_numbers_of_test_digits():
    # The network learned from training digits; numbers of test digits, half with touching pairs.
    right, read = _read_lines("clean", 40, 3)
    assert read >= 36 and right >= LINES_READ * read, f"{right} of {read} read exactly"


def test_shipped_weights_read_overlapping_digits():
    right, read = _read_lines("overlap", 30, 4)
    assert read >= 25 and right >= OVERLAPPING_READ * read, f"{right} of {read} read exactly"


def _group(mask, left, right):
    part = np.zeros_like(mask)
    part[:, left:right] = mask[:, left:right]
    return segment.group_of(part)


def test_only_lines_the_network_counts_alike_get_its_readings(monkeypatch):
    # A line of two groups and a line of three; the (stand-in) network reads two digits in every line: the first
    # line gets its readings digit by digit, the line of three none.
    mask = np.zeros((40, 200), bool)
    for left in (10, 35, 100, 125, 160):
        mask[10:30, left:left + 15] = True
    groups = [_group(mask, left, right) for left, right in ((0, 30), (30, 60), (90, 120), (120, 150), (150, 200))]
    said = np.eye(10)[[2, 7]]
    monkeypatch.setattr(digits, "_network", lambda kind: None)
    monkeypatch.setattr(linereader, "bands", lambda weights, images: np.zeros((1, 1, 11)))
    monkeypatch.setattr(linereader, "decode", lambda probs: ([2, 7], said))
    readings = digits.line_readings([groups[:2], groups[2:]])
    assert set(readings) == {id(groups[0]), id(groups[1])}
    assert readings[id(groups[0])].argmax() == 2 and readings[id(groups[1])].argmax() == 7


def test_line_readings_weigh_in_on_each_digit():
    probs = np.array([[0.0, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.7, 0.0, 0.0]])   # the digit model: 7 over 1
    line = np.zeros(10)
    line[1], line[7] = 0.95, 0.05                                          # the line reader: surely 1
    entry = {"rows": [0], "line_readings": [line]}
    assert digits.digit_probabilities(entry, probs)[0].argmax() == 1
    assert digits.digit_probabilities({"rows": [0], "line_readings": [None]}, probs)[0].argmax() == 7


def test_group_bands_say_where_each_group_lies_in_the_line_s_input():
    mask = np.zeros((40, 300), bool)
    for left in (10, 60, 200):                         # 20 rows of ink: scaled by 24 / 20 in the line's input
        mask[10:30, left:left + 20] = True
    line = [_group(mask, left - 5, left + 25) for left in (10, 60, 200)]
    assert linereader.group_bands(line) == [(0, 2), (7, 10), (28, 31)]
    image = linereader.groups_input(line)
    inked = set(np.nonzero(image.max(axis=0) > 0.5)[0] // linereader.FRAME)
    assert inked == {t for first, last in linereader.group_bands(line) for t in range(first, last + 1)}


def _stand_in_network(monkeypatch, path, sure=0.99):
    """The line-reading network replaced by one whose best path is `path` (a digit or None per band), each band
    `sure` of its output."""
    probs = np.full((len(path), 11), (1 - sure) / 10, np.float32)
    for t, label in enumerate(path):
        probs[t, linereader.BLANK if label is None else label] = sure
    monkeypatch.setattr(digits, "_network", lambda kind: None)
    monkeypatch.setattr(linereader, "bands", lambda weights, images: probs[None])


def _pieces_and_a_digit():
    """A line of three groups: two pieces side by side (one digit broken at its middle), then a digit."""
    mask = np.zeros((40, 300), bool)
    mask[10:30, 10:19] = mask[10:30, 21:30] = mask[10:30, 60:80] = True
    return [_group(mask, *cols) for cols in ((0, 20), (20, 40), (40, 100))]


def test_recount_joins_pieces_the_line_reader_reads_as_one_digit(monkeypatch):
    line = _pieces_and_a_digit()
    _stand_in_network(monkeypatch, [0, 0, None, None, None, 7, 7, 7, None, None])   # bands 0-1: "0", 5-7: "7"
    joined = digits.Reader(None, None, None).recount(line)
    assert len(joined) == 2 and joined[1] is line[2]
    assert (joined[0].mask == (line[0].mask | line[1].mask)).all()


def test_recount_leaves_a_line_when_the_line_reader_is_unsure_or_agrees(monkeypatch):
    line = _pieces_and_a_digit()
    _stand_in_network(monkeypatch, [0, 0, None, None, None, 7, 7, 7, None, None], sure=0.85)   # 0.85^10 < RECOUNT,
    # and its two digits' count no surer (0.22 < COUNT_SURE: a blank band may be read as a digit)
    assert digits.Reader(None, None, None).recount(line) is line
    _stand_in_network(monkeypatch, [0, None, 3, None, None, 7, 7, None, None, None])          # three digits: agrees
    assert digits.Reader(None, None, None).recount(line) is line


def test_recount_joins_where_the_line_reader_is_sure_of_the_count_though_not_of_the_digits(monkeypatch):
    line = _pieces_and_a_digit()
    _stand_in_network(monkeypatch, [0, None, None, None, None, None, 7, None, None, None], sure=0.999)
    probs = linereader.bands(None, None)[0]
    probs[0, [0, 8]] = probs[6, [7, 1]] = 0.4995       # "0 or 8", then "7 or 1": each digit a coin toss
    assert np.prod(probs.max(axis=1)) < digits.RECOUNT
    assert linereader.count_probabilities(probs)[2] >= digits.COUNT_SURE     # but two digits, all but surely
    joined = digits.Reader(None, None, None).recount(line)
    assert len(joined) == 2 and joined[1] is line[2]
    monkeypatch.setattr(digits, "COUNT_SURE", 1.01)    # the reading's product alone would leave the line
    assert digits.Reader(None, None, None).recount(line) is line


def test_count_probabilities_sum_every_path_through_the_bands():
    probs = np.random.default_rng(0).dirichlet(np.full(11, 0.3), size=5)
    counts = np.zeros(6)
    for path in itertools.product(range(11), repeat=5):
        runs = [label for t, label in enumerate(path) if label != linereader.BLANK and (t == 0 or path[t - 1] != label)]
        counts[len(runs)] += np.prod(probs[np.arange(5), path])
    assert np.allclose(linereader.count_probabilities(probs), counts)


def test_recount_cuts_the_group_in_which_the_line_reader_reads_two_digits(monkeypatch):
    mask = np.zeros((40, 300), bool)
    mask[10:30, 10:50] = mask[10:30, 80:100] = True    # a wide group (two touching digits), then a digit
    line = [_group(mask, 0, 60), _group(mask, 60, 120)]
    _stand_in_network(monkeypatch, [3, None, None, 5, None, None, None, None, None, 9, None, None, None, None])
    asked = []

    def cuts(self, line, groups, height, slant, forced=False, three=()):
        asked.append((groups, forced, three))
        return [(groups[0], [_group(mask, 0, 30), _group(mask, 30, 60)])]

    monkeypatch.setattr(digits.Reader, "cuts", cuts)
    cut = digits.Reader(None, None, None).recount(line)
    assert [len(a[0]) for a in asked] == [1] and asked[0][0][0] is line[0] and asked[0][1:] == (True, ())
    assert len(cut) == 3 and cut[2] is line[1]


@pytest.mark.parametrize("sure, parts", [(0.99, 2), (0.95, 1)])
def test_a_lone_group_is_cut_only_where_the_line_reader_is_sure_of_two_digits(monkeypatch, sure, parts):
    # Two overlapping digits found as one group: the picture would read as one digit. The line reader recounts it
    # only from RECOUNT_ONE (0.99 per band: 0.90 for ten bands; 0.95: 0.60, enough for a line of several groups).
    mask = np.zeros((40, 300), bool)
    mask[10:30, 10:50] = True
    line = [_group(mask, 0, 60)]
    _stand_in_network(monkeypatch, [6, None, None, 1, None, None, None, None, None, None], sure=sure)
    monkeypatch.setattr(digits.Reader, "split_wide", lambda self, line: line)
    monkeypatch.setattr(digits.Reader, "cuts", lambda self, line, groups, *args, **kwargs:
                        [(groups[0], [_group(mask, 0, 30), _group(mask, 30, 60)])])
    lines, _ = digits.settle(None, None, [line], classify=None)
    assert [len(found) for found in lines] == [parts]
    assert sure ** 10 >= digits.RECOUNT or parts == 2


@pytest.mark.parametrize("whole, parts, cut", [(0.91, (0.92, 0.99), True), (0.995, (0.96, 0.90), False)])
def test_a_lone_group_is_cut_on_the_count_alone_where_its_parts_read_better(monkeypatch, whole, parts, cut):
    # The line reader all but sure of two digits in the picture's only group, though not of which two: the group is
    # cut only where the digit model reads the two parts better than the whole (overlapping "97" read as a 0 at 91 %,
    # its parts at 92 and 99 %), not where it reads the whole better (a bold 0 cropped at the picture's edges).
    mask = np.zeros((40, 300), bool)
    mask[10:30, 10:50] = True
    line = [_group(mask, 0, 60)]
    _stand_in_network(monkeypatch, [6, None, None, 1, None, None, None, None, None, None], sure=0.999)
    probs = linereader.bands(None, None)[0]
    probs[0, [6, 0]] = probs[3, [1, 7]] = 0.4995       # "6 or 0", then "1 or 7"
    assert np.prod(probs.max(axis=1)) < digits.RECOUNT_ONE
    assert linereader.count_probabilities(probs)[2] >= digits.COUNT_SURE_ONE
    monkeypatch.setattr(digits.Reader, "split_wide", lambda self, line: line)
    monkeypatch.setattr(digits.Reader, "cuts", lambda self, line, groups, *args, **kwargs:
                        [(groups[0], [_group(mask, 0, 30), _group(mask, 30, 60)])])
    monkeypatch.setattr(digits.Reader, "scores", lambda self, groups: np.log([whole, *parts][:len(groups)]))
    lines, _ = digits.settle(None, None, [line], classify=None)
    assert [len(found) for found in lines] == [2 if cut else 1]
    monkeypatch.setattr(digits, "COUNT_SURE_ONE", 1.01)   # the reading's product alone would leave it whole
    lines, _ = digits.settle(None, None, [line], classify=None)
    assert [len(found) for found in lines] == [1]


@pytest.mark.parametrize("path, joined", [([5, 5, None, None, None, None], True),
                                          ([2, None, None, 6, None, None], False)])
def test_pieces_of_one_digit_in_lines_of_their_own_are_joined_where_the_line_reader_counts_one(monkeypatch, path,
                                                                                               joined):
    # A 5 whose thin strokes broke: its bar, bowl and tail found as three lines of one group each ("2 6 4"). Shown
    # them as one line, the line reader counts one digit: one group, read as with --single. Where it counts two, the
    # lines stay; so do four groups, whatever it counts.
    mask = np.zeros((100, 60), bool)
    mask[5:12, 20:50] = mask[20:40, 15:25] = mask[50:80, 20:50] = mask[90:96, 25:30] = True

    def rows(top, bottom):
        part = np.zeros_like(mask)
        part[top:bottom] = mask[top:bottom]
        return [segment.group_of(part)]

    lines = [rows(0, 15), rows(15, 45), rows(45, 85)]
    _stand_in_network(monkeypatch, path, sure=0.999)
    found = digits.one_in_pieces(lines)
    if joined:
        three = mask.copy()
        three[85:] = False                     # the three pieces, not the fourth
        assert len(found) == 1 and len(found[0]) == 1 and (found[0][0].mask == three).all()
    else:
        assert found is lines
    four = lines + [rows(85, 100)]
    assert digits.one_in_pieces(four) is four


def test_every_shipped_weights_file_stays_small():
    # the learned parts ship in the repository: each at most about a megabyte (the line reader's is the largest)
    for path in (linereader.WEIGHTS, touching.WEIGHTS, touching.PAIR_WEIGHTS, touching.TRIPLE_WEIGHTS):
        assert os.path.getsize(path) <= 2 ** 20, path


def test_damaged_or_foreign_weights_file_is_named(tmp_path):
    broken = tmp_path / "lines.npz"
    broken.write_bytes(open(linereader.WEIGHTS, "rb").read()[:5000])
    with pytest.raises(ModelError, match="lines.npz: cannot read the line-reading network.*make_line_weights"):
        linereader.load(str(broken))
    with pytest.raises(ModelError, match="not a line-reading network.*band1_w"):
        linereader.load(touching.WEIGHTS)
    older = tmp_path / "older.npz"          # a line reader of an older maker, without the recurrent layers' arrays
    weights = linereader.load()
    np.savez(older, **{name: value for name, value in weights.items() if not name.endswith("_u")})
    with pytest.raises(ModelError, match="older.npz: not a line-reading network .no ahead_u, back_u.*make_line"):
        linereader.load(str(older))
    narrower = tmp_path / "narrower.npz"    # every array named right, a GRU a unit short: the file is named
    np.savez(narrower, **{**weights, "back_u": weights["back_u"][:-1]})
    with pytest.raises(ModelError, match="narrower.npz: the arrays do not fit the line-reading network.*make_line"):
        linereader.load(str(narrower))


def test_line_maker_writes_a_loadable_file_whatever_the_number_of_workers(run_maker_with_one_and_two_workers):
    # A tiny run of the maker, drawn by one worker and by two: the same file.
    out, said = run_maker_with_one_and_two_workers("make_line_weights.py", "--pictures", 30, "--single-pictures",
                                                   10, "--held-out", 10, "--epochs", 1)
    assert all("held-out lines read exactly" in text for text in said)
    assert linereader.load(out)["out_w"].shape == (1, 192, 11)


def test_line_maker_measures_a_file_without_learning(tmp_path, run_maker):
    # --measure reads the held-out lines with a given file and writes nothing; a file it cannot read is named.
    out = tmp_path / "never.npz"
    said = run_maker("make_line_weights.py", "--measure", linereader.WEIGHTS, "--held-out", 12, "--out", out)
    assert "held-out lines read exactly" in said and "wrote" not in said and not out.exists()
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not weights")
    said = run_maker("make_line_weights.py", "--measure", broken, "--held-out", 1, fails=True)
    assert "broken.npz: cannot read the line-reading network" in said and "Traceback" not in said


def test_a_varied_line_keeps_all_its_ink_and_the_network_s_shape():
    # A line as wide as the network takes, its ink from edge to edge: however it is stretched, slanted, moved and
    # thickened, no ink falls off either side and the result is again a line input.
    mask = np.zeros((40, 700), bool)
    mask[5:35, :] = np.arange(700) % 30 < 4                   # upright strokes across the whole line
    image = linereader.line_input(mask)
    assert image.shape[1] == linereader.WIDTH
    widths = set()
    for seed in range(40):
        out = varied(image, np.random.default_rng(seed))
        assert out.shape[0] == linereader.HEIGHT and out.shape[1] % linereader.FRAME == 0
        assert out.shape[1] <= linereader.WIDTH and out.min() >= 0 and out.max() <= 1
        assert not out[:, -linereader.FRAME // 2:].any()          # paper on the right: nothing cut off
        assert np.exp(-STRETCH) / 2 < out.sum() / image.sum() < 2  # the ink is all there (thinner or bolder)
        widths.add(out.shape[1])
        np.testing.assert_array_equal(out, varied(image, np.random.default_rng(seed)))   # seeded
    short = linereader.line_input(mask[:, :200])
    assert len({varied(short, np.random.default_rng(seed)).shape[1] for seed in range(40)}) > 2   # it does vary


def test_line_maker_keeps_its_lines_and_learns_the_same_from_them(tmp_path, run_maker):
    # --lines FILE: the first run draws the lines and keeps them, the second reads them and writes the same
    # weights; lines of other arguments, or a damaged file, are named with what to do.
    kept = tmp_path / "lines.npz"
    args = ("--pictures", 20, "--single-pictures", 6, "--held-out", 0, "--epochs", 1, "--lines", kept)
    outs = tmp_path / "drawn.npz", tmp_path / "read.npz"
    said = [run_maker("make_line_weights.py", *args, "--out", out) for out in outs]
    assert f"kept the lines in {kept}" in said[0] and f"read the lines kept in {kept}" in said[1]
    assert outs[0].read_bytes() == outs[1].read_bytes()
    said = run_maker("make_line_weights.py", *args, "--seed", 1, "--out", tmp_path / "x.npz", fails=True)
    assert "lines.npz holds the lines of pictures=20 single-pictures=6 seed=0" in said and "seed=1" in said
    kept.write_bytes(kept.read_bytes()[:3000])
    said = run_maker("make_line_weights.py", *args, "--out", tmp_path / "x.npz", fails=True)
    assert "lines.npz: cannot read the kept lines" in said and "delete it" in said and "Traceback" not in said
    assert not (tmp_path / "x.npz").exists()


def test_line_maker_learns_from_the_lines_of_other_seeds_too(tmp_path, run_maker):
    # --more-lines FILE: lines kept by a run of another --seed are learned from beside this run's own, so the
    # network can learn from more pictures than one seed draws; the same lines twice, or a damaged file, are named.
    args = ("--pictures", 12, "--single-pictures", 4, "--held-out", 0, "--epochs", 1)
    own, other = tmp_path / "own.npz", tmp_path / "other.npz"
    said = run_maker("make_line_weights.py", *args, "--lines", own, "--out", tmp_path / "0.npz")
    counts = [int(said.split(" lines of ")[0].split()[-1])]
    said = run_maker("make_line_weights.py", *args, "--seed", 1, "--lines", other, "--draw-only",
                     "--out", tmp_path / "1.npz")                       # --draw-only: the lines kept, nothing learned
    assert f"kept the lines in {other}" in said and not (tmp_path / "1.npz").exists()
    with np.load(other) as kept:
        counts.append(len(kept["labels"]))
    assert min(counts) > 0
    said = run_maker("make_line_weights.py", *args, "--draw-only", "--out", tmp_path / "1.npz", fails=True)
    assert "--draw-only keeps the lines it draws: name the file with --lines FILE" in said
    said = run_maker("make_line_weights.py", *args, "--draw-only", "--lines", tmp_path / "2.npz", "--more-lines", other,
                     fails=True)
    assert "--more-lines has no use with it" in said and not (tmp_path / "2.npz").exists()
    both = tmp_path / "both.npz"
    said = run_maker("make_line_weights.py", *args, "--lines", own, "--more-lines", other, "--out", both)
    assert f"{sum(counts)} lines of 16 pictures and the files of --more-lines" in said
    assert both.read_bytes() != (tmp_path / "0.npz").read_bytes()
    said = run_maker("make_line_weights.py", *args, "--lines", own, "--more-lines", own, "--out", tmp_path / "x.npz",
                     fails=True)
    assert "own.npz holds the lines of pictures=12 single-pictures=4 seed=0" in said and "already" in said
    with np.load(other) as kept:                       # lines of another network's height: named, not a traceback
        np.savez(tmp_path / "tall.npz", **{**kept, "images": np.zeros((len(kept["labels"]), 32, 384), np.float16)})
    said = run_maker("make_line_weights.py", *args, "--lines", own, "--more-lines", tmp_path / "tall.npz",
                     "--out", tmp_path / "x.npz", fails=True)
    assert "tall.npz holds arrays of other shapes than this maker's lines" in said and "Traceback" not in said
    other.write_bytes(other.read_bytes()[:2000])       # named before any drawing: no new lines kept, no weights
    fresh = tmp_path / "fresh.npz"
    said = run_maker("make_line_weights.py", *args, "--seed", 2, "--lines", fresh, "--more-lines", other,
                     "--out", tmp_path / "x.npz", fails=True)
    assert "other.npz: cannot read the kept lines" in said and "Traceback" not in said
    assert not (tmp_path / "x.npz").exists() and not fresh.exists()
