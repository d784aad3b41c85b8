"""Pictures in and out for the VGG16 lesson: load and crop photos, plot results (headless).

Plots use matplotlib's object API with the Agg canvas, so nothing needs a display and
no global pyplot state changes.
"""
import contextlib
import io
import os
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SIZE = 224

TOP5_TITLE_ZH = "Top-5 预测结果"
TOP5_TITLE_EN = "Top-5 predictions"
# Font families known to cover simplified Chinese, most common first.
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
                "Hiragino Sans GB", "Heiti SC", "STHeiti", "Noto Serif CJK SC", "AR PL UMing CN",
                "Droid Sans Fallback", "Arial Unicode MS")
# Words in other families' names that hint at CJK coverage (checked glyph by glyph anyway).
CJK_HINTS = ("cjk", "hei", "song", "kai", "ming", "yahei", "wenquanyi", "han sans", "han serif", "fang")


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------
def open_image(path):
    """Open an image file, raising a clear error that names the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        with Image.open(path) as img:
            img.load()
            return ImageOps.exif_transpose(img)  # phone photos store their rotation in EXIF
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"cannot read {path} as an image ({e}); use a JPEG, PNG, BMP, ... photo") from e


def to_rgb(img):
    """Any PIL mode (grey, palette, RGBA, CMYK, 16-bit, float) as 8-bit RGB.

    Transparent parts become white, as they look in a viewer.
    """
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # PIL's own convert() clips these at 255 instead of scaling them.
        arr = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        else:
            top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        arr = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def center_crop(img):
    """The largest centred square of a PIL image (crop to the short side)."""
    width, height = img.size
    short_edge = min(width, height)
    left = (width - short_edge) // 2
    top = (height - short_edge) // 2
    return img.crop((left, top, left + short_edge, top + short_edge))


def prepare_image(path, size=IMAGE_SIZE):
    """(original RGB, centre crop, resized) PIL images of a photo: the course's three steps."""
    original = to_rgb(open_image(path))
    cropped = center_crop(original)
    # Pillow's bilinear filter widens its support when shrinking, so it also anti-aliases.
    resized = cropped.resize((size, size), Image.BILINEAR)
    return original, cropped, resized


def load_image(path, size=IMAGE_SIZE):
    """A photo as float32 [size, size, 3] RGB in [0, 1], ready for Vgg16.forward."""
    return np.asarray(prepare_image(path, size)[2], dtype=np.float32) / 255.0


def load_images(paths, size=IMAGE_SIZE):
    """Several photos as one batch [N, size, size, 3]."""
    return np.stack([load_image(p, size) for p in paths])


def percent(value):
    """0.1234 -> '12.34%'"""
    return f"{value * 100:.2f}%"


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_output(path):
    """Open ``path`` for writing bytes; it appears only when complete.

    The data goes to a temporary file in the same folder, renamed over ``path`` at the
    end; on any error the temporary file is removed and an old ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    tmp = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # mkstemp makes it private; give it a new file's usual mode
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_figure(fig, path):
    """Save a figure as PNG, atomically."""
    # matplotlib is imported where it draws: it takes half a second to load, and --help should answer at once.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png")
    with atomic_output(path) as f:
        f.write(buf.getvalue())
    return Path(path)


def save_steps_figure(path, out_png):
    """The course's three-panel figure: original, centre crop, resized to 224x224."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4))
    for i, (img, label) in enumerate(zip(prepare_image(path),
                                         ("Original picture", "Centre crop", "Resized")), start=1):
        ax = fig.add_subplot(1, 3, i)
        ax.imshow(img)
        ax.set_xlabel(f"{label}\n{img.size[0]}x{img.size[1]}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return save_figure(fig, out_png)


def _covers(font_path, text):
    from matplotlib.ft2font import FT2Font

    try:
        charmap = FT2Font(str(font_path)).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(ch) in charmap for ch in text)


def find_cjk_font(text=TOP5_TITLE_ZH, fonts=None):
    """Path of an installed font that has every glyph of ``text``, or None.

    ``fonts`` defaults to matplotlib's font list.  The 'Last Resort' font is skipped:
    it claims every code point but draws only placeholder boxes.
    """
    from matplotlib.font_manager import fontManager

    fonts = fontManager.ttflist if fonts is None else fonts
    usable = [f for f in fonts if "last resort" not in f.name.lower()]
    known = [f for name in CJK_FAMILIES for f in usable if f.name == name]
    hinted = [f for f in usable if f not in known and any(h in f.name.lower() for h in CJK_HINTS)]
    for entry in known + hinted:
        if _covers(entry.fname, text):
            return entry.fname
    return None


def title_and_font(zh=TOP5_TITLE_ZH, en=TOP5_TITLE_EN, fonts=None):
    """(title, FontProperties or None): the Chinese title if a font can draw it, else the English one."""
    from matplotlib.font_manager import FontProperties

    font = find_cjk_font(zh, fonts)
    return (zh, FontProperties(fname=font)) if font else (en, None)


def short_name(name, width=14):
    """First synonym of a class name, wrapped for a tick label."""
    return textwrap.fill(name.split(";")[0].strip(), width)


def save_top5_chart(probs, names, out_png, fonts=None):
    """The course's bar chart of the top classes, with the percentage on each bar."""
    from matplotlib.figure import Figure

    title, font = title_and_font(fonts=fonts)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    positions = range(len(probs))
    ax.bar(positions, probs, width=0.5, color="g", tick_label=[short_name(n) for n in names])
    ax.set_ylabel("probability")
    ax.set_ylim(0, min(1.0, max(probs) * 1.15 + 0.01))
    ax.set_title(title, fontproperties=font)
    for x, p in zip(positions, probs):
        ax.text(x, p + 0.005, percent(p), ha="center", va="bottom", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return save_figure(fig, out_png)
