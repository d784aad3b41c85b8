"""Tests of the VGG16 lesson: weights loading and its safety, image preparation, charts,
and the network itself checked against Keras's VGG16 with the same random weights."""
import hashlib
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

VGG_DIR = Path(__file__).resolve().parent.parent / "vgg16"
sys.path.insert(0, str(VGG_DIR))  # the lesson's scripts import each other by plain name

import Nclasses  # noqa: E402
import app  # noqa: E402
import convert_weights as cw  # noqa: E402
import make_nclasses  # noqa: E402
import utils  # noqa: E402
import vgg16 as V  # noqa: E402

# Keras's own code trips numpy 2's __array__(copy=...) deprecation; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

# A two-layer stand-in for the real layer table, so file tests stay a few bytes.
TINY = {"conv1_1": ((3, 3, 3, 2), (2,)), "fc8": ((2, 5), (5,))}


def tiny_weights(seed=0):
    return {layer: [w, b] for layer, w, b in V.random_weights(seed, shapes=TINY)}


def full_size_views():
    """All VGG16 layers at their real shapes, as zero-stride views: checks see 138M values, RAM holds none."""
    return {layer: [np.broadcast_to(np.float32(0), ws), np.broadcast_to(np.float32(0), bs)]
            for layer, (ws, bs) in V.LAYER_SHAPES.items()}


def save_pickled(path, obj):
    np.save(path, np.array(obj, dtype=object), allow_pickle=True)
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def no_temp_files(folder):
    return not list(Path(folder).glob("*.tmp"))


# ---------------------------------------------------------------------------
# Layer table and weight checks
# ---------------------------------------------------------------------------
def test_layer_table_is_vgg16():
    assert V.LAYERS[0] == "conv1_1" and V.LAYERS[12] == "conv5_3" and V.LAYERS[13:] == ("fc6", "fc7", "fc8")
    n_params = sum(np.prod(ws) + np.prod(bs) for ws, bs in V.LAYER_SHAPES.values())
    assert n_params == 138_357_544  # the published VGG16 (configuration D) parameter count


def test_full_size_views_pass_the_check():
    V.check_weights(full_size_views())


@pytest.mark.parametrize("damage, expected", [
    (lambda w: w.pop("fc8"), ["missing layer", "fc8"]),
    (lambda w: w.__setitem__("conv3_2", [w["conv3_2"][0][:, :, :, :10], w["conv3_2"][1]]),
     ["layer conv3_2", "W has shape (3, 3, 256, 10)", "expected (3, 3, 256, 256)"]),
    (lambda w: w.__setitem__("fc7", [w["fc7"][0], w["fc7"][1].astype(np.float64)]),
     ["layer fc7", "b has dtype float64", "float32"]),
    (lambda w: w.__setitem__("conv1_1", [w["conv1_1"][0]]), ["layer conv1_1", "pair [W, b]"]),
    (lambda w: w.__setitem__("fc6", [[[0.0]], w["fc6"][1]]), ["layer fc6", "not a numpy array"]),
])
def test_bad_weights_name_the_layer(damage, expected):
    weights = full_size_views()
    damage(weights)
    with pytest.raises(V.WeightsError) as err:
        V.check_weights(weights, source="my.npz")
    for text in ["my.npz"] + expected:
        assert text in str(err.value)


def test_vgg16_checks_weights_before_building():
    weights = full_size_views()
    weights["conv5_1"][0] = np.broadcast_to(np.float32(0), (3, 3, 512, 256))
    with pytest.raises(V.WeightsError, match="conv5_1"):
        V.Vgg16(weights)


# ---------------------------------------------------------------------------
# The course's pickled .npy: SHA-1 gate
# ---------------------------------------------------------------------------
class _LeavesAMark:
    """Unpickling this creates a file: a stand-in for code hidden in a pickle."""

    def __init__(self, mark):
        self.mark = str(mark)

    def __reduce__(self):
        return (Path.touch, (Path(self.mark),))


def test_pickle_refused_without_matching_sha1(tmp_path):
    mark = tmp_path / "code_ran"
    npy = tmp_path / "vgg16.npy"
    save_pickled(npy, {"conv1_1": [_LeavesAMark(mark), 0]})
    with pytest.raises(V.WeightsError) as err:
        V.load_course_npy(npy)
    msg = str(err.value)
    assert "refusing to unpickle" in msg and "--allow-pickle" in msg and "run any code" in msg
    assert hashlib.sha1(npy.read_bytes()).hexdigest() in msg and V.COURSE_NPY_SHA1 in msg
    assert not mark.exists()
    # The gate is what stopped it: allowed, the same file does run its code.
    with pytest.raises(V.WeightsError, match="layer conv1_1: W is a NoneType"):
        V.load_weights(npy, allow_pickle=True)
    assert mark.exists()


def test_sha1_match_unpickles(tmp_path):
    npy = tmp_path / "vgg16.npy"
    weights = tiny_weights()
    digest = save_pickled(npy, weights)
    loaded = V.load_weights(npy, expected_sha1=digest, shapes=TINY)
    assert sorted(loaded) == sorted(weights)
    for layer in TINY:
        for got, want in zip(loaded[layer], weights[layer]):
            np.testing.assert_array_equal(got, want)
    # With the real pinned hash, the same file is refused.
    with pytest.raises(V.WeightsError, match="refusing"):
        V.load_weights(npy, shapes=TINY)


def test_course_npy_that_is_not_a_dict(tmp_path):
    npy = tmp_path / "list.npy"
    digest = save_pickled(npy, [1, 2, 3])
    with pytest.raises(V.WeightsError, match="expected a pickled dict"):
        V.load_course_npy(npy, expected_sha1=digest)


def test_convert_npy_roundtrip_is_atomic(tmp_path):
    npy = tmp_path / "vgg16.npy"
    weights = tiny_weights(1)
    digest = save_pickled(npy, weights)
    out = cw.convert_npy(npy, expected_sha1=digest, shapes=TINY)
    assert out == tmp_path / "vgg16.npz" and no_temp_files(tmp_path)
    npz = V.NpzWeights(out, shapes=TINY)
    for layer in TINY:
        for got, want in zip(npz[layer], weights[layer]):
            np.testing.assert_array_equal(got, want)
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="--force"):
        cw.convert_npy(npy, expected_sha1=digest, shapes=TINY)
    assert out.read_bytes() == before
    # A failure while writing leaves neither a partial file nor a temp file.
    with pytest.raises(V.WeightsError):
        cw.convert_npy(npy, tmp_path / "other.npz", expected_sha1=digest)  # tiny != real VGG16
    assert not (tmp_path / "other.npz").exists() and no_temp_files(tmp_path)


def test_convert_cli_refuses_untrusted_pickle(tmp_path, capsys):
    npy = tmp_path / "vgg16.npy"
    save_pickled(npy, tiny_weights())
    assert cw.main(["npy", str(npy)]) == 2
    err = capsys.readouterr().err
    assert "refusing to unpickle" in err and "--allow-pickle" in err
    assert not (tmp_path / "vgg16.npz").exists() and no_temp_files(tmp_path)
    # Allowed, it unpickles and then stops at the layer check (tiny weights), writing nothing.
    assert cw.main(["npy", str(npy), "--allow-pickle"]) == 2
    assert "missing layer" in capsys.readouterr().err
    assert not (tmp_path / "vgg16.npz").exists() and no_temp_files(tmp_path)


# ---------------------------------------------------------------------------
# The .npz format
# ---------------------------------------------------------------------------
def test_npz_missing_and_misshaped_layers(tmp_path):
    path = tmp_path / "w.npz"
    V.write_npz(path, [("conv1_1", np.zeros((3, 3, 3, 64), np.float32), np.zeros(64, np.float32))])
    with pytest.raises(V.WeightsError) as err:
        V.NpzWeights(path)
    assert str(path) in str(err.value) and "conv1_2" in str(err.value) and "fc8" in str(err.value)
    bad = {"conv1_1": [np.zeros((3, 3, 3, 2), np.float32), np.zeros(2, np.float64)],
           "fc8": [np.zeros((2, 4), np.float32), np.zeros(5, np.float32)]}
    V.write_npz(path, ((k, *v) for k, v in bad.items()), force=True)
    with pytest.raises(V.WeightsError) as err:
        V.NpzWeights(path, shapes=TINY)
    assert "layer conv1_1: b has dtype float64" in str(err.value)
    assert "layer fc8: W has shape (2, 4), expected (2, 5)" in str(err.value)


def test_npz_with_pickled_array_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("conv1_1/W.npy", "w") as f:
            np.lib.format.write_array(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(V.WeightsError, match="never unpickles"):
        V.NpzWeights(path, shapes=TINY)


@pytest.mark.parametrize("content, expected", [
    (b"not a zip at all", "neither an .npz nor an .npy"),
    (b"PK\x03\x04broken", "not a readable .npz"),
    (b"\x89HDF\r\n\x1a\n", "convert_weights.py keras --h5"),
])
def test_unreadable_weights_files(tmp_path, content, expected):
    path = tmp_path / "weights.bin"
    path.write_bytes(content)
    with pytest.raises(V.WeightsError, match=expected.replace(".", r"\.")):
        V.load_weights(path, shapes=TINY)


def test_loader_prefers_the_npz(tmp_path):
    npy = tmp_path / "vgg16.npy"
    npy.write_bytes(b"junk: reading this would fail")
    V.write_npz(tmp_path / "vgg16.npz", ((k, *v) for k, v in tiny_weights().items()))
    assert V.resolve_weights_path(npy) == tmp_path / "vgg16.npz"
    assert isinstance(V.load_weights(npy, shapes=TINY), V.NpzWeights)


def test_missing_weights_explain_both_routes(tmp_path, shared, capsys, monkeypatch):
    monkeypatch.setattr(V, "DEFAULT_WEIGHTS", (tmp_path / "vgg16.npz", tmp_path / "vgg16.npy"))
    image = str(shared / "data/course_photos/a.jpg")
    for argv in ([image], [image, "--weights", str(tmp_path / "nothing.npz")]):
        assert app.main(argv) == 2
        err = capsys.readouterr().err
        assert "convert_weights.py npy" in err and "convert_weights.py keras" in err
        assert V.COURSE_NPY_SHA1 in err and "--h5" in err


# ---------------------------------------------------------------------------
# Images, class names, charts
# ---------------------------------------------------------------------------
GREY = 230  # the pictures' light grey: a scale error in any mode shows up as another value


def _modes(tmp_path):
    """Files in several modes, all a light grey 300x200 picture with a black stripe at the left."""
    rgb = np.full((200, 300, 3), GREY, np.uint8)
    rgb[:, :40] = 0
    files = {}
    files["rgb.jpg"] = Image.fromarray(rgb)
    files["grey.png"] = Image.fromarray(rgb[:, :, 0])
    files["cmyk.jpg"] = Image.fromarray(rgb).convert("CMYK")
    files["palette.png"] = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    # 16-bit: PIL's own convert() would clip 59110 to 255 (white) instead of scaling it.
    files["grey16.png"] = Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257)
    rgba = np.dstack([rgb, np.full((200, 300), 255, np.uint8)])
    rgba[80:120, 130:170] = 0  # transparent black hole in the middle: must show white
    files["rgba.png"] = Image.fromarray(rgba)
    for name, img in files.items():
        img.save(tmp_path / name)
    return files


def test_load_image_any_mode(tmp_path):
    files = _modes(tmp_path)
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    for name in files:
        x = utils.load_image(tmp_path / name)
        assert x.shape == (224, 224, 3) and x.dtype == np.float32, name
        # The centre crop (x 50..250) drops the black stripe at the left.
        if name == "rgba.png":
            assert x.max() == 1.0 and x.min() > GREY / 255 - 0.02
        else:
            assert np.abs(x - GREY / 255).max() < 0.03, (name, x.min(), x.max())


def test_load_image_follows_exif_rotation(tmp_path):
    rgb = np.full((200, 300, 3), GREY, np.uint8)
    rgb[:, 140:160] = 0  # a vertical black band in the middle of a landscape picture
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees to display": a phone held upright
    Image.fromarray(rgb).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    x = utils.load_image(tmp_path / "phone.jpg")
    assert x[112].max() < 0.3  # shown upright, the band runs across the middle row
    assert x[:30].min() > 0.8 and x[-30:].min() > 0.8


def test_center_crop_and_course_photo(shared):
    img = Image.new("RGB", (300, 120))
    assert utils.center_crop(img).size == (120, 120)
    assert utils.center_crop(Image.new("RGB", (50, 81))).size == (50, 50)
    batch = utils.load_images([shared / "data/course_photos/a.jpg", shared / "data/course_photos/d.jpg"])
    assert batch.shape == (2, 224, 224, 3) and 0 <= batch.min() and batch.max() <= 1
    assert batch.std() > 0.1  # a real photo, not a flat picture


def test_load_image_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        utils.load_image(tmp_path / "nope.jpg")
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    with pytest.raises(ValueError, match="notes.jpg"):
        utils.load_image(bad)


def test_percent():
    assert utils.percent(0.1234) == "12.34%"
    assert utils.percent(1) == "100.00%"
    assert utils.percent(0.000049) == "0.00%"


def test_class_names_match_the_table(shared):
    table = make_nclasses.read_classes(shared / "data/imagenet/imagenet_classes.tsv")
    assert Nclasses.labels == table
    assert len(Nclasses.labels) == 1000 and Nclasses.labels[340] == "zebra"
    assert make_nclasses.render(table, "imagenet_classes.tsv") == (VGG_DIR / "Nclasses.py").read_text("utf-8")


def test_cjk_font_choice_skips_placeholder_fonts():
    from matplotlib.font_manager import fontManager
    last_resort = [f for f in fontManager.ttflist if "last resort" in f.name.lower()]
    dejavu = [f for f in fontManager.ttflist if f.name == "DejaVu Sans"]
    assert dejavu
    # 'Last Resort' maps every code point to a box; it must not count as a Chinese font.
    assert utils.find_cjk_font(fonts=last_resort + dejavu) is None
    assert utils.title_and_font(fonts=dejavu) == (utils.TOP5_TITLE_EN, None)


def test_charts_render_headless_without_warnings(tmp_path, shared, caplog):
    probs = np.array([0.5, 0.2, 0.1, 0.05, 0.01])
    names = [Nclasses.labels[i] for i in (340, 3, 999, 2, 954)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        top5 = utils.save_top5_chart(probs, names, tmp_path / "top5.png")  # this machine's fonts
        steps = utils.save_steps_figure(shared / "data/course_photos/c.jpg", tmp_path / "steps.png")
    assert not caught, [str(w.message) for w in caught]
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert Image.open(top5).size == (700, 450) and Image.open(steps).size == (900, 340)
    assert no_temp_files(tmp_path)


# ---------------------------------------------------------------------------
# The network against Keras's VGG16
# ---------------------------------------------------------------------------
FC8_STD = 5e-4  # with He-normal layers below it, this gives a peaked but not one-hot softmax
PHOTOS = ("a.jpg", "d.jpg")  # zebra, bananas


def save_like_keras_download(model, folder):
    """Write the weights in the layout of Keras's downloadable vgg16_weights_tf_dim_ordering_tf_kernels.h5
    (the legacy HDF5 layout); fall back to Keras 3's own format if that writer is gone."""
    try:
        import h5py
        from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group
    except ImportError:
        path = folder / "vgg16.weights.h5"
        model.save_weights(path)
        return path
    path = folder / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    with h5py.File(path, "w") as f:
        save_weights_to_hdf5_group(f, model)
    return path


@pytest.fixture(scope="module")
def keras_reference(tmp_path_factory, shared):
    """Keras VGG16 with seeded random weights: its probabilities, and its weights as our .npz."""
    import keras

    folder = tmp_path_factory.mktemp("vgg16_keras")
    paths = [shared / "data/course_photos" / name for name in PHOTOS]
    images = utils.load_images(paths)
    model = keras.applications.VGG16(weights=None)
    ours_to_keras = {ours: k for k, ours in cw.keras_layer_names().items()}
    for layer, w, b in V.random_weights(seed=0, fc8_std=FC8_STD):
        model.get_layer(ours_to_keras[layer]).set_weights([w, b])
    x = keras.applications.vgg16.preprocess_input(images * 255.0)  # 'caffe': RGB->BGR, minus the mean
    probs = np.asarray(model(x, training=False))
    h5 = save_like_keras_download(model, folder)
    weights = cw.keras_to_weights(model)
    del model
    npz = V.write_npz(folder / "vgg16.npz", ((k, *v) for k, v in weights.items()))
    return dict(paths=paths, images=images, probs=probs, npz=npz, h5=h5, weights=weights, folder=folder)


def test_matches_keras(keras_reference):
    import tensorflow.compat.v1 as tf

    ref = keras_reference
    ref_probs = ref["probs"]
    # The comparison means something only if the outputs are far from uniform (0.001).
    assert (ref_probs.max(axis=1) > 0.05).all() and (ref_probs.max(axis=1) < 0.999).all(), ref_probs.max(axis=1)
    assert len(set(ref_probs.argmax(axis=1))) == len(PHOTOS)
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, 224, 224, 3])
        vgg = V.Vgg16(V.load_weights(ref["npz"]))
        prob = vgg.forward(images)
        assert prob.name == "prob:0"
        # The weights are variables fed once, not constants: the graph stays small.
        assert graph.as_graph_def().ByteSize() < 100_000
        with tf.Session() as sess:
            vgg.load(sess)
            assert vgg.weights is None
            ours = sess.run(prob, feed_dict={images: ref["images"]})
            single = sess.run(prob, feed_dict={images: ref["images"][1:]})  # any batch size
    diff = np.abs(ours - ref_probs).max()
    assert diff <= 1e-5, diff
    assert np.abs(single[0] - ours[1]).max() <= 1e-5


def test_keras_h5_route(keras_reference, capsys, monkeypatch):
    ref = keras_reference
    out = ref["folder"] / "from_h5.npz"
    written = {}

    def fake_write_npz(path, layers, force=False):  # the writer itself is tested above; spare 553 MB of disk
        written.update((layer, (w, b)) for layer, w, b in layers)
        Path(path).write_bytes(b"")
        return Path(path)

    monkeypatch.setattr(V, "write_npz", fake_write_npz)
    assert cw.main(["keras", "--h5", str(ref["h5"]), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert list(written) == list(V.LAYERS)
    for layer in V.LAYERS:
        for got, want in zip(written[layer], ref["weights"][layer]):
            np.testing.assert_array_equal(got, want)


def test_app_end_to_end(keras_reference, tmp_path, capsys):
    ref = keras_reference
    assert app.main([str(p) for p in ref["paths"]] + ["--weights", str(ref["npz"]), "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for path, prob in zip(ref["paths"], ref["probs"]):
        block = out.split(f"{path}:\n", 1)[1].splitlines()[:5]
        for line, index in zip(block, np.argsort(prob)[::-1][:5]):
            head, pct = line.strip().split(" ---- ")
            assert head == f"{index}: {Nclasses.labels[index]}"
            assert abs(float(pct.rstrip("%")) - 100 * prob[index]) <= 0.01
        for suffix in ("_top5.png", "_steps.png"):
            assert (tmp_path / f"{path.stem}{suffix}").is_file()
