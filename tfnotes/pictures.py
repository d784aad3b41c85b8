"""A picture of one handwritten digit -> MNIST-style 28x28 input (light ink on black, in [0, 1]).

The steps: EXIF orientation, any colour mode to grey, automatic ink polarity, background
estimation (uneven lighting, paper texture), specks and frames removed, crop to the digit, thin
strokes thickened, longer side 20 px with the aspect kept, placement in 28x28 by the centre of
mass. Only NumPy and Pillow: no TensorFlow here.
"""
import collections
import hashlib
import io
import os
import threading
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tfnotes.errors import ImageError
from tfnotes.printed import without_printed
from tfnotes.regions import bbox, components, frame_like, ink_runs, paint, stroke_width

# ---------------------------------------------------------------------------
# Defaults (one place)
# ---------------------------------------------------------------------------
MAX_PIXELS = 40_000_000      # refuse larger pictures (decompression bombs)
UPLOAD_NAME = "upload"       # how messages name a picture given as bytes (the web page's upload)
ANALYSIS_SIDE = 256          # longer side used to find the digit and the background
DRAFT_SIDE = 512             # big JPEGs are decoded at no less than this (JPEG draft mode)
WORK_SIDE = 96               # longer side of the digit crop while measuring/thickening strokes
BOX_SIDE = 20                # MNIST: the digit's longer side ...
CANVAS_SIDE = 28             # ... placed in a 28x28 field
STROKE_WEIGHT = 8.0          # polarity votes: "ink is strokes" and "paper covers the edge",
BORDER_WEIGHT = 4.0          # weighed against the tails vote (see ink_is_dark)
STROKE_SAMPLES = (128, 400)  # longer sides of the copies the strokes vote looks at (coarse: bold strokes and noise;
                             # fine: thin strokes on a large picture stay strokes)
EDGES_FOLLOWED = 800         # at most this many of its edge pixels are followed (evenly spread) ...
STROKE_REACH = 48            # ... up to this many px (or a third of the copy's shorter side, if less)
EDGE_QUANTILE = 0.9          # the strongest tenth of the gradients are the edges it follows
GRID = 8                     # background blocks per side (~1/8 of the picture each)
SATURATE = 0.3               # share of the ink pixels at full strength, as in MNIST
MIN_CONTRAST = 0.08          # ink weaker than this (fraction of full scale) -> blank picture
INK_SHARE = 1 / 3            # the noise is the paper class's own where the ink covers a third of the picture ...
INK_OVER = 8.0               # ... and its median stands eight times that noise above the paper (a tight crop)
INK_SHARE_QUIET = 0.2        # no ink above the picture's noise: the paper's own, where ink is a fifth of it ...
INK_OVER_QUIET = 4.0         # ... and the ink's median is four times that above the paper ...
INK_TOGETHER = 0.75          # ... and its pixels' neighbours are ink this often (pure noise: under 0.5)
THIN_RATIO = 0.07            # strokes thinner than this (stroke_ratio units) get thickened ...
TARGET_RATIO = 0.085         # ... up to about the median MNIST digit (~1/10 of its height)
BOLD_RATIO = 0.12            # strokes bolder than this get thinned ...
SLIM_RATIO = 0.10            # ... down to about this
STROKE_WINDOW = 3.0          # the paper's opening window, in stroke widths (wider than any stroke or crossing)
RUN_QUANTILE = 0.5          # the quantile of the ink's run lengths taken as the stroke width
BELOW_MARGIN = 2.0           # the opening counts below the smooth background only this many times further apart ...
UNDER_SHARE = 0.1            # ... but as far as above it where this share of the paper around lies under the smooth one
OPEN_BLUR = 5                # the picture is averaged over this many px (each way) before the opening
LABEL_HEIGHT = 0.35          # pieces lower than this share of the digit, not flat, beside it, ...
LABEL_LETTERS = 3            # ... this many in a row at least: a printed label (two: a broken digit's fragments)
EDGE_CATCH_UP = 5            # px (on the analysed copy) by which the paper level climbs to meet a shadow's edge


# ---------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------
def load_image(source, max_pixels=MAX_PIXELS, name=None):
    """Open and fully decode one picture; raise ImageError naming it if it is unusable.

    source: a path, the picture's bytes or a binary file object (a page's upload); messages name it
    `name`, else the path, else UPLOAD_NAME. JPEGs are decoded straight to grey, big ones at reduced
    scale (draft mode; the longer side stays >= DRAFT_SIDE), which is plenty for a digit and several
    times faster.
    """
    if hasattr(source, "read"):
        source = source.read()
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or UPLOAD_NAME
        if len(source) == 0:
            raise ImageError(f"{name}: the file is empty (0 bytes)")
        return _open(io.BytesIO(source), name, max_pixels)
    path = os.fspath(source)
    name = name or path
    if not os.path.exists(path):
        raise ImageError(f"{name}: no such file")
    if os.path.isdir(path):
        raise ImageError(f"{name}: is a folder, not a picture")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    return _open(path, name, max_pixels)


def _open(fp, name, max_pixels):
    """Image.open + _decode of a path or an in-memory file, every failure an ImageError naming `name`."""
    with warnings.catch_warnings():
        # PIL only warns between its limit and twice its limit: make that an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(fp)
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not a picture PIL can read; use PNG, JPEG, BMP, GIF or TIFF") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: too many pixels (decompression bomb?); "
                             f"limit {max_pixels:,} pixels, shrink the picture") from None
        except OSError as exc:
            raise ImageError(f"{name}: cannot open ({exc})") from None
        try:
            return _decode(img, name, max_pixels)
        except ImageError:  # first: an ImageError is a ValueError too, and says better what is wrong
            img.close()
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            img.close()
            raise ImageError(f"{name}: too many pixels (decompression bomb?); "
                             f"limit {max_pixels:,} pixels, shrink the picture") from None
        except (OSError, ValueError, SyntaxError) as exc:
            img.close()
            raise ImageError(f"{name}: damaged or truncated picture ({exc})") from None


def _decode(img, path, max_pixels):
    """Checks that need only the header, then the (possibly draft-mode) decode."""
    width, height = img.size
    if width * height > max_pixels:
        raise ImageError(f"{path}: {width}x{height} = {width * height:,} pixels is over the limit of "
                         f"{max_pixels:,} (decompression bomb?); shrink the picture")
    if width < 8 or height < 8:
        raise ImageError(f"{path}: {width}x{height} is too small to hold a digit")
    frames = getattr(img, "n_frames", 1)
    if getattr(img, "is_animated", False) and frames > 1:
        raise ImageError(f"{path}: animated picture ({frames} frames); save the frame you want as PNG")
    if img.format == "JPEG":
        # Decode straight to grey, and at 1/2..1/8 scale when the picture is big: several times faster.
        scale = min(1.0, DRAFT_SIDE / max(width, height))
        img.draft("L" if img.mode in ("RGB", "YCbCr") else img.mode,
                  (max(1, int(width * scale)), max(1, int(height * scale))))
    img.load()
    if getattr(img, "fp", None) is not None:     # GIF, TIFF keep their file open: copy, close
        out = img.copy()
        img.close()
        img = out
    # Draft decoding may have shrunk it: boxes reported to the user are scaled back to this size.
    img.info["original_size"] = (width, height)
    return img


# ---------------------------------------------------------------------------
# Grey conversion
# ---------------------------------------------------------------------------
def to_grey(img):
    """Any PIL mode -> float32 array in [0, 1] (0 black, 1 white); transparency over white paper."""
    mode = img.mode
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        lum = rgba[..., 0] * 0.299 + rgba[..., 1] * 0.587 + rgba[..., 2] * 0.114
        alpha = rgba[..., 3]
        return lum * alpha + (1.0 - alpha)
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        top = float(arr.max()) if arr.size else 1.0
        if mode.startswith("I;16"):
            full = 65535.0
        elif mode == "F" and top <= 1.0:
            full = 1.0
        else:
            full = 255.0 if top <= 255 else (65535.0 if top <= 65535 else top)
        return np.clip(arr / full, 0.0, 1.0)
    if mode not in ("L", "1", "P", "RGB", "CMYK", "YCbCr", "LAB"):
        img = img.convert("RGB")
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def grey_image(img):
    """Any PIL mode -> a grey PIL image: mode L (0..255) when that loses nothing, else mode F (0..1)."""
    if img.mode in ("L", "RGB", "P", "CMYK", "YCbCr", "1") and "transparency" not in img.info:
        return img if img.mode == "L" else img.convert("L")
    return Image.fromarray(to_grey(img))


def _as_float(grey):
    """Grey PIL image (L or F) -> float32 array in [0, 1]."""
    arr = np.asarray(grey, dtype=np.float32)
    return arr / 255.0 if grey.mode == "L" else arr


def _resize(arr, size, resample=Image.Resampling.BILINEAR, box=None):
    """Resize a float array with PIL (mode F); size is (width, height)."""
    return np.asarray(Image.fromarray(arr).resize(size, resample, box=box), dtype=np.float32)


def _fit(size, side):
    """(width, height) scaled so that the longer side is `side`, aspect kept."""
    width, height = size
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# ---------------------------------------------------------------------------
# Background and polarity
# ---------------------------------------------------------------------------
def _block_stat(arr, grid, q):
    """Percentile q of each of grid x grid blocks (the trailing rows/columns left over are ignored)."""
    height, width = arr.shape
    bh, bw = max(1, height // grid), max(1, width // grid)
    gh, gw = height // bh, width // bw
    blocks = arr[:gh * bh, :gw * bw].reshape(gh, bh, gw, bw).transpose(0, 2, 1, 3).reshape(gh, gw, -1)
    if blocks.shape[2] > 256:                    # every few pixels of a big block is enough
        blocks = blocks[:, :, ::blocks.shape[2] // 256]
    k = min(blocks.shape[2] - 1, int(q / 100.0 * (blocks.shape[2] - 1)))
    return np.partition(blocks, k, axis=2)[:, :, k].astype(np.float32)


def _median3(grid):
    """3x3 median of a small 2-D grid (edges repeated)."""
    padded = np.pad(grid, 1, mode="edge")
    h, w = grid.shape
    stack = [padded[i:i + h, j:j + w] for i in range(3) for j in range(3)]
    return np.partition(np.stack(stack), 4, axis=0)[4]


def ink_is_dark(grey, split=None):
    """True for dark ink on light paper, False for light ink on dark.

    Three votes, added up:
    - strokes: ink is strokes. From an edge of a stroke, the stroke's other edge is close on the ink's side;
      on the paper's side the next edge is a neighbouring stroke, or none (_stroke_vote). A large dark region
      (a shadow, a phone, a table) has no other edge near, so unlike the share of dark pixels it does not pass
      for ink; the strongest vote, as it measured right on most of the shadowed and tightly cropped pictures
      that the earlier vote (the darker class is the smaller) read the wrong way;
    - tails: subtract a coarse background (median of blocks ~1/8 of the picture, each block
      checked against its neighbours) and compare how far the dark and the light tails reach
      beyond the noise; strong, except when strokes are thicker than a block;
    - border: the class that covers most of the picture's edge (Otsu's split after removing the lighting's
      slope) is the paper (helps when the picture is cropped tightly around a bold digit).
    """
    dark, _ = split if split is not None else otsu_split(grey)
    border_share = float(np.concatenate([dark[0], dark[-1], dark[1:-1, 0], dark[1:-1, -1]]).mean())
    strokes = np.mean([_stroke_vote(grey, side) for side in STROKE_SAMPLES])
    return _tails_vote(grey) + BORDER_WEIGHT * (0.5 - border_share) + STROKE_WEIGHT * strokes > 0


def _stroke_vote(grey, sample_side):
    """log(distance to the next edge on the light side / on the dark side), medians over the strongest edges of a
    copy about `sample_side` px wide: positive where the dark side is the narrow one (dark strokes). The next
    edge is the first edge pixel whose gradient points the other way, along the gradient (a stroke width
    transform); none within a third of the picture counts as that far."""
    step = max(1, int(np.ceil(max(grey.shape) / sample_side)))
    sample = grey[::step, ::step].astype(np.float32)
    h, w = sample.shape
    gy, gx = np.gradient(box_mean(sample, 3))
    magnitude = np.hypot(gx, gy)
    edge = magnitude >= max(_quantile(magnitude[::2, ::2].ravel(), EDGE_QUANTILE), 0.01)
    ys, xs = np.nonzero(edge)
    if len(ys) < 10:
        return 0.0
    stride = max(1, len(ys) // EDGES_FOLLOWED)
    ys, xs = ys[::stride], xs[::stride]
    ux, uy = gx[ys, xs] / magnitude[ys, xs], gy[ys, xs] / magnitude[ys, xs]
    reach = max(4, min(h, w, 3 * STROKE_REACH) // 3)
    towards_dark, towards_light = (_next_edge(edge, gx, gy, (ys, xs), (ux, uy), sign, reach) for sign in (-1, 1))
    return float(np.log(np.median(towards_light) / np.median(towards_dark)))


def _next_edge(edge, gx, gy, start, direction, sign, reach):
    """Steps from each edge pixel start = (ys, xs) along sign * its gradient's direction (ux, uy) (-1: towards
    the dark side) to the first edge pixel whose gradient points against the start's (the stroke's other side);
    reach + 1 where there is none within reach or the picture ends first. All steps of all starts at once
    (a few hundred starts by a few dozen steps)."""
    (ys, xs), (ux, uy) = start, direction
    h, w = edge.shape
    steps = (sign * np.arange(2, reach + 1)).astype(np.float32)[None, :]    # float32 steps, as sign * t * uy
    qy = np.round(ys[:, None] + steps * uy[:, None]).astype(int)
    qx = np.round(xs[:, None] + steps * ux[:, None]).astype(int)
    inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)       # past the picture's edge: none found
    at = np.where(inside, qy * w + qx, 0)
    px, py = gx.ravel()[at], gy.ravel()[at]
    back = px * ux[:, None] + py * uy[:, None] < -0.3 * np.hypot(px, py)
    stop = (edge.ravel()[at] & back) | ~inside                 # the other side, or the picture's edge
    first = np.argmax(stop, axis=1)
    hit = stop[np.arange(len(ys)), first] & inside[np.arange(len(ys)), first]
    return np.where(hit, first + 2.0, reach + 1.0)


def _tails_vote(grey):
    """log(dark tail / light tail) of the picture minus its coarse background."""
    if min(grey.shape) >= 4 * GRID:
        grid = _median3(_block_stat(grey, GRID, 50))
        grey = grey[::2, ::2] if min(grey.shape) >= 16 * GRID else grey   # every other pixel will do
        bg = _resize(grid, grey.shape[::-1])
    else:  # tiny picture (e.g. an MNIST 28x28): one block
        bg = np.float32(_quantile(grey.ravel(), 0.5))
    diff = (grey - bg).ravel()
    floor = max(3.0 * 1.4826 * _quantile(np.abs(diff[::3]), 0.5), 0.02)
    dark = float(np.clip(-diff - floor, 0, None).sum())
    light = float(np.clip(diff - floor, 0, None).sum())
    return float(np.log((dark + 1e-3) / (light + 1e-3)))


def otsu_split(grey):
    """Dark-class mask of a ~64x64 subsample (Otsu's threshold after removing the lighting's slope), and its step."""
    step = max(1, int(np.sqrt(grey.size / 4096)))
    sample = grey[::step, ::step]
    # Least-squares plane on a full grid: the centred coordinates are orthogonal, so each slope
    # is a simple projection.
    yc = np.arange(sample.shape[0], dtype=np.float32) - (sample.shape[0] - 1) / 2
    xc = np.arange(sample.shape[1], dtype=np.float32) - (sample.shape[1] - 1) / 2
    slope_y = float(yc @ sample.sum(axis=1)) / max(float(yc @ yc) * sample.shape[1], 1e-9)
    slope_x = float(sample.sum(axis=0) @ xc) / max(float(xc @ xc) * sample.shape[0], 1e-9)
    flat = sample - yc[:, None] * slope_y - xc[None, :] * slope_x
    return flat < otsu(flat.ravel()), step


def otsu(values, bins=64):
    """Otsu's threshold of a 1-D array of values."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return high
    width = (high - low) / bins
    hist = np.bincount(np.minimum(((values - low) / width).astype(np.intp), bins - 1), minlength=bins)
    centres = low + width * (np.arange(bins) + 0.5)
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centres)
    m0 = s0 / np.maximum(w0, 1)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return low + width * (int(np.argmax(between)) + 1)


def _quantile(values, q):
    """The q-quantile (0..1) of a 1-D array, by partial sort (cheaper than np.percentile). The copies of the
    smallest value (the zeros of an ink map: most of its pixels) are counted, not sorted: a partial sort of an
    array mostly of one value is ten times slower than of distinct values."""
    k = min(len(values) - 1, int(q * (len(values) - 1)))
    low = values.min()
    rest = values[values != low]
    ties = len(values) - len(rest)
    return float(low) if k < ties else float(np.partition(rest, k - ties)[k - ties])


def background(ink_bright, grid=GRID):
    """Paper level of a picture whose ink is bright (paper dark): a smooth map of the same shape.

    A low percentile of each of grid x grid blocks is the paper there; a block mostly covered by
    ink is replaced by the median of its neighbours, so thick strokes do not lift the background.
    """
    if grid < 2 or min(ink_bright.shape) < 4 * grid:
        return np.full_like(ink_bright, _quantile(ink_bright.ravel(), 0.2))
    grid = _block_stat(ink_bright, grid, 20)
    grid = np.minimum(grid, _median3(grid))
    return _resize(grid, ink_bright.shape[::-1])


def paper_level(ink_bright, first_ink, threshold):
    """The paper under the ink, following the edges of shadows and dark objects, and under strokes too bold for
    the smooth block background. Ink is strokes: a grey-level opening (the largest level under which every
    window of STROKE_WINDOW stroke widths fits) removes whatever is narrower than its window (the writing) and
    keeps wider regions (a shadow, a phone, a table edge) as they are, sharp edges included, where the smooth
    block background, blending both sides of an edge, leaves the shadow's edge as a band of ink; and in a
    picture cropped tightly around a bold digit, where blocks covered by ink lift the smooth background into
    the strokes, the opening stays at the paper. So where the two differ by more than half the ink threshold,
    the opening is the paper; elsewhere the smooth background stays (there the opening of noisy paper differs
    from it by the noise only). The window follows the writing's stroke width (stroke_run), measured on
    `first_ink` (the ink found on the smooth background, with its `threshold`), and again on the ink found with
    the opening when that shows wider strokes, so bold strokes are not hollowed."""
    smooth = background(ink_bright)
    width = stroke_run(first_ink, threshold)
    level = smooth
    for _ in range(2):
        if width is None:
            return level
        level = _with_opening(ink_bright, smooth, width, 0.5 * threshold)
        ink = np.clip(ink_bright - level, 0.0, None)
        wider = stroke_run(ink, threshold)
        if wider is None or wider <= 1.25 * width:
            break
        width = wider
    return level


def _with_opening(ink_bright, smooth, width, margin):
    """paper_level with the opening's window set for strokes `width` px wide: the smooth background where the two
    differ by less than `margin` (below it: BELOW_MARGIN times that), the opening where they differ by twice that
    or more; the lag of the opening behind a noisy edge, which would leave a hairline of ink along a shadow,
    closed near the shadows by EDGE_CATCH_UP steps of dilation, each kept under the picture."""
    side = int(min(STROKE_WINDOW * width + 3 + OPEN_BLUR, min(ink_bright.shape)))
    if side < 3:
        return smooth
    opened = _half_opening(ink_bright, side)
    # The share of the way to the opening: none up to `margin` apart, all of it from twice that (continuous, so
    # no step of ink appears where a slow change of the light starts to count). Below the smooth background, only
    # from BELOW_MARGIN times as far: an opening with a wide window sinks into the dark corners of a vignette. But
    # where UNDER_SHARE of the pixels within the window lie under the smooth background by the margin, that has
    # risen into the strokes of a digit covering most of a tight crop (the paper between its strokes is under it;
    # a vignette's corner is not), and the opening counts as fully as above it.
    apart = opened - smooth
    under = box_mean((ink_bright < smooth - margin).astype(np.float32), side | 1) > UNDER_SHARE
    below = np.where(under, 1.0, BELOW_MARGIN)
    weight = np.clip(np.where(apart > 0, apart, -apart / below) / margin - 1.0, 0.0, 1.0)
    level = smooth + weight * (opened - smooth)
    region = opened - smooth > margin
    if region.any():
        near = dilate(region.astype(np.float32), EDGE_CATCH_UP + 1) > 0
        for _ in range(EDGE_CATCH_UP):
            level = np.where(near, np.maximum(level, np.minimum(dilate(level, 1), ink_bright)), level)
    return level


def stroke_run(ink, threshold):
    """The strokes' width in px, from above: the RUN_QUANTILE quantile of the lengths of the horizontal and
    vertical runs of ink (each run counted once, so a wide shadow's few long runs barely move it), measured on
    every other pixel (the window is three widths: this is precise enough) averaged over 3 x 3 of those, about
    6 x 6 of the map (pencil grain and ballpoint skips break strokes into short runs); None when there are too
    few runs to tell."""
    mask = box_mean(ink[::2, ::2], 3) > 0.5 * threshold
    _, starts, ends = ink_runs(mask)
    _, top, bottom = ink_runs(mask.T)
    lengths = np.concatenate([ends - starts, bottom - top])
    lengths = lengths[lengths >= 2]                      # single pixels: noise, not strokes
    return 2.0 * float(_quantile(lengths, RUN_QUANTILE)) if lengths.size >= 8 else None


def box_mean(arr, size):
    """The mean over a size x size window around each pixel (edges repeated); size odd. Running sums along each
    axis, so the cost does not grow with the size."""
    out = np.asarray(arr, np.float32)
    for _ in range(2):             # rows, then (transposed) columns
        padded = np.pad(out.T, ((0, 0), (size // 2 + 1, size // 2)), mode="edge")
        total = np.cumsum(padded, axis=1, dtype=np.float64)
        out = ((total[:, size:] - total[:, :-size]) / size).astype(np.float32)
    return out


def _half_opening(arr, side):
    """opening(arr, side) of the picture averaged over OPEN_BLUR px (an opening of noise is its minimum), taken on
    a copy of half the size (four times faster; the lag of a pixel it adds at edges is caught up later)."""
    h, w = arr.shape
    if min(h, w) < 8 or side < 6:
        return opening(box_mean(arr, OPEN_BLUR), side)
    half = arr[:h // 2 * 2, :w // 2 * 2].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    small = opening(box_mean(half, OPEN_BLUR // 2 | 1), side // 2)
    return _resize(small, (w, h))


def opening(arr, side):
    """Grey-level opening by a side x side square: the running minimum, then the running maximum, per axis."""
    low = _running(_running(arr, side, np.minimum, 1), side, np.minimum, 0)
    return _running(_running(low, side, np.maximum, 1), side, np.maximum, 0)


def _running(arr, side, reduce, axis):
    """reduce (np.minimum or np.maximum) over a window of `side` centred on each element along `axis`, in
    O(n) whatever the side (van Herk / Gil-Werman: prefix and suffix runs within blocks of `side`)."""
    a = np.moveaxis(arr, axis, -1)
    n, before = a.shape[-1], side // 2
    total = -(-(n + side - 1) // side) * side
    padded = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(before, total - n - before)], mode="edge")
    blocks = padded.reshape(*a.shape[:-1], total // side, side)
    prefix = reduce.accumulate(blocks, axis=-1).reshape(padded.shape)
    suffix = np.flip(reduce.accumulate(np.flip(blocks, -1), axis=-1), -1).reshape(padded.shape)
    out = reduce(suffix[..., :n], prefix[..., side - 1:side - 1 + n])
    return np.ascontiguousarray(np.moveaxis(out, -1, axis))


# ---------------------------------------------------------------------------
# Finding the digit
# ---------------------------------------------------------------------------
def select_digit(mask):
    """Keep the components that make the digit; drop specks, frames and stray marks far away.

    Returns a boolean mask (same shape), empty when nothing looks like ink.
    """
    runs, st = components(mask)
    if st is None:
        return mask
    height, width = mask.shape
    area = st["area"].astype(float)
    keep = area >= max(3.0, 0.04 * area.max())          # specks
    frame = frame_like(st, height, width, keep)
    if (keep & ~frame).any():                           # never drop the only ink there is
        keep &= ~frame
    main = int(np.argmax(np.where(keep, area, -1)))
    # Stray marks: smaller than the main stroke and far from it.
    size = max(st["bottom"][main] - st["top"][main], st["right"][main] - st["left"][main])
    gap_y = np.maximum(0, np.maximum(st["top"] - st["bottom"][main], st["top"][main] - st["bottom"]))
    gap_x = np.maximum(0, np.maximum(st["left"] - st["right"][main], st["left"][main] - st["right"]))
    far = np.maximum(gap_x, gap_y) > 0.5 * size
    keep &= ~(far & (area < 0.3 * area[main]))
    keep &= ~_label(st, keep, main, gap_x, gap_y, mask.shape)
    return paint(mask.shape, runs, keep)


def _label(st, keep, main, gap_x, gap_y, shape):
    """The letters of a printed label beside the digit (a form's "Date", "Total"): LABEL_LETTERS or more pieces
    in a row, lower than LABEL_HEIGHT of the digit, none flat (a 5's detached bar is), all outside the digit's
    box and clear of the picture's edge (where a tight crop cuts a digit's strokes into pieces)."""
    height, width = st["bottom"] - st["top"], st["right"] - st["left"]
    inside = (st["top"] > 0) & (st["left"] > 0) & (st["bottom"] < shape[0]) & (st["right"] < shape[1])
    letters = ((st["area"] >= max(3, 0.01 * st["area"].max())) & inside & (height < LABEL_HEIGHT * height[main])
               & (height >= 0.5 * width) & (np.maximum(gap_x, gap_y) > 0))
    letters[main] = False
    index = np.flatnonzero(letters)
    beside = (st["top"][index, None] < st["bottom"][None, index]) & (st["top"][None, index] < st["bottom"][index, None])
    letters[index] = beside.sum(axis=1) >= LABEL_LETTERS   # itself and the others in its row (specks too small
    return letters & keep                                  # to keep count: a label's small letters are such)


def find_ink(grey):
    """Ink strength map (ink bright, 0 = paper) and the levels used to threshold it.

    Returns (ink, paper, dark_ink, threshold, peak); raises ValueError for a blank picture.
    """
    split = otsu_split(grey)
    dark = ink_is_dark(grey, split)
    bright = 1.0 - grey if dark else grey
    ink = np.clip(bright - background(bright), 0.0, None)
    threshold, peak = ink_levels(ink)
    ink = np.clip(bright - paper_level(bright, ink, threshold), 0.0, None)
    threshold, peak = ink_levels(ink)
    return ink, bright - ink, dark, threshold, peak


def ink_levels(ink):
    """(threshold, peak) of an ink map: the level that counts as a stroke (above the noise and a share of the
    strong ink) and the strong ink level; ValueError for a blank picture. Where no ink stands above the noise
    level, the paper's own noise is taken (_noise with INK_SHARE_QUIET and INK_OVER_QUIET) before the picture
    is called blank, if its brighter class lies together as strokes do (INK_TOGETHER; noise does not): in a
    small picture cropped tightly around a bold digit, the strokes can cover a fifth to a half of it and lift
    the spread of the whole above most of their own level."""
    sample = ink[::3, ::3].ravel()               # a subsample is plenty for the noise level
    noise = _noise(sample)
    candidates = ink[ink > max(4.0 * noise, 0.5 * MIN_CONTRAST)]
    if candidates.size < 4 and together(ink >= otsu(sample)) >= INK_TOGETHER:
        noise = _noise(sample, INK_SHARE_QUIET, INK_OVER_QUIET)
        candidates = ink[ink > max(4.0 * noise, 0.5 * MIN_CONTRAST)]
    if candidates.size < 4:
        raise ValueError("no digit found: the picture is blank (no ink darker or lighter than the paper)")
    peak = _quantile(candidates[::max(1, candidates.size // 20000)], 0.99)   # 20,000 strokes' pixels tell it
    if peak < MIN_CONTRAST:
        raise ValueError(f"no digit found: the picture is nearly blank (ink contrast {peak:.3f} "
                         f"< {MIN_CONTRAST})")
    return max(4.0 * noise, 0.3 * peak), peak


def together(mask):
    """The share of the 4-neighbours of the mask's pixels that are in the mask too (0 for an empty mask): about
    the mask's share of the picture for scattered noise, near 1 for strokes a few pixels wide."""
    around = np.zeros(mask.shape, np.float32)
    around[1:] += mask[:-1]
    around[:-1] += mask[1:]
    around[:, 1:] += mask[:, :-1]
    around[:, :-1] += mask[:, 1:]
    return float(around[mask].mean() / 4) if mask.any() else 0.0


def _noise(sample, ink_share=INK_SHARE, ink_over=INK_OVER):
    """The paper's noise level in an ink map: the spread (MAD) of the sample, or of its paper class alone
    (below Otsu's threshold) where ink covers `ink_share` of the picture or more, and the ink's median is more
    than `ink_over` times that paper's noise above it (a picture cropped tightly around a bold digit, whose
    spread is the ink's)."""
    def spread(values):
        return 1.4826 * _quantile(np.abs(values - _quantile(values, 0.5)), 0.5)
    noise = spread(sample)
    split = otsu(sample)
    paper, ink = sample[sample < split], sample[sample >= split]
    if paper.size < 8 or ink.size < max(8, sample.size * ink_share):
        return noise
    quiet = spread(paper)
    return quiet if _quantile(ink, 0.5) > ink_over * quiet + 0.5 * MIN_CONTRAST else noise


# ---------------------------------------------------------------------------
# Stroke width
# ---------------------------------------------------------------------------
def stroke_ratio(ink):
    """Stroke width / longer side of the ink's box, from ink area over half its outline length."""
    solid = ink > 0.5
    if not solid.any():
        return 0.0
    top, bottom, left, right = bbox(solid)
    return stroke_width(solid) / max(bottom - top, right - left)


def dilate(ink, steps):
    """Grey-level dilation, alternating 3x3 square and plus shapes so that strokes grow roundly."""
    for step in range(steps):
        padded = np.pad(ink, 1)
        h, w = ink.shape
        out = np.maximum(padded[1:h + 1, 1:w + 1], np.maximum(padded[0:h, 1:w + 1], padded[2:h + 2, 1:w + 1]))
        out = np.maximum(out, np.maximum(padded[1:h + 1, 0:w], padded[1:h + 1, 2:w + 2]))
        if step % 2 == 0:
            for dy, dx in ((0, 0), (0, 2), (2, 0), (2, 2)):
                out = np.maximum(out, padded[dy:dy + h, dx:dx + w])
        ink = out
    return ink


def slim(ink, bold=BOLD_RATIO, target=SLIM_RATIO):
    """Thin strokes bolder than `bold` (fraction of the longer side: a felt-tip, a marker) to about `target` by
    grey-level erosion: MNIST's strokes are about a tenth of the digit's height, and the networks read a bold
    digit's stroke-filled loops and blobs better at that width (measured on very bold realistic digits)."""
    ratio = stroke_ratio(ink)
    if ratio <= bold:
        return ink
    steps = int(round((ratio - target) * max(ink.shape) / 2.0))
    slimmer = -dilate(-ink, steps) if steps > 0 else ink
    # a blob, not strokes (a dot, a filled loop on its own): thinning would wipe it out, so it stays as it is
    return slimmer if (slimmer > 0.5).sum() >= 0.3 * (ink > 0.5).sum() else ink


def thicken(ink, thin=THIN_RATIO, target=TARGET_RATIO):
    """Thicken strokes thinner than `thin` (fraction of the longer side) to about `target`."""
    ratio = stroke_ratio(ink)
    if ratio <= 0 or ratio >= thin:
        return ink
    side = max(ink.shape)
    steps = int(round((target - ratio) * side / 2.0))
    return dilate(np.pad(ink, steps), steps) if steps > 0 else ink


# ---------------------------------------------------------------------------
# The whole pipeline
# ---------------------------------------------------------------------------
def preprocess(pil_image, name=None):
    """A picture of one digit -> float32 [28, 28] in [0, 1], MNIST style (light ink on black).

    Raises ImageError (naming `name`, or the image's file name) when no digit can be found.
    """
    name = name or getattr(pil_image, "filename", None) or "picture"
    img = pil_image
    if img.getexif().get(0x0112, 1) != 1:        # EXIF orientation
        img = ImageOps.exif_transpose(img)
    grey = grey_image(img)
    try:
        return mnistify(grey)
    except ValueError as exc:
        raise ImageError(f"{name}: {exc}") from None


def mnistify(grey):
    """Grey picture (PIL L or F image, or float array: 0 black, 1 white; any size) -> MNIST-style 28x28 float32."""
    return finish(digit_crop(grey))


def finish(crop):
    """A digit's ink crop (digit_crop, crop_ink) -> MNIST-style 28x28: bold strokes thinned, thin ones thickened,
    20 px, centred by mass."""
    crop = thicken(slim(crop))
    if not (crop > 0.02).any():
        raise ValueError("no digit found: the ink is too faint")
    top, bottom, left, right = bbox(crop > 0.02)
    crop = crop[top:bottom, left:right]
    size = _fit(crop.shape[::-1], BOX_SIDE)
    small = np.clip(_resize(np.ascontiguousarray(crop), size, Image.Resampling.LANCZOS), 0.0, 1.0)
    if not small.any():
        raise ValueError("no digit found: the ink vanishes at 20 px (a dot or a speck?)")
    # MNIST strokes are saturated in their core (about a third of the ink pixels are at full
    # white): scale so that the brightest SATURATE share of the ink reaches 1.
    ink = small[small > 0.05]
    ref = _quantile(ink, 1 - SATURATE) if ink.size else float(small.max())
    small = np.clip(small / max(ref, 1e-6), 0.0, 1.0)
    return place_by_mass(small)


Analysis = collections.namedtuple("Analysis", "small ink paper dark threshold peak")
Analysis.__doc__ = """A picture's ink, found on a copy at most `side` px on its longer side (analyse()).

small: that grey copy; ink: ink strength (0 = paper); paper: the paper level; dark: True for dark ink
on light paper; threshold: the ink level that counts as a stroke; peak: the strong ink level."""


def as_image(grey):
    """A grey picture as a PIL image (float arrays become mode F)."""
    return Image.fromarray(np.asarray(grey, dtype=np.float32)) if isinstance(grey, np.ndarray) else grey


_LAST = threading.local()    # this thread's last analysis of a picture small enough to be analysed whole


def analyse(grey, side=ANALYSIS_SIDE):
    """Find the ink of a grey PIL picture on a copy at most `side` px wide: an Analysis.

    A picture no wider than `side` is analysed as it is, whatever `side` is; its analysis is kept (one per
    thread) and given again for the same pixels: a picture in which one digit is found is read again as one
    digit (tfnotes.digits), and would otherwise be analysed twice. Nothing changes the arrays of an Analysis."""
    width, height = grey.size
    if max(height, width) > side:
        small = _as_float(grey.resize(_fit((width, height), side), Image.Resampling.BILINEAR))
        return Analysis(small, *find_ink(small))
    key = (grey.mode, grey.size, hashlib.blake2b(grey.tobytes(), digest_size=16).digest())
    last = getattr(_LAST, "analysis", None)
    if last is not None and last[0] == key:
        return last[1]
    small = _as_float(grey)
    found = Analysis(small, *find_ink(small))
    _LAST.analysis = (key, found)
    return found


def strokes(found):
    """The stroke mask of an Analysis without the paper's printed lines and the boxes drawn around the writing
    (tfnotes.printed). The last one of this thread is kept: the number reader and the one-digit reading of the
    same picture both ask for it. Nothing changes the mask."""
    last = getattr(_LAST, "strokes", None)
    if last is not None and last[0] is found:
        return last[1]
    mask = without_printed(found.ink > found.threshold)
    mask.flags.writeable = False
    _LAST.strokes = (found, mask)
    return mask


def digit_crop(grey):
    """The digit's box, as ink strength in [0, 1] (0 = paper), about WORK_SIDE px on its longer side.

    The digit is found on a copy at most ANALYSIS_SIDE px wide; its box is then cut again from the
    full-resolution picture, so small digits in big photos keep their detail.
    """
    grey = as_image(grey)
    found = analyse(grey)
    keep = select_digit(strokes(found))
    if not keep.any():
        raise ValueError("no digit found: only specks, a frame or printed lines, no strokes")
    return crop_ink(grey, found, keep)


def crop_ink(grey, found, keep):
    """The ink of the pixels `keep` (a mask on found.small) cut from the full-resolution grey picture.

    Returns ink strength in [0, 1] about WORK_SIDE px on its longer side; only ink near `keep` counts,
    so a neighbour's strokes inside the box are left out.
    """
    window = ink_window(grey, found, keep)
    return window.ink * window_mask(window, keep)


Window = collections.namedtuple("Window", "ink box_small size")
Window.__doc__ = """Ink strength of a box of the picture at full resolution (about WORK_SIDE px), not yet masked."""


def ink_window(grey, found, keep):
    """The full-resolution ink of the box around the pixels `keep` (plus one analysis pixel each side)."""
    small, paper, threshold, peak = found.small, found.paper, found.threshold, found.peak
    width, height = grey.size
    top, bottom, left, right = bbox(keep)
    top, bottom, left, right = top - 1, bottom + 1, left - 1, right + 1
    sy, sx = height / small.shape[0], width / small.shape[1]
    box_small = (max(0, left), max(0, top), min(small.shape[1], right), min(small.shape[0], bottom))
    box = (box_small[0] * sx, box_small[1] * sy, box_small[2] * sx, box_small[3] * sy)
    size = _fit((box[2] - box[0], box[3] - box[1]), WORK_SIDE)
    bright = _as_float(grey.resize(size, Image.Resampling.BILINEAR, box=box))
    if found.dark:
        bright = 1.0 - bright
    ink_w = np.clip(bright - _resize(paper, size, box=box_small), 0.0, None)
    low = 0.5 * threshold
    return Window(np.clip((ink_w - low) / max(peak - low, 1e-6), 0.0, 1.0), box_small, size)


def window_mask(window, keep):
    """Where the pixels `keep` (a mask on the analysed copy) lie in a Window, widened by one pixel (0 or 1)."""
    mask = _resize(keep.astype(np.float32), window.size, box=window.box_small) > 0.0
    return dilate(mask.astype(np.float32), 1)


def place_by_mass(digit, side=CANVAS_SIDE):
    """Paste a small digit into side x side so that its centre of mass is at the centre (kept inside)."""
    h, w = digit.shape
    total = float(digit.sum())
    rows, cols = np.arange(h), np.arange(w)
    cy = float(digit.sum(axis=1) @ rows) / total
    cx = float(digit.sum(axis=0) @ cols) / total
    centre = side / 2.0                  # MNIST puts the centre of mass at pixel (14, 14)
    top = int(np.clip(round(centre - cy), 0, side - h))
    left = int(np.clip(round(centre - cx), 0, side - w))
    out = np.zeros((side, side), np.float32)
    out[top:top + h, left:left + w] = digit
    return out



def oriented(picture):
    """The picture turned upright by its EXIF orientation (the same picture when it has none)."""
    return ImageOps.exif_transpose(picture) if picture.getexif().get(0x0112, 1) != 1 else picture


def original_scale(picture):
    """Pixels of the original file per pixel of the decoded picture (above 1 after JPEG draft decoding)."""
    width, _ = picture.info.get("original_size", picture.size)
    return width / picture.size[0]
