"""The networks of tfnotes/touching.py: their NumPy forward passes, the shipped weights, their errors, the maker."""
import threading
import time

import numpy as np
import pytest

from tfnotes import data, digits, touching
from tfnotes.errors import ModelError
from tfnotes.tfenv import tf

from benchmarks import make_pair_weights, make_touching_weights
from benchmarks.make_touching_weights import groups_in
from benchmarks.realistic_numbers import render_number

PAIRS_READ = 0.8     # share of test-digit pairs the shipped pair network must read right (both digits)
TRIPLES_READ = 0.55  # share of test-digit chains of three the shipped triple network must read right (all three)


def test_convolution_block_matches_tensorflow():
    rng = np.random.default_rng(0)
    x = rng.random((3, 12, 20, 5), np.float32)
    w = rng.normal(size=(3, 3, 5, 7)).astype(np.float32)
    b = rng.normal(size=7).astype(np.float32)
    with tf.Graph().as_default(), tf.Session() as sess:
        y = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME") + b), 2, 2, "VALID")
        want = sess.run(y)
    np.testing.assert_allclose(touching.conv_relu_pool(x, w, b), want, rtol=1e-5, atol=1e-5)


def test_shipped_weights_tell_touching_digits_from_one():
    # Numbers of MNIST test digits (the network learned from training digits), half with touching pairs;
    # every group the app finds is labelled by the true boxes and must be judged right nearly always.
    images = data.load_mnist()[2]
    rng = np.random.default_rng(5)
    inputs, labels = [], []
    for n in range(24):
        chosen = rng.choice(len(images), 5, replace=False)
        picture, boxes = render_number([images[i] for i in chosen], np.random.default_rng([5, n]),
                                       touching=n % 2 == 0)
        for group, line, height, inside in groups_in(picture, boxes):
            inputs.append(touching.group_input(group, line, height))
            labels.append(len(inside) >= 2)
    p = 1 - touching.counts(touching.load(), np.stack([i[0] for i in inputs]), np.stack([i[1] for i in inputs]))[:, 0]
    labels = np.array(labels)
    right, pairs, caught = int(((p >= 0.5) == labels).sum()), int(labels.sum()), int((p[labels] >= 0.5).sum())
    assert pairs >= 8 and len(labels) >= 100
    # (a network that always says "one digit" would be right on about 85 % of the groups)
    assert right / len(labels) >= 0.95 and caught >= 0.8 * pairs, f"{right}/{len(labels)} right, {caught}/{pairs} pairs"


def test_shipped_pair_weights_read_touching_pairs_of_test_digits():
    # Short numbers of MNIST test digits (the network learned from training digits), each with a touching
    # pair: every group the app finds holding two true digits is read by the pair network alone.
    images, labels = data.load_mnist()[2:]
    rng = np.random.default_rng(6)
    inputs, truth = [], []
    for n in range(60):
        chosen = rng.choice(len(images), 3, replace=False)
        picture, boxes = render_number([images[i] for i in chosen], np.random.default_rng([6, n]), touching=True)
        for group, line, height, inside in groups_in(picture, boxes):
            if len(inside) == 2:
                inputs.append(touching.group_input(group, line, height))
                truth.append([labels[chosen[i]] for i in inside])
    left, right = touching.read_pairs(touching.load(kind="pairs"),
                                      np.stack([i[0] for i in inputs]), np.stack([i[1] for i in inputs]))
    truth = np.array(truth)
    assert len(truth) >= 45 and np.allclose(left.sum(axis=1), 1) and np.allclose(right.sum(axis=1), 1)
    both = (left.argmax(1) == truth[:, 0]) & (right.argmax(1) == truth[:, 1])
    # (guessing the commonest pair would be right about 1 % of the time)
    assert both.mean() >= PAIRS_READ, f"{both.sum()}/{len(truth)} pairs read right"


def chains_of_three(seed, count):
    """(inputs, truth [n, 3], counts) of the groups the app finds in pictures of three touching MNIST test digits
    (drawn chained): inputs and truth for the groups of all three, counts (true digits) for every group."""
    images, labels = data.load_mnist()[2:]
    rng = np.random.default_rng(seed)
    inputs, truth, counts, every = [], [], [], []
    for n in range(count):
        chosen = rng.choice(len(images), 3, replace=False)
        picture, boxes = render_number([images[i] for i in chosen], np.random.default_rng([seed, n]), touching=True,
                                       chained=True)
        for group, line, height, inside in groups_in(picture, boxes):
            every.append(touching.group_input(group, line, height))
            counts.append(len(inside))
            if len(inside) == 3:
                inputs.append(every[-1])
                truth.append([labels[i] for i in chosen])
    return inputs, np.array(truth), every, np.array(counts)


def test_shipped_weights_count_three_touching_digits():
    # Chains of test digits: the groups of three are counted as three or more, the others (pairs, lone digits)
    # mostly not.
    _, _, every, counts = chains_of_three(7, 40)
    weights = touching.load()
    images, features = np.stack([i[0] for i in every]), np.stack([i[1] for i in every])
    p = touching.counts(weights, images, features)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    three, fewer = p[counts >= 3, 2], p[counts < 3, 2]
    assert len(three) >= 15 and len(fewer) >= 15
    # (a network that never says three would catch none of them)
    assert (three >= 0.5).mean() >= 0.8 and (fewer < 0.5).mean() >= 0.8, (three.round(2), fewer.round(2))


def test_shipped_triple_weights_read_chains_of_test_digits():
    inputs, truth, _, _ = chains_of_three(8, 60)
    read = touching.read_triples(touching.load(kind="triples"),
                                 np.stack([i[0] for i in inputs]), np.stack([i[1] for i in inputs]))
    assert len(truth) >= 25 and all(np.allclose(r.sum(axis=1), 1) for r in read)
    right = np.logical_and.reduce([r.argmax(1) == truth[:, k] for k, r in enumerate(read)])
    # (guessing the commonest triple would be right about 0.1 % of the time)
    assert right.mean() >= TRIPLES_READ, f"{right.sum()}/{len(truth)} chains read right"


def test_a_cut_digit_gets_both_opinions():
    probs = np.array([[0.6, 0.3, 0.1] + [0.0] * 7, [0.0] * 9 + [1.0]], np.float32)
    reading = np.array([0.1, 0.8, 0.1] + [0.0] * 7)
    entry = {"rows": [0, 1], "part_readings": [reading, None]}
    each = digits.digit_probabilities(entry, probs)
    joint = np.sqrt([0.6, 0.3, 0.1]) * [0.1, 0.8, 0.1]
    np.testing.assert_allclose(each[0][:3], joint / joint.sum(), rtol=1e-6)   # the product, normalised: 1 wins
    np.testing.assert_array_equal(each[1], probs[1])                  # a digit not cut from a pair: as read
    disagree = {"rows": [0], "part_readings": [np.array([0.0] * 9 + [1.0])]}
    np.testing.assert_array_equal(digits.digit_probabilities(disagree, probs)[0], probs[0])  # nothing shared


def test_the_reader_outweighs_a_digit_model_sure_of_a_cut_part():
    # a part holding a stroke of its neighbour: the digit model says 4 (0.95), the reader of the whole group 5
    probs = np.array([[0.0] * 4 + [0.95, 0.05] + [0.0] * 4], np.float32)
    reading = np.array([0.0] * 4 + [0.1, 0.9] + [0.0] * 4)
    entry = {"rows": [0], "part_readings": [reading]}
    assert digits.digit_probabilities(entry, probs)[0].argmax() == 5
    assert (probs[0] * reading).argmax() == 4          # an unweighted product would keep the 4


def test_damaged_or_foreign_weights_file_is_named(tmp_path):
    broken = tmp_path / "touching.npz"
    broken.write_bytes(open(touching.WEIGHTS, "rb").read()[:5000])
    with pytest.raises(ModelError, match="touching.npz.*make_touching_weights"):
        touching.load(str(broken))
    other = tmp_path / "other.npz"
    np.savez(other, conv1_w=np.zeros((3, 3, 1, 16)))
    with pytest.raises(ModelError, match="not a touching-digits network.*conv1_b"):
        touching.load(str(other))
    with pytest.raises(ModelError, match="missing.npz"):
        touching.load(str(tmp_path / "missing.npz"))
    pairs = tmp_path / "pairs.npz"
    pairs.write_bytes(open(touching.PAIR_WEIGHTS, "rb").read()[:5000])
    with pytest.raises(ModelError, match="pairs.npz: cannot read the pair-reading network.*make_pair_weights"):
        touching.load(str(pairs), "pairs")
    with pytest.raises(ModelError, match="not a pair-reading network.*left_w"):
        touching.load(touching.WEIGHTS, "pairs")
    with pytest.raises(ModelError, match="not a triple-reading network.*first_w.*make_pair_weights.py --digits 3"):
        touching.load(touching.PAIR_WEIGHTS, "triples")
    older = tmp_path / "older.npz"        # a touching network with one output (yes or no), as an older maker made
    weights = touching.load()
    np.savez(older, **{**weights, "dense2_w": weights["dense2_w"][:, :1], "dense2_b": weights["dense2_b"][:1]})
    with pytest.raises(ModelError, match="older.npz: the touching-digits network has 1 outputs, not 3.*make_touch"):
        touching.load(str(older))
    for kind, path in (("touching", touching.WEIGHTS), ("pairs", touching.PAIR_WEIGHTS),
                       ("triples", touching.TRIPLE_WEIGHTS)):
        narrower = tmp_path / f"narrower_{kind}.npz"   # every array named right, one layer a channel short
        weights = touching.load(path, kind)
        np.savez(narrower, **{**weights, "conv2_w": weights["conv2_w"][..., :-1]})
        with pytest.raises(ModelError, match=f"narrower_{kind}.npz: the arrays do not fit the .*network"):
            touching.load(str(narrower), kind)


def test_touching_maker_writes_a_loadable_file_whatever_the_number_of_workers(run_maker_with_one_and_two_workers):
    # A tiny run of the maker, drawn by one worker and by two: the same file.
    out, said = run_maker_with_one_and_two_workers("make_touching_weights.py", "--pictures", 30,
                                                   "--single-pictures", 20, "--held-out", 10, "--epochs", 1)
    for text in said:
        assert "held-out groups counted right by this network" in text
        assert "held-out groups counted right by the shipped network" in text
    assert touching.load(out)["dense2_w"].shape == (64, 3)


def test_pair_maker_writes_a_loadable_file_and_repeats_itself(tmp_path, run_maker):
    # A tiny run of the maker, twice.
    outs = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for out in outs:
        said = run_maker("make_pair_weights.py", "--out", out, "--pictures", 60, "--held-out", 10, "--epochs", 1,
                         "--workers", 1)
        assert "held-out pairs read right (all 2 digits)" in said and f"wrote {out}" in said
    weights = touching.load(str(outs[0]), "pairs")
    assert weights["left_w"].shape == (128, 10) and weights["conv1_w"].shape == (3, 3, 1, 32)
    assert outs[0].read_bytes() == outs[1].read_bytes()              # the same arguments, the same file
    triples = tmp_path / "triples.npz"
    said = run_maker("make_pair_weights.py", "--digits", 3, "--out", triples, "--pictures", 40, "--held-out", 5,
                     "--epochs", 1, "--workers", 1)
    assert "groups of 3 touching digits" in said and "held-out triples read right (all 3 digits)" in said
    assert touching.load(str(triples), "triples")["middle_w"].shape == (128, 10)


def test_the_makers_refuse_more_pictures_than_their_seeds_keep_apart():
    # Chunks of pictures are seeded by --seed and picture number: past these limits a run would silently
    # redraw pictures of the other kind (touching maker) or of the next --seed (pair maker).
    with pytest.raises(SystemExit, match="at most 50,000"):
        make_touching_weights.main(["--pictures", "49500", "--held-out", "1000"])
    with pytest.raises(SystemExit, match=r"between 1 and 1,000,000 \(more would reuse the pictures of --seed 3\)"):
        make_pair_weights.main(["--pictures", "1000001", "--seed", "2"])


def test_the_networks_load_once_when_threads_ask_at_the_same_time(monkeypatch):
    # The web page's threads read pictures at once; each network must be loaded by one of them only.
    loads, started = [], threading.Barrier(8)

    def slow_load(kind="touching"):
        loads.append(kind)
        time.sleep(0.05)   # long enough for the other threads to arrive while this one loads
        return object()

    monkeypatch.setattr(digits, "_NETWORKS", {})
    monkeypatch.setattr(touching, "load", slow_load)

    got = []

    def ask():
        started.wait()
        got.append(digits._network("pairs"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert loads == ["pairs"] and len(got) == 8 and len({id(n) for n in got}) == 1
