"""mnist_app: bad input, preprocessing invariants, realistic pictures, and the command line end to end."""
import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from tfnotes import data, digits, pictures
from tfnotes.errors import ImageError

import mnist_app
from benchmarks.realistic_digits import make_realistic_set


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_test_set():
    _, _, images, labels = data.load_mnist()
    return images, labels


def drawn_digit(width=160, height=200, stroke=9, paper=235, ink=40):
    """A clean grey picture of a '4'-like digit drawn with lines (dark ink on light paper)."""
    img = Image.new("L", (width, height), paper)
    d = ImageDraw.Draw(img)
    cx, top, bottom = width // 2, height // 4, 3 * height // 4
    d.line([(cx + 10, top), (cx - 30, bottom - 40), (cx + 35, bottom - 40)], fill=ink, width=stroke)
    d.line([(cx + 15, top + 20), (cx + 12, bottom)], fill=ink, width=stroke)
    return img


def centre_of_mass(a):
    idx = np.arange(a.shape[0])
    return float(a.sum(axis=1) @ idx / a.sum()), float(a.sum(axis=0) @ idx / a.sum())


def box_sides(a):
    rows, cols = np.nonzero(a > 0)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def aligned_diff(a, b):
    """Mean absolute difference of two 28x28 images, at the best shift of up to 1 px (rounding of the centring)."""
    return min(np.abs(np.roll(a, (dy, dx), axis=(0, 1)) - b).mean() for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def png_header_only(width, height):
    """A PNG whose header claims width x height (no real pixel data): enough for the size checks."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------------------
# Bad input: each gets a message naming the file
# ---------------------------------------------------------------------------
def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(ImageError, match="nope.png: no such file"):
        pictures.load_image(path)


def test_folder_without_pictures(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    [(name, error)] = digits.expand_inputs([str(tmp_path)])
    assert error and str(tmp_path) in error and "no pictures" in error


def test_glob_without_match(tmp_path):
    [(name, error)] = digits.expand_inputs([str(tmp_path / "*.png")])
    assert error and "no file matches" in error


@pytest.mark.parametrize("content, expected", [(b"", "empty"), (b"just some text\n" * 20, "not a picture")])
def test_non_image_and_empty_file(tmp_path, content, expected):
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=expected) as info:
        pictures.load_image(path)
    assert str(path) in str(info.value)


def test_truncated_picture(tmp_path):
    buf = io.BytesIO()
    drawn_digit().save(buf, "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[:len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="cut.jpg: damaged"):
        pictures.load_image(path)


@pytest.mark.parametrize("color", [255, 0, 128])
def test_blank_picture(tmp_path, color):
    path = tmp_path / f"blank{color}.png"
    Image.new("L", (120, 90), color).save(path)
    with pytest.raises(ImageError, match=rf"blank{color}.png: no digit found"):
        pictures.preprocess(pictures.load_image(path), name=str(path))


def test_faint_noise_is_blank(tmp_path):
    rng = np.random.default_rng(0)
    noise = np.clip(200 + rng.normal(0, 2, (100, 100)), 0, 255).astype(np.uint8)
    with pytest.raises(ImageError, match="noise.png: no digit found"):
        pictures.preprocess(Image.fromarray(noise), name="noise.png")


@pytest.mark.parametrize("side", [7000, 20000])   # over our limit; over PIL's own error limit too
def test_decompression_bomb(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(side, side))
    with pytest.raises(ImageError, match="bomb.png: .*(over the limit|decompression bomb)") as raised:
        pictures.load_image(path)
    assert "damaged" not in str(raised.value)


def test_own_pixel_limit(tmp_path):
    path = tmp_path / "d.png"
    drawn_digit().save(path)
    with pytest.raises(ImageError, match=r"/d.png: \d+x\d+ = [\d,]+ pixels is over the limit of 1,000 "):
        pictures.load_image(path, max_pixels=1000)


def test_animated_gif(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [drawn_digit(), ImageOps.invert(drawn_digit())]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(ImageError, match=r"/anim.gif: animated picture \(2 frames\); save the frame"):
        pictures.load_image(path)


def test_too_small_says_so(tmp_path):
    # Said as it is, on the command line and in the web page's upload alike (not "damaged or truncated").
    Image.new("L", (1, 1), 255).save(tmp_path / "dot.png")
    with pytest.raises(ImageError, match=r"^dot.png: 1x1 is too small to hold a digit$"):
        pictures.load_image(tmp_path / "dot.png", name="dot.png")
    with pytest.raises(ImageError, match=r"^upload: 1x1 is too small to hold a digit$"):
        pictures.load_image((tmp_path / "dot.png").read_bytes(), name="upload")


def test_still_gif_is_fine(tmp_path):
    path = tmp_path / "still.gif"
    drawn_digit().save(path)
    assert pictures.preprocess(pictures.load_image(path)).shape == (28, 28)


# ---------------------------------------------------------------------------
# Preprocessing invariants
# ---------------------------------------------------------------------------
def synthetic_pictures(images):
    """Synthetic digits of several shapes and sizes: drawn ones and enlarged MNIST digits."""
    out = [drawn_digit(), drawn_digit(300, 180, stroke=4), drawn_digit(90, 260, stroke=14)]
    for i, scale in zip(range(5), (1, 3, 5, 8, 11)):
        out.append(ImageOps.invert(Image.fromarray(images[i])).resize((28 * scale, 28 * scale), Image.BICUBIC))
    return out


def test_invariants(mnist_test_set):
    for img in synthetic_pictures(mnist_test_set[0]):
        x = pictures.preprocess(img)
        assert x.shape == (28, 28) and x.dtype == np.float32
        assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() == pytest.approx(1.0)
        cy, cx = centre_of_mass(x)
        # MNIST's convention puts the centre of mass at (14, 14); 13.5 is the geometric middle.
        assert abs(cy - 14) <= 0.51 and abs(cx - 14) <= 0.51, (cy, cx)
        assert max(box_sides(x)) == 20


def test_inverted_colours_give_the_same_input(mnist_test_set):
    for img in synthetic_pictures(mnist_test_set[0]):
        a = pictures.preprocess(img)
        b = pictures.preprocess(ImageOps.invert(img))
        np.testing.assert_allclose(a, b, atol=0.01)     # 8-bit rounding in the resizes, nothing more


def test_mnist_digit_comes_back_almost_unchanged(mnist_test_set):
    images = mnist_test_set[0]
    for i in range(10):
        x = pictures.preprocess(Image.fromarray(images[i]))      # light ink on black, as MNIST stores it
        assert aligned_diff(x, images[i] / 255.0) < 0.05, i


def test_aspect_ratio_is_kept():
    tall = pictures.preprocess(drawn_digit(90, 260, stroke=14))
    h, w = box_sides(tall)
    wide = Image.new("L", (400, 200), 240)
    ImageDraw.Draw(wide).line([(40, 100), (360, 100)], fill=20, width=30)   # a dash, 320 x 30
    h2, w2 = box_sides(pictures.preprocess(wide))
    assert w2 == 20 and h2 <= 4


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "I;16", "L", "CMYK", "LA", "1"])
def test_every_mode_gives_the_same_digit(mode):
    grey = drawn_digit()
    ref = pictures.preprocess(grey)
    if mode == "RGBA":         # transparent paper: the ink alone, over white
        img = Image.new("RGBA", grey.size, (0, 0, 0, 0))
        img.putalpha(ImageOps.invert(grey).point(lambda v: min(255, v * 255 // 195)))
    elif mode == "LA":
        img = Image.merge("LA", [grey, Image.new("L", grey.size, 255)])
    elif mode == "I;16":
        img = Image.fromarray((np.asarray(grey, np.uint16) * 257).astype(np.uint16))
    elif mode == "1":
        img = grey.point(lambda v: 255 if v > 128 else 0).convert("1")
    else:
        img = grey.convert(mode)
    assert img.mode == mode
    x = pictures.preprocess(img)
    assert np.abs(x - ref).mean() < 0.03, mode


@pytest.mark.parametrize("orientation, stored", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270),
                                                 (3, Image.Transpose.ROTATE_180)])
def test_exif_orientation(tmp_path, orientation, stored):
    upright = drawn_digit()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"rot{orientation}.png"
    upright.transpose(stored).save(path, exif=exif.tobytes())
    x = pictures.preprocess(pictures.load_image(path))
    np.testing.assert_allclose(x, pictures.preprocess(upright), atol=1e-4)


def test_uneven_light_specks_and_frame():
    clean = pictures.preprocess(drawn_digit(240, 260))
    arr = np.asarray(drawn_digit(240, 260), np.float32)
    ramp = np.linspace(0.45, 1.0, arr.shape[1])[None, :]              # light falls off to the left
    arr = arr * ramp
    rng = np.random.default_rng(1)
    arr += rng.normal(0, 4, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    d.rectangle([3, 3, 236, 256], outline=30, width=3)                # a drawn frame
    for x, y in [(30, 40), (200, 220), (60, 230), (210, 30)]:         # specks
        d.ellipse([x, y, x + 2, y + 2], fill=20)
    x = pictures.preprocess(img)
    assert np.abs(x - clean).mean() < 0.03


# ---------------------------------------------------------------------------
# Realistic pictures: MNIST test digits photographed on paper
# ---------------------------------------------------------------------------
def test_realistic_pictures_recover_the_digit(tmp_path, mnist_test_set):
    images, labels = mnist_test_set
    written = make_realistic_set(tmp_path, images, labels, 16, seed=3)
    assert {p.rsplit(".", 1)[1] for p, _ in written} == {"jpg", "png"}
    order = np.random.default_rng(3).permutation(len(images))[:16]
    diffs = []
    for (path, label), i in zip(written, order):
        assert label == labels[i]
        x = pictures.preprocess(pictures.load_image(path))
        diffs.append(aligned_diff(x, images[i] / 255.0))
    # A blank 28x28 would be ~0.13 away, another digit ~0.15.
    assert np.median(diffs) < 0.04 and max(diffs) < 0.08, np.round(diffs, 3)


# ---------------------------------------------------------------------------
# The command line, end to end, with a checkpoint trained here
# ---------------------------------------------------------------------------
TRAIN_STEPS = 400


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import mnist_backward
    folder = tmp_path_factory.mktemp("app_model")
    assert mnist_backward.main(["--steps", str(TRAIN_STEPS), "--model-dir", str(folder), "--seed", "1",
                                "--save-every", str(TRAIN_STEPS), "--log-every", str(TRAIN_STEPS)]) == 0
    return str(folder)


@pytest.fixture(scope="module")
def realistic(tmp_path_factory, mnist_test_set):
    folder = tmp_path_factory.mktemp("app_pictures")
    return make_realistic_set(folder, *mnist_test_set, 12, seed=5)


def test_end_to_end_json(model_dir, realistic, root, tmp_path, capsys):
    shipped = [str(root / "pic" / f"{d}.png") for d in range(10)]   # the repository's sample pictures
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    args = [*shipped, *(p for p, _ in realistic), str(tmp_path / "missing.png"), str(bad),
            "--model-dir", model_dir, "--json", "--top-k", "3"]
    assert mnist_app.main(args) == 1                  # some pictures failed ...
    out, err = capsys.readouterr()
    found = json.loads(out)
    assert len(found) == 10 + len(realistic) + 2       # ... and the others were still predicted
    assert "missing.png: no such file" in found[-2]["error"] and "bad.png: not a picture" in found[-1]["error"]
    assert "missing.png" in err and "bad.png" in err
    ok = found[:-2]
    for r in ok:
        assert 0 <= r["digit"] <= 9 and 0 < r["confidence"] <= 1 and len(r["top"]) == 3
        assert r["top"][0] == [r["digit"], r["confidence"]] and r["top"][0][1] >= r["top"][1][1]
    truth = list(range(10)) + [label for _, label in realistic]
    right = sum(r["digit"] == t for r, t in zip(ok, truth))
    # A short training run is far from the full model, but it must read most of these.
    assert right >= 0.75 * len(ok), (right, len(ok))


def test_end_to_end_lines_and_debug(model_dir, realistic, tmp_path, capsys):
    debug = tmp_path / "debug"
    paths = [p for p, _ in realistic[:3]]
    assert mnist_app.main([*paths, "--model-dir", model_dir, "--save-debug", str(debug)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for line, path in zip(lines, paths):
        assert line.startswith(path + ": ") and line.endswith("%)")
    written = sorted(debug.iterdir())
    assert len(written) == 3 and all(p.suffix == ".png" for p in written)
    with Image.open(written[0]) as img:
        assert img.width > 2 * img.height


def test_interactive_like_the_lesson(model_dir, realistic, monkeypatch, capsys):
    answers = iter(["two", "2", realistic[0][0], realistic[1][0]])
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or next(answers))
    assert mnist_app.main(["--model-dir", model_dir]) == 0
    assert asked == ["input the number of test pictures:"] * 2 + ["the path of test picture:"] * 2
    assert len(capsys.readouterr().out.splitlines()) == 2


@pytest.mark.parametrize("model, command", [("fc", "python mnist_backward.py"),
                                            ("lenet5", "python lenet5/mnist_lenet5_backward.py")])
def test_no_checkpoint_names_the_training_command(tmp_path, capsys, model, command):
    picture = tmp_path / "d.png"
    drawn_digit().save(picture)
    assert mnist_app.main([str(picture), "--model", model, "--model-dir", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint" in err and command in err


def test_digit_touching_the_edges_is_kept(mnist_test_set):
    # A digit cropped tightly touches three or four edges, like a frame; it must not be dropped.
    img = drawn_digit()
    ref = pictures.preprocess(img)
    tight = img.crop(ImageOps.invert(img).getbbox())
    assert aligned_diff(pictures.preprocess(tight), ref) < 0.03
    images = mnist_test_set[0]
    for i in (2, 5):                                       # two thin "1"s from MNIST's test set
        rows, cols = np.nonzero(images[i])
        crop = images[i][rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        img = ImageOps.invert(Image.fromarray(crop)).resize((crop.shape[1] * 6, crop.shape[0] * 6))
        assert aligned_diff(pictures.preprocess(img), images[i] / 255.0) < 0.05, i

