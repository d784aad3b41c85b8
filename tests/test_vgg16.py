"""Tests of the VGG16 lesson: weights loading and its safety, image preparation, charts,
the package's entry points, and the network itself checked against Keras's VGG16 with the
same random weights.  Every photo is made here (synthetic JPEGs), nothing outside the
repository is read."""
import ast
import hashlib
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vgg16 import Nclasses, app, make_nclasses, utils
from vgg16 import convert_weights as cw
from vgg16 import network as V

ROOT = Path(__file__).resolve().parent.parent
VGG_DIR = ROOT / "vgg16"

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


def synthetic_photo(path, size, kind, seed=0):
    """A JPEG "photo" of ``size`` (width, height) with structure at several scales.

    kind "stripes": a body of wavy black and white bands on grass (zebra-like);
    kind "crescents": yellow crescents on dark wood (bananas-like).
    """
    width, height = size
    rng = np.random.default_rng(seed)
    scale = max(width, height)
    y, x = np.mgrid[0:height, 0:width] / scale
    if kind == "stripes":
        band = np.sin(60 * x + 5 * np.sin(9 * y)) > 0
        body = (x - 0.5 * width / scale) ** 2 / 0.12 + (y - 0.5 * height / scale) ** 2 / 0.05 < 1
        grass = np.stack([90 + 40 * y, 140 + 30 * np.sin(20 * x), 60 + 0 * x], axis=-1)
        coat = np.where(band[..., None], 235.0, 25.0) * np.ones(3)
        rgb = np.where(body[..., None], coat, grass)
    elif kind == "crescents":
        rgb = np.stack([110 + 30 * np.sin(70 * y + 3 * x), 70 + 20 * np.sin(70 * y), 40 + 0 * x], axis=-1)
        for cx, cy, r in ((0.45, 0.35, 0.25), (0.55, 0.38, 0.22), (0.5, 0.45, 0.2)):
            crescent = (np.abs(np.hypot(x - cx, y - cy) - r) < 0.035) & (y > cy)
            rgb = np.where(crescent[..., None], np.array([235.0, 205.0, 50.0]), rgb)
    else:
        raise ValueError(kind)
    rgb = rgb + rng.normal(0, 10, rgb.shape)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path, quality=90)
    return Path(path)


# The sizes of the course's demo photos: two landscape (zebra 721x543, bananas 1024x682) and one
# portrait (elephant 459x500, whose odd height difference makes the crop round down).
PHOTO_SPECS = {"zebra.jpg": ((721, 543), "stripes", 0), "bananas.jpg": ((1024, 682), "crescents", 1),
               "portrait.jpg": ((459, 500), "stripes", 2)}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    return {name: synthetic_photo(folder / name, size, kind, seed)
            for name, (size, kind, seed) in PHOTO_SPECS.items()}


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


def test_missing_weights_explain_both_routes(tmp_path, photos, capsys, monkeypatch):
    monkeypatch.setattr(V, "DEFAULT_WEIGHTS", (tmp_path / "vgg16.npz", tmp_path / "vgg16.npy"))
    image = str(photos["zebra.jpg"])
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


def test_center_crop_and_photos(photos):
    img = Image.new("RGB", (300, 120))
    assert utils.center_crop(img).size == (120, 120)
    assert utils.center_crop(Image.new("RGB", (50, 81))).size == (50, 50)
    paths = [photos[name] for name in PHOTO_SPECS]
    batch = utils.load_images(paths)
    assert batch.shape == (3, 224, 224, 3) and 0 <= batch.min() and batch.max() <= 1
    assert batch.std() > 0.1  # a picture with structure, not a flat one
    # Exactly the centred square of the decoded pixels (noise in every pixel: one pixel off shows).
    for x, path in zip(batch, paths):
        pixels = np.asarray(Image.open(path).convert("RGB"))
        height, width = pixels.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        square = Image.fromarray(pixels[top:top + side, left:left + side]).resize((224, 224), Image.BILINEAR)
        np.testing.assert_array_equal(x, np.asarray(square, dtype=np.float32) / 255.0, err_msg=path.name)


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


def test_class_names_match_the_shipped_table(tmp_path, capsys):
    tsv = VGG_DIR / "imagenet_classes.tsv"
    table = make_nclasses.read_classes(tsv)
    assert Nclasses.labels == table
    assert len(Nclasses.labels) == 1000 and Nclasses.labels[340] == "zebra"
    assert make_nclasses.render(table, tsv.name) == (VGG_DIR / "Nclasses.py").read_text("utf-8")
    # The script regenerates the committed file byte for byte.
    make_nclasses.main([str(tsv), "--out", str(tmp_path / "Nclasses.py")])
    assert capsys.readouterr().out == f"wrote {tmp_path / 'Nclasses.py'}\n"
    assert (tmp_path / "Nclasses.py").read_bytes() == (VGG_DIR / "Nclasses.py").read_bytes()
    assert no_temp_files(tmp_path)


def test_cjk_font_choice_skips_placeholder_fonts():
    from matplotlib.font_manager import fontManager
    last_resort = [f for f in fontManager.ttflist if "last resort" in f.name.lower()]
    dejavu = [f for f in fontManager.ttflist if f.name == "DejaVu Sans"]
    assert dejavu
    # 'Last Resort' maps every code point to a box; it must not count as a Chinese font.
    assert utils.find_cjk_font(fonts=last_resort + dejavu) is None
    assert utils.title_and_font(fonts=dejavu) == (utils.TOP5_TITLE_EN, None)


def test_charts_render_headless_without_warnings(tmp_path, photos, caplog):
    probs = np.array([0.5, 0.2, 0.1, 0.05, 0.01])
    names = [Nclasses.labels[i] for i in (340, 3, 999, 2, 954)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        top5 = utils.save_top5_chart(probs, names, tmp_path / "top5.png")  # this machine's fonts
        steps = utils.save_steps_figure(photos["portrait.jpg"], tmp_path / "steps.png")
    assert not caught, [str(w.message) for w in caught]
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]
    assert Image.open(top5).size == (700, 450) and Image.open(steps).size == (900, 340)
    assert no_temp_files(tmp_path)


# ---------------------------------------------------------------------------
# The network against Keras's VGG16
# ---------------------------------------------------------------------------
FC8_STD = 5e-4  # with He-normal layers below it, this gives a peaked but not one-hot softmax
PHOTOS = ("zebra.jpg", "bananas.jpg")


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
def keras_reference(tmp_path_factory, photos):
    """Keras VGG16 with seeded random weights: its probabilities, and its weights as our .npz."""
    import keras

    folder = tmp_path_factory.mktemp("vgg16_keras")
    paths = [photos[name] for name in PHOTOS]
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


# ---------------------------------------------------------------------------
# The package and its entry points
# ---------------------------------------------------------------------------
def run_python(args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)  # the script form must find the package by itself
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_app_help_as_module_and_as_script(tmp_path):
    module = run_python(["-m", "vgg16.app", "--help"], cwd=ROOT)
    script = run_python([str(VGG_DIR / "app.py"), "--help"], cwd=tmp_path)  # from another folder
    for done in (module, script):
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("usage: ") and "IMAGE [IMAGE ...]" in done.stdout
        for flag in ("--weights", "--allow-pickle", "--out-dir", "--no-plots", "--batch-size"):
            assert flag in done.stdout


@pytest.mark.parametrize("script", ["convert_weights.py", "make_nclasses.py"])
def test_other_scripts_run_from_another_folder(tmp_path, script):
    done = run_python([str(VGG_DIR / script), "--help"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ")


def test_package_import_is_light():
    done = run_python(["-c", "import sys, vgg16; print(sorted(m for m in sys.modules if m.startswith("
                       "('vgg16', 'tensorflow', 'matplotlib'))))"], cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['vgg16']"


def test_no_bare_sibling_imports():
    modules = {p.stem for p in VGG_DIR.glob("*.py")}
    assert "vgg16" not in modules  # a module named like its package would shadow it
    for path in VGG_DIR.glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module.split(".")[0]]
            else:
                continue
            assert not set(names) & modules, f"{path.name}:{node.lineno} imports a sibling by bare name"
        if path.stem in ("network", "utils", "Nclasses", "__init__"):
            assert "sys.path" not in path.read_text("utf-8"), f"library module {path.name} edits sys.path"
