"""Make tfnotes/lines.npz: the small network that reads a whole line of digits (tfnotes/linereader.py).

The shipped file, from the lines of two seeds (about an hour on 2 cores: 23 + 10 min to draw, 20 to learn):

    python benchmarks/make_line_weights.py --lines /tmp/lines0.npz --draw-only     # seed 0: 48,000 + 8,000 pictures
    python benchmarks/make_line_weights.py --seed 1 --pictures 24000 --single-pictures 4000 \
        --lines /tmp/lines1.npz --draw-only
    python benchmarks/make_line_weights.py --lines /tmp/lines0.npz --more-lines /tmp/lines1.npz --epochs 12

Other runs:

    python benchmarks/make_line_weights.py       # seed 0's pictures only, 18 epochs
    python benchmarks/make_line_weights.py --out /tmp/l.npz --pictures 1000 --single-pictures 200 --epochs 1
    python benchmarks/make_line_weights.py --measure tfnotes/lines.npz     # only measure a file: 87.8 %

It draws pictures of numbers (2 to 10 digits, half with touching digits) and of one digit, made of MNIST
*training* digits (benchmarks/realistic_numbers.py, benchmarks/realistic_digits.py; the app's benchmarks use
test digits only), chunk by chunk in the conditions of benchmarks/realistic_conditions.py, on all cores; finds
their lines of ink as the app does (tfnotes.segment) and keeps each picture in which the app finds one line,
labelled with the picture's digits. It trains the network with CTC (seeded, with TensorFlow's op determinism,
so the same arguments give the same file), prints how many of --held-out more pictures' lines it reads right
(every digit, none lost or gained) and writes its weights (float16) atomically.

Lines of about the same width are batched together and each batch is cut to its widest line, so little time
goes on paper. Drawing takes 29 min, learning about 30; --lines keeps what was drawn for the next run.
What it learns from matters most: from 24,000 + 4,000 pictures (27,911 lines), 8 epochs read 63.0 % of the
held-out lines exactly, 18 epochs 68.3 %; from twice the pictures (55,862 lines, 18 epochs) 76.6 %, but 98.3 %
of 1,000 lines it had learned from: it learned its lines by heart. Each line now varies each time it is learned
from (varied(): wider or narrower, slanted, moved, bolder or thinner): 81.6 %; with --dropout 0.2 as well (the
default) 82.0 %, and with it the number reader read 1,753 of 2,000 development numbers (the variation alone: 1,735).
Then it fitted held-out and learned-from lines alike (82.0 / 85.2 %), so the network grew instead: FILTERS and BAND
below (441,803 weights, 866 KB; before: 16, 32, 64 and 128, 197,003 weights) read 85.9 % of the held-out lines
(88.7 % of lines learned from; with the app's reader of today, 87.0 and 89.2 %). Seed 1's lines of 24,000 + 4,000
more pictures as well (83,782 lines), 12 epochs (as many steps): 87.4 and 88.6 %, but no more numbers read right
on the report seeds (docs/mnist.md), so it was not shipped. Then the two convolutions along the line (5 and 3
bands wide) gave way to one (3 bands) and a GRU of UNITS each way, so that each band's output depends on the whole
line (387,467 weights, 760 KB); from the same lines of both seeds: 87.8 % of the held-out lines, CTC loss 0.546
after 12 epochs (the convolutions: 0.626), 36 of the 1,000 held-out lines counted wrong (the file before: 48),
and 81 more of the 12,000 numbers of the report seeds read right. That is the shipped file (the commands above).
"""
import argparse
import os
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:          # run as a script: make `tfnotes` and `benchmarks` importable
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tfnotes import linereader, pictures, segment  # noqa: E402
from tfnotes.atomic import atomic_path  # noqa: E402
from tfnotes.errors import ModelError  # noqa: E402
from tfnotes.tfenv import tf2  # noqa: E402

from benchmarks.make_touching_weights import (  # noqa: E402
    CHUNK,
    SINGLES,
    conditions_arg,
    drawn_chunk,
    pooled,
    write_weights,
)
from benchmarks.realistic_conditions import CONDITIONS  # noqa: E402

# Half the chunks clean, the other half each hard condition in turn: the line reader is a second opinion in
# every condition the app meets.
MIXED = tuple(c for hard in CONDITIONS[1:] for c in ("clean", hard))
LONGEST = 10                      # digits in the longest number drawn (realistic_numbers' lengths)
FILTERS, BAND, BAND_WIDTH, UNITS = (24, 48, 96), 192, 3, 96   # the network's size (tfnotes.linereader.LAYERS)
# Each time a line is learned from it is drawn a little differently: wider or narrower by up to STRETCH (as a
# factor's logarithm), slanted by up to SHEAR columns per row, moved right by up to SHIFT columns, and its
# strokes thickened or thinned by a pixel one time in THICKEN. Without this the network learned its lines by heart.
STRETCH, SHEAR, SHIFT, THICKEN = 0.2, 0.25, 4, 3


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=linereader.WEIGHTS, help="weights file to write")
    p.add_argument("--pictures", type=int, default=48000, help="pictures of numbers to learn from")
    p.add_argument("--single-pictures", type=int, default=8000, help="pictures of one digit to learn from too")
    p.add_argument("--held-out", type=int, default=1000, help="pictures of numbers drawn more, to measure it")
    p.add_argument("--epochs", type=int, default=18, help="passes over the lines")
    p.add_argument("--dropout", type=float, default=0.2,
                   help="share of each band's features dropped while it learns (0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pictures and of the training")
    p.add_argument("--conditions", type=conditions_arg, default=",".join(MIXED),
                   help="conditions the pictures are drawn in, chunk by chunk in turn")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="processes that draw the pictures")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: the repository's data/)")
    p.add_argument("--lines", metavar="FILE", default=None,
                   help="keep the drawn lines in FILE (about 90 MB for the default pictures); a later run with the "
                        "same --pictures, --single-pictures, --seed and --conditions reads them from it instead of "
                        "drawing them again, which is most of a run's time")
    p.add_argument("--draw-only", action="store_true",
                   help="draw the lines, keep them in --lines FILE and stop (for --more-lines of a later run)")
    p.add_argument("--more-lines", metavar="FILE", nargs="+", default=[],
                   help="also learn from the lines kept in these files by runs of other arguments (another --seed: "
                        "more pictures than one seed's 50,000)")
    p.add_argument("--measure", metavar="FILE", default=None,
                   help="learn nothing: print how many of the --held-out lines (drawn after --pictures and "
                        "--single-pictures pictures) the weights in FILE read exactly")
    return p


def picture_line(picture):
    """The network's input for the one line the app finds in a PIL picture, or None (no line, or more than one)."""
    grey = pictures.grey_image(pictures.oriented(picture))
    try:
        lines = segment.find_digits(pictures.analyse(grey, segment.SEGMENT_SIDE))
    except ValueError:            # no ink the app can find
        return None
    return linereader.groups_input(lines[0]) if len(lines) == 1 else None


def chunk_lines(task):
    """((images [n, HEIGHT, WIDTH] float16, widths [n]), labels [n, LONGEST] padded with -1) of one seeded chunk
    of pictures."""
    images, labels = [], []
    with drawn_chunk(*task) as records:
        for record in records:
            image = picture_line(pictures.load_image(record["path"]))
            if image is not None:
                images.append(image)
                labels.append([int(d) for d in record["number"]] + [-1] * (LONGEST - len(record["number"])))
    return stored(images), np.array(labels, np.int32).reshape(-1, LONGEST)


def stored(images):
    """Line inputs as one float16 array [n, HEIGHT, WIDTH] (paper on the right) and their widths [n]."""
    out = np.zeros((len(images), linereader.HEIGHT, linereader.WIDTH), np.float16)
    for n, image in enumerate(images):
        out[n, :, :image.shape[1]] = image
    return out, np.array([image.shape[1] for image in images], np.int32)


def draw_lines(numbers, singles, seed, workers, data_dir, conditions, start=0):
    """The lines of `numbers` pictures of numbers and `singles` of one digit, drawn in seeded chunks from
    picture `start` on (the result does not depend on the number of workers)."""
    tasks = [(seed, first, min(CHUNK, start + count - first), data_dir, single, conditions)
             for count, single in ((numbers, False), (singles, True))
             for first in range(start, start + count, CHUNK)]
    parts = pooled(chunk_lines, tasks, workers)
    return (np.concatenate([p[0][0] for p in parts]), np.concatenate([p[0][1] for p in parts]),
            np.concatenate([p[1] for p in parts]))


def drawn_by(args):
    """The arguments that decide which lines are drawn, as kept with them."""
    return (f"pictures={args.pictures} single-pictures={args.single_pictures} seed={args.seed} "
            f"conditions={','.join(args.conditions)}")


def training_lines(args):
    """(images, widths, labels) of the pictures to learn from: read from --lines FILE when it holds the lines of
    these arguments, else drawn (and kept in FILE, written atomically, when one is named)."""
    drawn = drawn_by(args)
    if args.lines and os.path.exists(args.lines):
        kept, lines = kept_lines(args.lines)
        if kept != drawn:
            raise SystemExit(f"error: {args.lines} holds the lines of {kept}, not of {drawn}; name another --lines "
                             "file or delete this one")
        return lines
    lines = draw_lines(args.pictures, args.single_pictures, args.seed, args.workers, args.data_dir, args.conditions)
    if args.lines:
        with atomic_path(args.lines) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, images=lines[0], widths=lines[1], labels=lines[2], drawn=np.array(drawn))
        print(f"kept the lines in {args.lines}", flush=True)
    return lines


def pooled_lines(args):
    """(images, widths, labels) of training_lines and of the --more-lines files, in that order; the files are read
    first, so a SystemExit naming a damaged one, or one that holds lines learned from already (the same arguments
    twice), comes before any drawing."""
    more, seen = [], {drawn_by(args)}
    for path in args.more_lines:
        drawn, lines = kept_lines(path)
        if drawn in seen:
            raise SystemExit(f"error: {path} holds the lines of {drawn}, which are learned from already; name the "
                             "kept lines of other arguments (another --seed)")
        seen.add(drawn)
        more.append(lines)
    return tuple(np.concatenate(arrays) for arrays in zip(training_lines(args), *more))


def kept_lines(path):
    """(the arguments they were drawn with, the lines) kept in `path` by training_lines (plain arrays, no pickle);
    SystemExit naming the file and what to do when it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as f:
            kept, lines = str(f["drawn"]), (f["images"], f["widths"], f["labels"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise SystemExit(f"error: {path}: cannot read the kept lines ({exc}); delete it and draw them again "
                         "(--lines FILE with the arguments they were drawn with)") from None
    images, widths, labels = lines
    if (images.shape[1:] != (linereader.HEIGHT, linereader.WIDTH) or labels.shape[1:] != (LONGEST,)
            or not len(images) == len(widths) == len(labels)):
        raise SystemExit(f"error: {path} holds arrays of other shapes than this maker's lines (images "
                         f"{images.shape}, widths {widths.shape}, labels {labels.shape}); draw them again with it "
                         "(--lines FILE)")
    print(f"read the lines kept in {path}", flush=True)
    return kept, lines


def varied(image, rng):
    """A line input [HEIGHT, W] (paper on the right) drawn again a little differently (STRETCH, SHEAR, SHIFT,
    THICKEN); the result's width is again a multiple of FRAME, at most WIDTH."""
    height, width = image.shape
    frame = linereader.FRAME
    stretch = np.exp(rng.uniform(-STRETCH, STRETCH))
    shear = rng.uniform(-SHEAR, SHEAR)
    left = rng.uniform(0, SHIFT) + abs(shear) * height / 2        # so the slant moves no ink off the left edge
    stretch = min(stretch, (linereader.WIDTH - left - abs(shear) * height / 2) / width)   # nor off the right
    out_width = min(linereader.WIDTH, int(np.ceil((width * stretch + left + abs(shear) * height / 2) / frame)) * frame)
    # output column x of row y reads input column (x - left - shear * (y - height / 2)) / stretch
    matrix = (1 / stretch, -shear / stretch, (shear * height / 2 - left) / stretch, 0, 1, 0)
    picture = Image.fromarray(np.asarray(image, np.float32))
    out = np.asarray(picture.transform((out_width, height), Image.Transform.AFFINE, matrix,
                                       resample=Image.Resampling.BILINEAR), np.float32)
    kind = rng.integers(2 * THICKEN)
    if kind < 2:
        before = np.pad(out, ((0, 0), (1, 0)))[:, :-1]             # each pixel's left neighbour
        above = np.pad(out, ((1, 0), (0, 0)))[:-1]                 # and the one above it
        if kind == 0:             # strokes a pixel bolder, to the right and down
            out = np.maximum.reduce([out, before, above])
        else:                     # half a pixel thinner
            out = (out + np.minimum.reduce([out, before, above])) / 2
    return out


def varied_batch(images, widths, rng):
    """A batch [n, HEIGHT, W, 1] float32 of the lines varied(), paper on the right of the narrower ones."""
    lines = [varied(image[:, :width], rng) for image, width in zip(images, widths)]
    x = np.zeros((len(lines), linereader.HEIGHT, max(line.shape[1] for line in lines), 1), np.float32)
    for n, line in enumerate(lines):
        x[n, :, :line.shape[1], 0] = line
    return x


def build_network(seed, dropout=0.0):
    """The Keras network whose layers tfnotes.linereader.bands computes again in NumPy, seeded; `dropout` drops
    that share of each band's features while it learns (and nothing when it reads)."""
    keras = tf2.keras
    keras.utils.set_random_seed(seed)
    tf2.config.experimental.enable_op_determinism()
    image_in = keras.Input((linereader.HEIGHT, None, 1))
    x = image_in
    for name, count in zip(("conv1", "conv2", "conv3"), FILTERS):
        x = keras.layers.Conv2D(count, 3, padding="same", activation="relu", name=name)(x)
        x = keras.layers.MaxPool2D()(x)
    rows = linereader.HEIGHT // 8
    x = keras.layers.Permute((2, 1, 3))(x)                       # [bands, rows, channels]
    x = keras.layers.Reshape((-1, rows * FILTERS[-1]))(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Conv1D(BAND, BAND_WIDTH, padding="same", activation="relu", name="band1")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    # each band sees the whole line: a GRU reads the bands left to right, another right to left
    x = keras.layers.Bidirectional(keras.layers.GRU(UNITS, return_sequences=True), name="both")(x)
    logits = keras.layers.Conv1D(linereader.BLANK + 1, 1, name="out")(x)
    return keras.Model(image_in, logits)


def network_weights(model):
    """The weights of build_network's model under tfnotes.linereader's names ("<layer>_w", "_b", and "_u" for the
    recurrent weights of its GRU layers)."""
    weights = {f"{layer}_{part}": value for layer in linereader.LAYERS if layer not in linereader.RECURRENT
               for part, value in zip("wb", model.get_layer(layer).get_weights())}
    both = model.get_layer("both").get_weights()          # the left-to-right GRU's kernel, recurrent kernel, bias,
    for layer, arrays in zip(linereader.RECURRENT, (both[:3], both[3:])):   # then the right-to-left one's
        weights.update({f"{layer}_{part}": value for part, value in zip("wub", arrays)})
    return weights


def batches(widths, batch, rng):
    """Row indices of each batch of an epoch: lines of about the same width together (each batch is cut to its
    widest line, so little is spent on paper), the batches in a random order."""
    order = np.argsort(widths + rng.uniform(0, 2 * linereader.FRAME, len(widths)), kind="stable")
    chunks = [order[first:first + batch] for first in range(0, len(order), batch)]
    return [np.sort(chunks[k]) for k in rng.permutation(len(chunks))]


def ahead(function, items):
    """function(item) for each item in turn, each computed in a second thread while the caller uses the one
    before (the network learns while the next batch is drawn; the order, so the result, stays the same)."""
    with ThreadPoolExecutor(1) as thread:
        coming = thread.submit(function, items[0]) if items else None
        for n in range(len(items)):
            result = coming.result()
            if n + 1 < len(items):
                coming = thread.submit(function, items[n + 1])
            yield result


def train_network(images, widths, labels, seed, epochs, dropout=0.0, batch=64):
    """Fit the network with CTC (Adam, the rate decaying from 1e-3 to zero along a cosine), each line varied()
    each time it is learned from; its weights under tfnotes.linereader's names."""
    tf = tf2
    model = build_network(seed, dropout)
    steps = epochs * -(-len(labels) // batch)
    optimizer = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(1e-3, steps))

    # one signature: batches of other sizes and widths do not build the graph again
    @tf.function(input_signature=[tf.TensorSpec((None, linereader.HEIGHT, None, 1), tf.float32),
                                  tf.TensorSpec((None, LONGEST), tf.int32)])
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            lengths = tf.reduce_sum(tf.cast(y >= 0, tf.int32), axis=1)
            bands = tf.fill([tf.shape(y)[0]], tf.shape(logits)[1])
            loss = tf.reduce_mean(tf.nn.ctc_loss(tf.maximum(y, 0), logits, lengths, bands,
                                                 logits_time_major=False, blank_index=linereader.BLANK))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    rng, vary_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])

    for epoch in range(epochs):
        order = batches(widths, batch, rng)
        total = 0.0
        for rows, x in zip(order, ahead(lambda rows: varied_batch(images[rows], widths[rows], vary_rng), order)):
            total += float(step(x, labels[rows])) * len(rows)
        print(f"epoch {epoch + 1}/{epochs}: CTC loss {total / len(labels):.4f}", flush=True)
    return network_weights(model)


def line_accuracy(weights, images, widths, labels):
    """Share of lines whose digits the (float16-rounded) weights read exactly, each line alone at its width."""
    shipped = {name: value.astype(np.float16).astype(np.float32) for name, value in weights.items()}
    right = 0
    for image, width, label in zip(images, widths, labels):
        probs = linereader.bands(shipped, image[None, :, :width].astype(np.float32))[0]
        right += linereader.decode(probs)[0] == [int(d) for d in label if d >= 0]
    return right / max(1, len(labels))


def report_held_out(args, weights):
    """Print the share of the --held-out pictures' lines (the pictures of numbers drawn after the ones learned
    from, in the same seed and conditions) that `weights` read exactly."""
    held = draw_lines(args.held_out, 0, args.seed, args.workers, args.data_dir, args.conditions,
                      start=max(args.pictures, args.single_pictures))
    print(f"held-out lines read exactly: {line_accuracy(weights, *held):.2%} of {len(held[2])}", flush=True)


def main(argv=None):
    args = build_parser().parse_args(argv)
    if max(args.pictures, args.single_pictures) + args.held_out > SINGLES:
        raise SystemExit(f"error: --pictures, --single-pictures (each plus --held-out) can be at most {SINGLES:,}")
    if args.measure:
        try:
            weights = linereader.load(args.measure)
        except ModelError as exc:          # names the file and what to do
            raise SystemExit(f"error: {exc}") from None
        report_held_out(args, weights)
        return 0
    if args.draw_only:
        if not args.lines:
            raise SystemExit("error: --draw-only keeps the lines it draws: name the file with --lines FILE")
        if args.more_lines:
            raise SystemExit("error: --draw-only learns nothing, so --more-lines has no use with it; leave one out")
        training_lines(args)
        return 0
    images, widths, labels = pooled_lines(args)
    more = " and the files of --more-lines" if args.more_lines else ""
    print(f"{len(labels)} lines of {args.pictures + args.single_pictures} pictures{more}", flush=True)
    weights = train_network(images, widths, labels, args.seed, args.epochs, dropout=args.dropout)
    if args.held_out:
        report_held_out(args, weights)
    write_weights(args.out, weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
