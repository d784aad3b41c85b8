"""Hard photo conditions for the realistic benchmarks: the troubles real phone photos and scans bring.

The plain benchmarks (benchmarks/realistic_numbers.py, benchmarks/realistic_digits.py) show MNIST digits as ink
on noisy, unevenly lit paper. Each condition here adds one kind of trouble seen in real photos:

    clean     the plain benchmark, as before
    shadow    a cast shadow across the writing, a dark shadow beside it, or a dark object (a phone, a hand, a
              table edge) in the picture beside the writing
    light     strong lighting gradients, vignetting and glare
    paper     lined, squared or form-like paper (a printed box with a printed label, comb marks)
    pen       blue or black ballpoint (thin, with skips), pencil (grey, grainy) or felt-tip (bold, coloured)
    tilt      rotation up to 10 degrees and perspective (the paper's corners moved by up to 6 %)
    blur      focus or motion blur, and heavy JPEG
    overlap   neighbours whose strokes cross, not only touch (numbers only)
    tight     cropped tightly: the ink touches the picture's edges (numbers: half of them with touching digits)
    stroke    very thin or very bold strokes

A picture's condition is a Look: its parameters drawn from a generator of its own, so the picture is the plain
benchmark's picture (the same digits, size, slant, paper and light) with that one trouble added; the clean Look
draws nothing and changes nothing, so the plain sets stay as they were, file for file.
"""
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CONDITIONS = ("clean", "shadow", "light", "paper", "pen", "tilt", "blur", "overlap", "tight", "stroke")
NUMBERS_ONLY = ("overlap",)                 # conditions that need more than one digit
KINDS = {"shadow": ("across", "beside", "object"), "paper": ("lined", "squared", "form"),
         "pen": ("blue ballpoint", "black ballpoint", "pencil", "felt-tip"), "blur": ("focus", "motion"),
         "stroke": ("thin", "bold")}
KIND_WEIGHTS = {"shadow": (0.4, 0.3, 0.3)}   # otherwise each kind equally often
# Stroke change (MNIST px added on each side of every stroke; negative: thinner), per kind of pen.
PEN_CHANGE = {"blue ballpoint": (-0.5, -0.15), "black ballpoint": (-0.5, -0.15), "pencil": (-0.35, 0.1),
              "felt-tip": (0.5, 1.0), "thin": (-1.0, -0.6), "bold": (0.8, 1.3)}
THIN_KEEP = 0.3             # a very thin pen keeps at least this share of a plain pen's ink (else a little thicker)
OVERLAP = (3.0, 7.0)        # overlap: MNIST px by which the ink boxes of a pair overlap ...
INK_CROSS = (1.5, 4.0)      # ... and by which their strokes cross in the row where they meet
TIGHT_MARGIN = 0.04         # tight: at most this share of the digit height of paper around the ink
TILT_DEGREES = 10.0         # tilt: rotation up to this, ...
TILT_CORNERS = 0.06         # ... and each corner moved by up to this share of the picture's side
LABELS = ("AMOUNT", "Total", "Date", "Account", "Montant", "Betrag", "Qty", "Ref", "Sum", "Code")


class Look:
    """One picture's condition and its parameters, drawn from `rng` (a generator of the picture's own)."""

    def __init__(self, condition="clean", rng=None):
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}; one of {', '.join(CONDITIONS)}")
        self.condition, self.rng, self.kind = condition, rng, None
        if condition in KINDS:
            kinds = KINDS[condition]
            self.kind = str(rng.choice(kinds, p=KIND_WEIGHTS.get(condition)))
        self.side = str(rng.choice(("bottom", "top", "left", "right"), p=(0.4, 0.2, 0.2, 0.2))) \
            if condition == "shadow" and self.kind != "across" else None
        self.change = rng.uniform(*PEN_CHANGE[self.kind]) if self.kind in PEN_CHANGE else None

    # -- the ink ---------------------------------------------------------------------------------------------
    def digit_ink(self, ink_alpha, digit, scale, plain):
        """The digit's ink coverage written with this pen (None: the plain pen). ink_alpha(digit, scale, pen) is
        realistic_digits._ink_alpha; `plain` the coverage with the plain pen (very thin pens are checked on it)."""
        if self.change is None:
            return None
        change = self.change + self.rng.normal(0, 0.05)
        alpha = ink_alpha(digit, scale, _Fixed(change))
        while change < 0 and (alpha >= 0.5).sum() < THIN_KEEP * (plain >= 0.5).sum():
            change += 0.15                               # the pen eroded whole strokes: a little less thin
            alpha = ink_alpha(digit, scale, _Fixed(change))
        return alpha

    def ink_colour(self, colour):
        """RGB of the ink (the plain benchmark's `colour` unless this is a pen of another colour)."""
        if self.condition != "pen":
            return colour
        r = self.rng
        if self.kind == "blue ballpoint":
            return np.array([r.uniform(0.08, 0.2), r.uniform(0.12, 0.3), r.uniform(0.45, 0.75)], np.float32)
        if self.kind == "black ballpoint":
            grey = r.uniform(0.08, 0.22)
            return np.array([grey, grey, grey + r.uniform(0, 0.08)], np.float32)
        if self.kind == "pencil":
            return np.full(3, r.uniform(0.3, 0.5), np.float32)
        felt = ((0.06, 0.06, 0.1), (0.05, 0.12, 0.5), (0.65, 0.1, 0.12), (0.1, 0.4, 0.2))
        return np.array(felt[int(r.integers(len(felt)))], np.float32)

    def ink_texture(self, cover):
        """Ballpoint skips (strokes fading in places) and pencil grain, on the ink coverage."""
        if self.kind in ("blue ballpoint", "black ballpoint"):
            return cover * (1 - np.clip(_blotches(self.rng, cover.shape, 10, 0.35), 0, 0.5))
        if self.kind == "pencil":
            grain = self.rng.uniform(0.45, 1.0, cover.shape).astype(np.float32)
            return cover * grain * self.rng.uniform(0.75, 0.95)
        return cover

    # -- layout ----------------------------------------------------------------------------------------------
    def touch(self, overlap, cross):
        """(box overlap range, ink crossing range) in MNIST px for neighbours placed to touch."""
        return (OVERLAP, INK_CROSS) if self.condition == "overlap" else (overlap, cross)

    def margins(self, margins, height):
        """(left, right, top, bottom) paper around the ink in px: tight ones, or room for what lies beside it."""
        ml, mr, mt, mb = margins
        r = self.rng
        if self.condition == "tight":
            return tuple(int(r.uniform(0, TIGHT_MARGIN) * height) for _ in range(4))
        if self.side is not None:                        # room for a shadow or an object beside the writing
            extra = int(r.uniform(0.8, 1.8) * height)
            ml, mr, mt, mb = [m + extra * (self.side == s) for m, s in zip((ml, mr, mt, mb), SIDES)]
        if self.kind == "form":                          # room for the box and its label
            pad = int(0.6 * height)
            ml, mr, mt, mb = max(ml, pad), max(mr, pad), max(mt, pad) + int(0.6 * height), max(mb, pad)
        return ml, mr, mt, mb

    # -- paper and geometry ----------------------------------------------------------------------------------
    def printed(self, shape, boxes, height):
        """[(coverage [h, w], RGB factor of the paper)]: what is printed on this paper (nothing but on `paper`)."""
        if self.condition != "paper":
            return []
        return {"lined": _lined, "squared": _squared, "form": _form}[self.kind](self.rng, shape, boxes, height)

    def geometry(self, cover, layers, boxes):
        """The ink coverage, the printed layers and the digit boxes seen at an angle (tilt), else as they are."""
        if self.condition != "tilt":
            return cover, layers, boxes
        return _tilt(self.rng, cover, layers, boxes)

    # -- light and camera ------------------------------------------------------------------------------------
    def scene(self, rgb, boxes, height):
        """The lit RGB picture [h, w, 3] with this condition's shadows, objects or stronger light."""
        if self.condition == "light":
            return rgb * _strong_light(self.rng, *rgb.shape[:2])[..., None]
        if self.condition != "shadow":
            return rgb
        ink = _ink_extent(boxes)
        if self.kind == "across":
            return rgb * _cast_shadow(self.rng, rgb.shape[:2], ink, height)[..., None]
        if self.kind == "beside":
            return rgb * _shadow_beside(self.rng, rgb.shape[:2], ink, height, self.side)[..., None]
        return _object_beside(self.rng, rgb, ink, height, self.side)

    def camera(self, img, height):
        """The photo blurred (focus or motion) in the blur condition."""
        if self.condition != "blur":
            return img
        if self.kind == "focus":
            return img.filter(ImageFilter.GaussianBlur(self.rng.uniform(0.025, 0.05) * height))
        return _motion_blur(img, self.rng.uniform(0.05, 0.12) * height, self.rng.uniform(0, np.pi))

    def jpeg_quality(self, quality):
        """(JPEG share, quality range) of the saved file: heavy JPEG in the blur condition."""
        return (1.0, (10, 36)) if self.condition == "blur" else quality


SIDES = ("left", "right", "top", "bottom")


def look_of(condition, seed, n):
    """The Look of picture n of a set of `seed`: drawn from a generator of its own (clean: none), so the set's
    digits, and everything else about them, are those of the clean set of the same seed."""
    if condition == "clean":
        return Look()
    return Look(condition, np.random.default_rng([seed, n, CONDITIONS.index(condition)]))


class _Fixed:
    """Stands in for a generator in realistic_digits._ink_alpha: its stroke change is `change` MNIST px."""

    def __init__(self, change):
        self.change = change

    def uniform(self, low, high):
        return self.change


def _blotches(rng, shape, cells, amount):
    """Smooth noise of about `cells` blotches per side, standard deviation `amount`."""
    coarse = rng.normal(0, amount, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize(shape[::-1], Image.Resampling.BICUBIC))


def _ink_extent(boxes):
    """(left, top, right, bottom) of all the digit boxes [x, y, w, h]."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[0] + b[2] for b in boxes),
            max(b[1] + b[3] for b in boxes))


def _grid(shape):
    return np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Paper: lines, squares, forms
# ---------------------------------------------------------------------------------------------------------

def _print_colour(rng, light=True):
    """RGB factor of printed lines: grey-blue or grey (light), or dark print (forms)."""
    if not light:
        return np.full(3, rng.uniform(0.1, 0.35), np.float32) * (1, 1, rng.uniform(1.0, 1.6))
    if rng.random() < 0.6:
        return np.array([0.55, 0.66, 0.85], np.float32) * rng.uniform(0.75, 1.0)
    return np.full(3, rng.uniform(0.55, 0.8), np.float32)


def _bands(coordinate, spacing, offset, thick):
    """Coverage of parallel printed lines along `coordinate` (an array), every `spacing` px."""
    dist = np.abs((coordinate - offset + spacing / 2) % spacing - spacing / 2)
    return np.clip(thick / 2 + 0.5 - dist, 0.0, 1.0)


def _lined(rng, shape, boxes, height):
    """Lined paper: faint lines about 1.1-1.6 digit heights apart, the number written on one; sometimes a
    red margin line left of the writing."""
    yy, xx = _grid(shape)
    baseline = float(np.median([b[1] + b[3] for b in boxes])) + rng.uniform(-0.03, 0.08) * height
    slope = rng.uniform(-0.01, 0.01)
    lines = _bands(yy - slope * (xx - shape[1] / 2), rng.uniform(1.1, 1.6) * height, baseline,
                   max(1.0, rng.uniform(1 / 70, 1 / 30) * height)) * rng.uniform(0.5, 0.85)
    layers = [(lines, _print_colour(rng))]
    left = min(b[0] for b in boxes)
    if rng.random() < 0.4 and left > 0.3 * height:
        x = rng.uniform(0.1, 0.8) * left
        margin = np.clip(max(1.0, height / 40) / 2 + 0.5 - np.abs(xx - x), 0, 1) * rng.uniform(0.5, 0.8)
        layers.append((margin, np.array([0.95, 0.45, 0.45], np.float32)))
    return layers


def _squared(rng, shape, boxes, height):
    """Squared paper: a faint grid of squares 0.45-0.9 digit heights wide, across the writing."""
    yy, xx = _grid(shape)
    spacing, thick = rng.uniform(0.45, 0.9) * height, max(1.0, rng.uniform(1 / 80, 1 / 40) * height)
    grid = np.maximum(_bands(yy, spacing, rng.uniform(0, spacing), thick),
                      _bands(xx, spacing, rng.uniform(0, spacing), thick))
    return [(grid * rng.uniform(0.35, 0.7), _print_colour(rng))]


def _form(rng, shape, boxes, height):
    """A form or cheque: a printed box around the number, a printed label above it (or left of it), and
    sometimes comb marks (ticks along the box's bottom edge, one per digit place)."""
    left, top, right, bottom = _ink_extent(boxes)
    pad = rng.uniform(0.15, 0.5) * height
    box = [left - pad, top - pad, right + pad, bottom + pad]
    canvas = Image.new("F", shape[::-1], 0.0)
    draw = ImageDraw.Draw(canvas)
    width = max(1, int(round(rng.uniform(1 / 40, 1 / 15) * height)))
    draw.rectangle(box, outline=1.0, width=width)
    if rng.random() < 0.5:
        step = rng.uniform(0.7, 1.0) * height
        for x in np.arange(box[0] + step, box[2] - 0.3 * step, step):
            draw.line([(x, box[3]), (x, box[3] - rng.uniform(0.2, 0.35) * height)], fill=1.0, width=width)
    size = max(6, int(rng.uniform(0.25, 0.4) * height))
    font = ImageFont.load_default(size=size)
    label = str(rng.choice(LABELS))
    draw.text((box[0], box[1] - 1.5 * size), label, fill=1.0, font=font)
    return [(np.clip(np.asarray(canvas), 0, 1), _print_colour(rng, light=False))]


def _homography(src, dst):
    """The 8 coefficients (a..h) of the projective map dst -> src: x = (a u + b v + c) / (g u + h v + 1)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([u, v, 1, 0, 0, 0, -u * x, -v * x])
        rows.append([0, 0, 0, u, v, 1, -u * y, -v * y])
        rhs += [x, y]
    return np.linalg.solve(np.array(rows, float), np.array(rhs, float))


def _apply(coeffs, points):
    a, b, c, d, e, f, g, h = coeffs
    return [((a * x + b * y + c) / (g * x + h * y + 1), (d * x + e * y + f) / (g * x + h * y + 1)) for x, y in points]


def _tilt(rng, cover, layers, boxes):
    """Rotation up to TILT_DEGREES and each corner moved by up to TILT_CORNERS: the paper photographed at an
    angle. The boxes become the boxes of their moved corners (a little larger than the ink's)."""
    h, w = cover.shape
    angle = np.radians(rng.uniform(-TILT_DEGREES, TILT_DEGREES))
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    cx, cy = w / 2, h / 2
    moved = [(cx + (x - cx) * np.cos(angle) - (y - cy) * np.sin(angle) + rng.uniform(-1, 1) * TILT_CORNERS * w,
              cy + (x - cx) * np.sin(angle) + (y - cy) * np.cos(angle) + rng.uniform(-1, 1) * TILT_CORNERS * h)
             for x, y in corners]
    x0, y0 = min(p[0] for p in moved), min(p[1] for p in moved)
    moved = [(x - x0, y - y0) for x, y in moved]
    size = (int(np.ceil(max(p[0] for p in moved))), int(np.ceil(max(p[1] for p in moved))))
    back, forward = _homography(corners, moved), _homography(moved, corners)

    def warp(array):
        img = Image.fromarray(array.astype(np.float32)).transform(size, Image.Transform.PERSPECTIVE, tuple(back),
                                                                  Image.Resampling.BILINEAR)
        return np.asarray(img)
    new_boxes = []
    for x, y, bw, bh in boxes:
        pts = _apply(forward, [(x, y), (x + bw, y), (x + bw, y + bh), (x, y + bh)])
        left, top = max(0, int(min(p[0] for p in pts))), max(0, int(min(p[1] for p in pts)))
        right, bottom = min(size[0], int(np.ceil(max(p[0] for p in pts)))), min(size[1], int(np.ceil(max(
            p[1] for p in pts))))
        new_boxes.append([left, top, right - left, bottom - top])
    return warp(cover), [(warp(c), rgb) for c, rgb in layers], new_boxes


# ---------------------------------------------------------------------------------------------------------
# Light: shadows, objects, strong light; the camera
# ---------------------------------------------------------------------------------------------------------

def _soft_step(distance, width):
    """0 on the near side of an edge, 1 on the far side, a smooth ramp `width` px wide between."""
    return np.clip(distance / max(width, 1.0) + 0.5, 0.0, 1.0)


def _edge_distance(rng, shape, point, angle, wobble):
    """Signed distance of every pixel to a slightly wavy line through `point` at `angle`."""
    yy, xx = _grid(shape)
    nx, ny = np.cos(angle), np.sin(angle)
    along = -ny * (xx - point[0]) + nx * (yy - point[1])
    wave = wobble * np.sin(along / max(shape) * 2 * np.pi * rng.uniform(0.3, 1.2) + rng.uniform(0, 2 * np.pi))
    return nx * (xx - point[0]) + ny * (yy - point[1]) + wave


def _cast_shadow(rng, shape, ink, height):
    """A soft shadow (of a hand or a phone) whose edge crosses the writing: light factor per pixel."""
    point = (rng.uniform(ink[0], ink[2]), rng.uniform(ink[1], ink[3]))
    distance = _edge_distance(rng, shape, point, rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.3) * height)
    depth = rng.uniform(0.35, 0.7)
    return 1.0 - (1.0 - depth) * _soft_step(distance, rng.uniform(0.02, 0.3) * max(shape))


def _side_edge(rng, ink, height, side):
    """(a point on the edge, the angle of its normal towards the far side) of something beside the writing."""
    gap = rng.uniform(0.1, 0.5) * height
    left, top, right, bottom = ink
    half = (right - left if side in ("top", "bottom") else bottom - top) / 2
    most = min(0.25, np.arctan(0.8 * gap / max(half, 1.0)))     # tilted, but never reaching the writing
    tilt = rng.uniform(-most, most)
    mid_x, mid_y = (left + right) / 2, (top + bottom) / 2
    point, angle = {"bottom": ((mid_x, bottom + gap), np.pi / 2), "top": ((mid_x, top - gap), -np.pi / 2),
                    "left": ((left - gap, mid_y), np.pi), "right": ((right + gap, mid_y), 0.0)}[side]
    return point, angle + tilt


def _shadow_beside(rng, shape, ink, height, side):
    """A dark shadow with a sharp edge beside the writing, not over it (a phone's shadow across a third)."""
    point, angle = _side_edge(rng, ink, height, side)
    distance = _edge_distance(rng, shape, point, angle, 0.0)
    depth = rng.uniform(0.15, 0.5)
    return 1.0 - (1.0 - depth) * _soft_step(distance, rng.uniform(0.01, 0.08) * height)


def _object_beside(rng, rgb, ink, height, side):
    """A dark object beside the writing (a phone, a table edge, a hand): its colour replaces the paper, and it
    casts a short soft shadow on the paper next to it."""
    point, angle = _side_edge(rng, ink, height, side)
    distance = _edge_distance(rng, rgb.shape[:2], point, angle, rng.uniform(0, 0.05) * height)
    kind = int(rng.integers(3))
    colour = [np.full(3, rng.uniform(0.02, 0.12)),                                           # a phone
              np.array([rng.uniform(0.25, 0.45), rng.uniform(0.15, 0.3), rng.uniform(0.08, 0.18)]),   # a table
              np.array([rng.uniform(0.6, 0.8), rng.uniform(0.42, 0.6), rng.uniform(0.35, 0.5)]) * 0.8][kind]
    body = colour.astype(np.float32) * (1 + _blotches(rng, rgb.shape[:2], 4, 0.08))[..., None]
    inside = _soft_step(distance, rng.uniform(1.0, 3.0))[..., None]
    penumbra = 1.0 - rng.uniform(0.1, 0.35) * _soft_step(distance + 0.15 * height, 0.3 * height)[..., None]
    return (rgb * penumbra) * (1 - inside) + body * inside


def _strong_light(rng, height, width):
    """A strong lighting gradient, a strong vignette and sometimes a glare spot: light factor per pixel."""
    yy = (np.arange(height, dtype=np.float32) / height - 0.5)[:, None]
    xx = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 - rng.uniform(0.35, 0.6) * (np.cos(angle) * xx + np.sin(angle) * yy + 0.7) / 1.4
    light -= rng.uniform(0.2, 0.45) * (xx ** 2 + yy ** 2) * 2
    if rng.random() < 0.3:
        gx, gy, size = rng.uniform(-0.4, 0.4), rng.uniform(-0.4, 0.4), rng.uniform(0.1, 0.3)
        light += rng.uniform(0.1, 0.3) * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / size ** 2)
    return np.clip(light, 0.15, None)


def _motion_blur(img, length, angle):
    """The picture smeared along a line `length` px long at `angle` (camera shake): the mean of shifted copies."""
    steps = max(2, int(round(length)))
    arr = np.asarray(img, np.float32)
    out = np.zeros_like(arr)
    for t in np.linspace(-0.5, 0.5, steps):
        out += _shift(arr, t * length * np.cos(angle), t * length * np.sin(angle))
    return Image.fromarray(np.clip(out / steps, 0, 255).astype(np.uint8))


def _shift(arr, dx, dy):
    """arr moved by (dx, dy) px (bilinear, per channel), the uncovered edge filled with the median (the paper)."""
    chans = [arr] if arr.ndim == 2 else [arr[..., k] for k in range(arr.shape[2])]
    moved = [np.asarray(Image.fromarray(np.ascontiguousarray(c)).transform(
        c.shape[::-1], Image.Transform.AFFINE, (1, 0, -dx, 0, 1, -dy), Image.Resampling.BILINEAR,
        fillcolor=float(np.median(c)))) for c in chans]
    return moved[0] if arr.ndim == 2 else np.stack(moved, axis=2)
