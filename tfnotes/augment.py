"""Data augmentation inside the graph: MNIST digits made to vary the way real handwriting does.

Each training image gets its own random affine transform (rotation, scale, shift and optionally shear
about the image centre) and, for some, a pen one pixel thicker or thinner. MNIST's digits are all centred,
upright and of one stroke width; photos of real handwriting, even after the app's preprocessing, are not.

Everything is drawn with stateless random ops from (seed, global step), so the same --seed gives the same
augmented batches, and a resumed run continues exactly the stream the unbroken run would have seen.
"""
import collections
import math

import numpy as np
from PIL import Image

from tfnotes.atomic import atomic_path
from tfnotes.tfenv import tf

IMAGE_SIZE = 28

Augment = collections.namedtuple("Augment", "rotate scale shift shear thicken thin")
Augment.__doc__ = """The knobs of the augmentation (the --augment-* flags).

rotate: degrees either way; scale: the size varies by this share either way; shift: pixels either way;
shear: horizontal shear either way (a slant); thicken / thin: the share of the images drawn with a pen one
pixel thicker / thinner (a 2x2 maximum / minimum filter)."""

# Defaults: a first choice, kept for the gains measured in docs/mnist.md (rotation 12 degrees, scale 0.85-1.15,
# shift 2 px, 20 % of the images thickened, 10 % thinned); shear off, as rotation already slants the strokes.
DEFAULT = Augment(rotate=12.0, scale=0.15, shift=2.0, shear=0.0, thicken=0.2, thin=0.1)


def transforms(n, seed, knobs):
    """[n, 8] projective transforms (output pixel -> input pixel), one random affine map per image."""
    keys = [tf.stack([tf.cast(seed[0], tf.int64), tf.cast(seed[1], tf.int64) * 8 + k]) for k in range(5)]

    def uniform(k, half):
        return tf.random.stateless_uniform([n], seed=keys[k], minval=-half, maxval=half)

    angle = uniform(0, knobs.rotate * math.pi / 180.0)
    scale = 1.0 + uniform(1, knobs.scale)
    shear = uniform(2, knobs.shear)
    dx, dy = uniform(3, knobs.shift), uniform(4, knobs.shift)
    # Forward map about the centre c: out = c + S R H (in - c) + d. The op wants its inverse,
    # in = c + M (out - c - d), with M = (S R H)^-1 = H^-1 R^-1 / s.
    cos, sin = tf.cos(angle), tf.sin(angle)
    a, b = cos / scale, sin / scale                  # R^-1 / s = [[cos, sin], [-sin, cos]] / s
    m00, m01 = a + shear * b, b - shear * a           # H^-1 (R^-1 / s), H^-1 = [[1, -k], [0, 1]]
    m10, m11 = -b, a
    centre = (IMAGE_SIZE - 1) / 2.0
    ox, oy = -centre - dx, -centre - dy
    zeros = tf.zeros([n])
    return tf.stack([m00, m01, m00 * ox + m01 * oy + centre,
                     m10, m11, m10 * ox + m11 * oy + centre, zeros, zeros], axis=1)


def pen_draws(n, seed):
    """[n, 1, 1, 1] uniform draws that choose each image's pen: thicker, thinner or as it is."""
    return tf.random.stateless_uniform([n, 1, 1, 1], seed=tf.stack([tf.cast(seed[0], tf.int64),
                                                                    tf.cast(seed[1], tf.int64) * 8 + 5]))


def stroke_jitter(images, draw, knobs):
    """Some images drawn with a thicker pen (2x2 maximum), some with a thinner one (2x2 minimum).

    One filter serves both: the minimum is the maximum of the negated image, negated back. It runs with the
    batch as the channels ([1, 28, 28, N]), where the pooling kernel works on many values at once; one
    channel per image costs it about twice the time."""
    draw = tf.reshape(draw, [-1])
    sign = tf.where_v2(draw > 1.0 - knobs.thin, -1.0, 1.0)
    keep = (draw >= knobs.thicken) & (draw <= 1.0 - knobs.thin)
    stacked = tf.transpose(images, [3, 1, 2, 0])                      # [1, 28, 28, N]
    filtered = sign * tf.nn.max_pool2d(sign * stacked, 2, 1, "SAME")
    return tf.transpose(tf.where_v2(keep, stacked, filtered), [3, 1, 2, 0])


def augment(x, seed, step, knobs=DEFAULT):
    """A batch of flat images x [N, 784] in [0, 1], augmented: same shape, still in [0, 1].

    seed and step (int tensors or numbers) choose the random draws: the same pair gives the same batch.
    """
    with tf.name_scope("augment"):
        n = tf.shape(x)[0]
        images = tf.reshape(x, [-1, IMAGE_SIZE, IMAGE_SIZE, 1])
        pair = (seed, step)
        moved = tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms(n, pair, knobs), output_shape=[IMAGE_SIZE, IMAGE_SIZE],
            fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
        # The pen draws come after the transform in the graph on purpose: built in the other order, the same
        # ops gave transforms that differed in their last bits, and so another augmented stream.
        draw = pen_draws(n, pair)
        moved = stroke_jitter(moved, draw, knobs)
        return tf.reshape(tf.clip_by_value(moved, 0.0, 1.0), [-1, IMAGE_SIZE * IMAGE_SIZE])


def save_grid(grid, path, zoom=3):
    """A [rows, cols, 28, 28] grid of images in [0, 1] as one PNG (light digits on black, 1 px gaps), atomically."""
    rows, cols = grid.shape[:2]
    canvas = np.full((rows * 29 - 1, cols * 29 - 1), 0.25, np.float32)
    for r in range(rows):
        for c in range(cols):
            canvas[r * 29:r * 29 + 28, c * 29:c * 29 + 28] = grid[r, c]
    picture = Image.fromarray((np.clip(canvas, 0, 1) * 255).astype(np.uint8))
    picture = picture.resize((picture.width * zoom, picture.height * zoom), Image.Resampling.NEAREST)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
