"""Reading the digits in picture files: inputs, one batch, results, readable lines and debug PNGs.

The digit app (mnist_app.py) is a thin front over these; the pictures become model input through
tfnotes.pictures and are predicted by a tfnotes.inference.Model.
"""
import glob
import os
import threading

import numpy as np
from PIL import Image

from tfnotes import linereader, segment, touching
from tfnotes.atomic import atomic_path
from tfnotes.errors import ImageError
from tfnotes.pictures import (
    CANVAS_SIDE,
    analyse,
    crop_ink,
    finish,
    grey_image,
    ink_window,
    load_image,
    oriented,
    original_scale,
    preprocess,
    to_grey,
    window_mask,
)

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")


def expand_inputs(args):
    """Files, folders (their pictures, sorted) and glob patterns -> list of (path, error or None)."""
    out = []
    for arg in args:
        if os.path.isdir(arg):
            found = sorted(os.path.join(arg, f) for f in os.listdir(arg)
                           if f.lower().endswith(IMAGE_EXTS) and os.path.isfile(os.path.join(arg, f)))
            out += [(p, None) for p in found] or [(arg, f"{arg}: folder has no pictures ({', '.join(IMAGE_EXTS)})")]
        elif os.path.exists(arg) or not glob.has_magic(arg):
            out.append((arg, None))       # a missing plain name is reported when it is loaded
        else:
            found = sorted(p for p in glob.glob(arg, recursive=True) if os.path.isfile(p))
            out += [(p, None) for p in found] or [(arg, f"{arg}: no file matches this pattern")]
    return out


def prepare_all(items, keep_pictures=False, prepare=preprocess):
    """One digit per picture (--single): (batch [N,28,28] float32, entries, pictures); see gather().

    prepare(picture, name) makes one decoded picture into the network's 28x28 input; entries have "row".
    """
    return gather(items, lambda picture, path: ([prepare(picture, path)], {}), keep_pictures, single=True)


def gather(items, read, keep_pictures=False, single=False):
    """(path, error) pairs -> (batch [N,28,28] float32, entries, pictures), all pictures' inputs in one batch.

    read(picture, path) -> (28x28 inputs of that picture, more fields for its entry). entries, in input order:
    dicts with "path" and "row" (single) or "rows" (indices into batch) and the fields, or "path" and "error".
    pictures[k] is the decoded picture of the k-th entry without an error, kept only with keep_pictures.
    """
    batch, entries, pictures = [], [], []
    for path, error in items:
        if error is None:
            try:
                picture = load_image(path)
                inputs, fields = read(picture, path)
                rows = list(range(len(batch), len(batch) + len(inputs)))
                batch.extend(inputs)
                entries.append({"path": path, **({"row": rows[0]} if single else {"rows": rows}), **fields})
                if keep_pictures:
                    pictures.append(picture)
                continue
            except ImageError as exc:
                error = str(exc)
        entries.append({"path": path, "error": error})
    arr = np.stack(batch) if batch else np.zeros((0, CANVAS_SIDE, CANVAS_SIDE), np.float32)
    return arr, entries, pictures


def read_number(picture, name, classify, expected=None, prepare=preprocess):
    """One decoded picture -> (inputs [k,28,28], fields): "boxes" ([x,y,w,h] per digit, in the original's
    pixels), "lines" (digits per line) and "part_readings" (per digit: None, or the pair- or triple-reading
    network's ten probabilities for a digit cut from touching digits; see digit_probabilities).

    A picture in which one digit is found goes through `prepare` exactly as in one-digit reading, so
    it reads as before; ImageError (naming the picture) when there is no digit or too many candidates.
    """
    scale = original_scale(picture)
    upright = oriented(picture)
    grey = grey_image(upright)
    try:
        found = analyse(grey, segment.SEGMENT_SIDE)
    except ValueError:           # blank: one-digit reading gives today's message
        found = None
    lines = segment.find_digits(found) if found is not None else []
    count = sum(len(line) for line in lines)
    if count > segment.MAX_DIGITS:
        raise ImageError(f"{name}: {count} digit candidates, more than {segment.MAX_DIGITS}: this does not look "
                         "like a handwritten number (text, a pattern, or a very noisy picture?); crop the picture "
                         "to the number")
    lines, readings = settle(grey, found, lines, classify, expected) if count else (lines, {})
    sy, sx = (grey.size[1] / found.small.shape[0], grey.size[0] / found.small.shape[1]) if found else (1, 1)
    boxes = [[round(g.left * sx * scale), round(g.top * sy * scale), round((g.right - g.left) * sx * scale),
              round((g.bottom - g.top) * sy * scale)] for line in lines for g in line]
    if len(boxes) <= 1:
        box = boxes or [[0, 0, round(upright.size[0] * scale), round(upright.size[1] * scale)]]
        return prepare(picture, name)[None], {"boxes": box, "lines": [1], "part_readings": [None]}
    inputs = np.stack([digit_input(grey, found, g, name, angle) for line in lines
                       for angle in [segment.line_angle(line)] for g in line])
    second = line_readings(lines)
    return inputs, {"boxes": boxes, "lines": [len(line) for line in lines],
                    "part_readings": [readings.get(id(g), (None, None))[1] for line in lines for g in line],
                    "line_readings": [second.get(id(g)) for line in lines for g in line]}


def digit_input(grey, found, group, name, angle=0.0):
    """The network's 28x28 input for a digit of a number, turned upright by its line's `angle` (degrees,
    segment.line_angle); ImageError naming the picture when its ink vanishes."""
    try:
        return finish(upright(crop_ink(grey, found, group.mask), angle))
    except ValueError as exc:
        raise ImageError(f"{name}: {exc}") from None


def upright(crop, angle):
    """A digit's ink crop turned by -angle degrees (its line rose by `angle` from left to right): the networks
    learned from upright digits. As it is when the line is level."""
    if angle == 0.0:
        return crop
    return np.asarray(Image.fromarray(crop).rotate(-angle, Image.Resampling.BILINEAR, expand=True), np.float32)


def settle(grey, found, lines, classify, expected=None):
    """Let the model decide what the shapes alone cannot: merge a digit broken into two pieces side by side,
    split touching digits; with `expected` digits, also split (or merge) until the count is right, and without,
    cut or join a line to the line-reading network's count where it is sure of it (Reader.recount, sure_of_count;
    a picture in which one group is found, only from RECOUNT_ONE, or COUNT_SURE_ONE of the count where the digit
    model reads the parts better than the whole: one digit is read as with --single unless that network is that
    sure of two or three overlapping digits; a picture of two or three pieces of one digit: one_in_pieces).
    -> (lines, {id(group): (group, the pair-reading network's probabilities)} for the parts of touching pairs)."""
    read = Reader(grey, found, classify)
    lines = read.merge_stacked(lines)
    lines = [read.split_wide(read.merge_broken(line)) for line in lines]
    for _ in range(segment.MAX_DIGITS):
        count = sum(len(line) for line in lines)
        if expected is None or count == expected:
            break
        k = max(range(len(lines)), key=lambda i: len(lines[i]))
        if count < expected:
            if not read.force_split(lines):
                break
        elif len(lines[k]) > 1:
            lines[k] = segment.merge_closest(lines[k])
        else:
            break
    if expected is None:
        alone = sum(len(line) for line in lines) == 1
        lines = one_in_pieces([read.recount(line, alone) for line in lines])
    return lines, read.part_readings


def one_in_pieces(lines):
    """The lines as they are, or, where all the picture's groups are two to ONE_PIECES and the line-reading network,
    shown all their ink as one line, counts one digit in it with a probability of at least ONE_SURE, one group of
    them all: a digit whose thin strokes broke into pieces, found as two or three lines ("2 6 4" for a 5) or
    neighbours, then reads as with --single."""
    groups = [g for line in lines for g in line]
    if not 2 <= len(groups) <= ONE_PIECES:
        return lines
    mask = np.logical_or.reduce([g.mask for g in groups])
    probs = linereader.bands(_network("lines"), linereader.line_input(mask)[None])[0]
    if linereader.count_probabilities(probs)[1] < ONE_SURE:
        return lines
    return [[segment.group_of(mask)]]


def line_readings(lines):
    """{id(group): the line-reading network's ten probabilities} for each digit of the lines whose digits it
    counts as the reader does (tfnotes.linereader); a line it still counts otherwise (Reader.recount found no
    cut or join, or the network was unsure) gets none."""
    out = {}
    for line in lines:
        said, each = linereader.decode(linereader.bands(_network("lines"), linereader.groups_input(line)[None])[0])
        if len(said) == len(line):
            out.update({id(g): p for g, p in zip(line, each)})
    return out


class Reader:
    """The models' view of candidate digits: is a group one digit or touching digits, and where to cut it.

    A group at least MAYBE_WIDE times as wide as the line's other digits (from NARROW_WIDE, with a far higher
    threshold; a group alone in its line: at least LONE_WIDE times its height) is asked of the touching-digits
    network (tfnotes/touching.py), which counts the digits in it. When that says touching (surely touching, for
    a group the digit model reads whole with near certainty), the pair-reading network says which two digits it
    holds (the triple-reading network which three, when the count of three or more reaches THREE), and the group
    is cut where the digit model's reading of the parts is surest and agrees best with that (a group alone in
    its line: only if that network is fairly sure of the digits). The digit model alone is no judge (it reads
    "34" as a 3 with 99.9 %), and width alone cannot tell a wide 0 from "10". The numbers below were chosen on
    realistic numbers (benchmarks/realistic_numbers.py, seeds 101 and 202; TOUCHING, THREE, SURE_TWO, MERGE_ONE
    and the NARROW ones also on 2,400 of seed 303) with the LeNet-5 recipe's model (TOUCHING, MERGE_ONE and the
    NARROW ones also with the course's FC model and on 3,000 one-digit pictures, seed 1), and LONE_TOUCHING and
    LONE_PAIR so that one-digit pictures read as well as before. TOUCHING was chosen again for the counting
    network that learned from 60,000 pictures, which is surer of touching digits than the earlier one.
    """

    MAYBE_WIDE = 0.8      # widths as multiples of the line's typical digit width (segment.typical_width)
    TOUCHING = 0.8        # the network's probability of two or more digits from which a group is cut
    NARROW_WIDE = 0.5     # a narrower group (a 1 touching its neighbour) is asked from this width, and cut
    NARROW_TOUCHING = 0.999   # only from this probability
    LONE_WIDE = 0.8       # a group alone in its line: asked from this many heights wide, and cut from
    LONE_TOUCHING = 0.9   # this probability (a wide 0 or 2 alone is one digit more often than two digits)
    SURE_ONE = 0.999      # a group the digit model reads whole this surely is cut only from
    SURE_TOUCHING = 0.95  # this probability (see unless_one)
    THREE = 0.7           # the network's probability of three or more digits from which a group is cut in three
    SURE_TWO = 0.99       # the parts of a group counted two digits this surely are not asked again
    LONE_PAIR = 0.5       # a group alone in its line is cut only when the reading network is this sure (see cuts)
    MERGE_ONE = 0.999     # two close neighbours are joined when the network counts them, joined, one digit this surely

    def __init__(self, grey, found, classify):
        self.grey, self.found, self.classify = grey, found, classify
        self.part_readings = {}   # id(part) -> (part, probabilities): the group is kept so its id stays its own

    def scores(self, groups):
        """log of the top probability of each group read as one digit."""
        inputs = [finish(crop_ink(self.grey, self.found, g.mask)) for g in groups]
        probs = self.classify(np.stack(inputs))
        return np.log(np.maximum(probs.max(axis=1), 1e-9))

    def split_wide(self, line):
        """Each group that holds touching digits cut in two (or three) where it reads best, and the parts asked
        again (a longer chain is cut again) unless the group was surely two digits. The candidates of a round
        share each call of a model."""
        height = segment.line_height(line)
        slant = segment.line_slant(line)
        out = list(line)
        asked = [(g, least) for g in line if (least := self.wide(line, g, height))]
        while asked:
            n = touching_counts(line, [g for g, _ in asked], height)
            chosen = self.unless_one([(g, 1 - pg[0]) for (g, least), pg in zip(asked, n) if 1 - pg[0] >= least])
            three = {id(g) for (g, _), pg in zip(asked, n) if pg[2] >= self.THREE}
            two = {id(g) for (g, _), pg in zip(asked, n) if pg[1] >= self.SURE_TWO}
            asked = []
            for group, parts in self.cuts(line, chosen, height, slant, three=three):
                if parts:
                    k = next(i for i, g in enumerate(out) if g is group)
                    out[k:k + 1] = parts
                    if not (len(parts) == 2 and id(group) in two):   # its count is done
                        asked += [(g, least) for g in parts if (least := self.wide(line, g, height))]
        return out

    def unless_one(self, candidates):
        """The groups of [(group, touching probability)] to cut: one that the digit model reads whole with at
        least SURE_ONE only from SURE_TOUCHING (an open-topped 4 falls into two strokes that look like "41")."""
        doubtful = [g for g, p in candidates if p < self.SURE_TOUCHING]   # only these need the digit model
        one = {id(g) for g, s in zip(doubtful, self.scores(doubtful) if doubtful else []) if np.exp(s) >= self.SURE_ONE}
        return [g for g, _ in candidates if id(g) not in one]

    def wide(self, line, group, height):
        """None when the group is too narrow to hold touching digits or is one closed loop, else the network's
        probability from which it is cut (higher for a group alone in its line, or one narrower than the line's
        digits)."""
        if segment.single_loop(group):     # a 0, however wide: one digit (a cut would pass through its hole)
            return None
        typical = segment.typical_width(line, group, height)
        width = group.right - group.left
        if typical is None:
            return self.LONE_TOUCHING if width >= self.LONE_WIDE * height else None
        if width >= self.MAYBE_WIDE * typical:
            return self.TOUCHING
        return self.NARROW_TOUCHING if width >= self.NARROW_WIDE * typical else None

    def cuts(self, line, groups, height, slant, forced=False, three=()):
        """[(group, parts or None)] for groups of touching digits: each cut in three (the groups whose ids are in
        `three`, when some cut leaves three parts) or else in two, where best_cuts says; None: no cut leaves
        two parts. Each part's reading by the pair- or triple-reading network is kept in part_readings. Unless
        forced, a group alone in its line stays whole when that network is unsure of its digits (the product of
        its top probabilities below LONE_PAIR): a picture of one digit stays one digit."""
        chosen = {}
        self.choose(chosen, line, [g for g in groups if id(g) in three], height, slant, 3, forced)
        self.choose(chosen, line, [g for g in groups if id(g) not in chosen], height, slant, 2, forced)
        return [(g, chosen.get(id(g))) for g in groups]

    def choose(self, chosen, line, groups, height, slant, size, forced):
        """Put into chosen {id(group): parts} each group's best cut into `size` parts that cuts() accepts."""
        for g, (parts, readings) in zip(groups, self.best_parts(line, groups, height, slant, size)):
            lone = not forced and segment.typical_width(line, g, height) is None
            if parts and not (lone and np.prod([r.max() for r in readings]) < self.LONE_PAIR):
                chosen[id(g)] = parts
                self.part_readings.update({id(h): (h, r) for h, r in zip(parts, readings)})

    def best_parts(self, line, groups, height, slant, size):
        """[(the best cut of each group into `size` parts or None, the reading network's [10] per part)]."""
        if not groups:
            return []
        cut, read = {2: (segment.cut_pairs, pair_probabilities), 3: (segment.cut_triples, triple_probabilities)}[size]
        readings = read(line, groups, height)
        picks = self.best_cuts(groups, [cut(g, slant) for g in groups], readings)
        return [(parts, [r[n] for r in readings]) for n, parts in enumerate(picks)]

    def best_cuts(self, groups, candidates, readings):
        """For each group: the best of its candidate cuts (tuples of parts, left to right) as a list, or None
        when it has none.

        A cut's score is the mean over its parts of the log top probability the digit model gives the part plus
        the log probability that the reading network (readings: one [N, 10] per part position) gives the digit
        the part is read as: cut parts keep pieces of their neighbours, so the digit model alone is easily sure
        of a wrong digit, while the network that saw the whole group knows which digits it holds."""
        inputs = []
        for g, cs in zip(groups, candidates):
            window = ink_window(self.grey, self.found, g.mask)   # cut out once for the group and its parts
            inputs += [finish(window.ink * window_mask(window, h.mask)) for c in cs for h in c]
        probs = self.classify(np.stack(inputs)) if inputs else np.zeros((0, 10), np.float32)
        top, read = np.log(np.maximum(probs.max(axis=1), 1e-9)), probs.argmax(axis=1)
        size, out, k = len(readings), [], 0
        for n, cs in enumerate(candidates):
            rows = slice(k, k + size * len(cs))
            k += size * len(cs)
            if not cs:
                out.append(None)
                continue
            digit = read[rows].reshape(-1, size)
            agree = np.stack([readings[j][n][digit[:, j]] for j in range(size)], axis=1)
            score = (top[rows].reshape(-1, size) + np.log(np.maximum(agree, 1e-9))).mean(axis=1)
            out.append(list(cs[int(np.argmax(score))]))
        return out

    def merge_broken(self, line):
        """Join neighbours that are close and narrow together when the model reads them better as one, or the
        touching-digits network counts them, joined, as one digit with at least MERGE_ONE (the digit model may read
        the halves of a 0 broken at the top, or the strokes of an open 4, each surely as a digit)."""
        height = segment.line_height(line)
        pairs = [k for k in range(len(line) - 1) if segment.could_be_one(line[k], line[k + 1], height)]
        if not pairs:
            return line
        merged = [segment.group_of(line[k].mask | line[k + 1].mask) for k in pairs]
        score = self.scores(merged + [g for k in pairs for g in (line[k], line[k + 1])])
        join = score[:len(pairs)] > score[len(pairs):].reshape(-1, 2).mean(axis=1)
        doubtful = [n for n in range(len(pairs)) if not join[n]]
        if doubtful:   # each joined group asked in its line as it would be
            inputs = [touching.group_input(merged[n], joined, segment.line_height(joined)) for n in doubtful
                      for joined in [line[:pairs[n]] + [merged[n]] + line[pairs[n] + 2:]]]
            one = touching.counts(_network("touching"), *_stacked(inputs))[:, 0]
            join[doubtful] = one >= self.MERGE_ONE
        out, skip = list(line), set()
        for n, k in reversed(list(enumerate(pairs))):   # right to left, so indices stay valid
            if join[n] and k + 1 not in skip:
                out[k:k + 2] = [merged[n]]
                skip.add(k)
        return out

    def merge_stacked(self, lines):
        """Join a group with the one right below it in the next line (sharing columns, little between
        them) when the model reads them better as one digit: a digit broken across, not two lines."""
        for k in range(len(lines) - 1):
            for g in lines[k]:
                for h in lines[k + 1]:
                    if not segment.stacked_pair(g, h):
                        continue
                    merged = segment.group_of(g.mask | h.mask)
                    score = self.scores([merged, g, h])
                    if score[0] > score[1:].mean():
                        rest = [x for line in lines for x in line if x is not g and x is not h]
                        return self.merge_stacked(segment.into_lines(rest + [merged]))
        return lines

    def recount(self, line, alone=False):
        """The line cut or joined until it holds as many digits as the line-reading network reads in it, when
        that network is sure of it (sure_of_count; `alone`: the picture's only group, see settle): a group in which
        it reads two or three digits is cut (as touching digits are), and neighbours nearest the same digit of its
        reading are joined. As it was when that network reads no digit, or when no group can be cut or joined so,
        or when the picture's only group, cut on the count alone, reads worse to the digit model than whole."""
        probs = linereader.bands(_network("lines"), linereader.groups_input(line)[None])[0]
        said, where = linereader.best_path(probs)
        if not said or len(said) == len(line) or not sure_of_count(probs, len(said), alone):
            return line
        before = line
        for _ in range(segment.MAX_DIGITS):
            changed = self.cut_to(line, where) if len(line) < len(said) else join_to(line, where)
            if changed is None:
                break
            line = changed
            if len(line) == len(said):
                break
        if alone and len(line) > 1 and np.prod(probs.max(axis=1)) < RECOUNT_ONE:
            # cut on the count alone: kept only where the digit model reads the parts better than the whole group
            # (a bold 0 cropped at the picture's edges can look like two digits to that network, not to this one)
            scores = self.scores(before + line)
            return line if scores[1:].mean() > scores[0] else before
        return line

    def cut_to(self, line, where):
        """The line with the group that holds most of the bands `where` (two or more) cut in two, or in three when
        it holds three or more (a digit too many is joined again after); None when none can be cut."""
        held = [sum(first <= t <= last for t in where) for first, last in linereader.group_bands(line)]
        k = int(np.argmax(held))
        if held[k] < 2:
            return None
        three = {id(line[k])} if held[k] > 2 else ()
        [(_, parts)] = self.cuts(line, [line[k]], segment.line_height(line), segment.line_slant(line), forced=True,
                                 three=three)
        return line[:k] + parts + line[k + 1:] if parts else None

    def force_split(self, lines):
        """Cut the widest group of all lines (relative to its line's height) in two; False if none can be."""
        ranked = sorted(((g.right - g.left) / segment.line_height(line), i, j)
                        for i, line in enumerate(lines) for j, g in enumerate(line))
        for _, i, j in reversed(ranked):
            line = lines[i]
            [(_, parts)] = self.cuts(line, [line[j]], segment.line_height(line), segment.line_slant(line),
                                     forced=True)
            if parts:
                line[j:j + 1] = parts
                return True
        return False


def sure_of_count(probs, count, alone=False):
    """Whether the line-reading network's bands [T, 11] are sure enough that the line holds `count` digits (those
    of their best path) to recount it: sure of the whole reading (the product of the bands' top probabilities at
    least RECOUNT; the picture's only group: RECOUNT_ONE), or of the count alone (its probability over all paths
    through the bands at least COUNT_SURE; the picture's only group: COUNT_SURE_ONE): a count can be sure where a
    digit is not."""
    if np.prod(probs.max(axis=1)) >= (RECOUNT_ONE if alone else RECOUNT):
        return True
    return linereader.count_probabilities(probs)[count] >= (COUNT_SURE_ONE if alone else COUNT_SURE)


def join_to(line, where):
    """The line with the closest two neighbours whose middles are nearest the same band of `where` (the bands of
    the line-reading network's digits) made one group; None when no neighbours share a digit."""
    middles = [(first + last) / 2 for first, last in linereader.group_bands(line)]
    nearest = [int(np.argmin([abs(t - middle) for t in where])) for middle in middles]
    shared = [k for k in range(len(line) - 1) if nearest[k] == nearest[k + 1]]
    return segment.merge_closest(line, shared) if shared else None


_NETWORKS = {}   # loaded on first use, then kept: every picture asks the same networks
# The web page's threads read pictures at once: one loads a network while the others wait for it.
_NETWORKS_LOCK = threading.Lock()


def _network(kind):
    with _NETWORKS_LOCK:
        if kind not in _NETWORKS:
            _NETWORKS[kind] = linereader.load() if kind == "lines" else touching.load(kind=kind)
        return _NETWORKS[kind]


def _stacked(inputs):
    """[(image, features)] from touching.group_input -> (images [N, ...], features [N, 4]) for the networks."""
    return np.stack([i[0] for i in inputs]), np.stack([i[1] for i in inputs])


def _group_inputs(line, groups, height):
    return _stacked([touching.group_input(g, line, height) for g in groups])


def touching_counts(line, groups, height):
    """The touching-digits network's [N, 3] probabilities of one, two, three or more digits per group."""
    return touching.counts(_network("touching"), *_group_inputs(line, groups, height))


def triple_probabilities(line, groups, height):
    """The triple-reading network's (first, middle, last), each [N, 10], for groups taken as three digits."""
    return touching.read_triples(_network("triples"), *_group_inputs(line, groups, height))


def pair_probabilities(line, groups, height):
    """The pair-reading network's (left [N, 10], right [N, 10]) for groups of a line taken as two digits."""
    return touching.read_pairs(_network("pairs"), *_group_inputs(line, groups, height))


# How sure the line-reading network must be of a line's digits (the product of its bands' top probabilities)
# before a line is cut or joined to its count (Reader.recount). Of 2,000 development numbers (seed 101, LeNet-5)
# 0.2 / 0.4 / 0.6 read 15 / 19 / 13 more right than no recount (the narrower line reader before: 10 / 15 / 10).
# A picture in which one group is found is recounted from RECOUNT_ONE only (a wide 0 alone is one digit, and
# one-digit pictures read as with --single): 0.5 / 0.7 / 0.8 / never read 345 / 345 / 344 / 341 of the 400
# overlapping and tight numbers of seed 101; 2,700 one-digit pictures of seed 1 read the same at 0.7 as never.
# A line of several groups is also recounted where the network is COUNT_SURE of its count alone (sure_of_count): of
# the 2,000, 0.5 / 0.6 / 0.7 / 0.8 / 0.9 in place of RECOUNT's rule read 11 / 13 / 16 / 20 / 14 more, beside it 0.7 /
# 0.8 read 15 / 19 more; 0.8 beside it read 5 more of 1,000 numbers of seed 303 and 2 more of 3,000 one-digit
# pictures of seed 1 (paper, light, stroke). Recounting also where its count is 10 / 30 times likelier than the
# line's count read 0 / 1 more of the 2,000.
# A picture's only group is recounted on its count alone from COUNT_SURE_ONE, and the cut kept where the digit model
# reads the parts better than the whole (Reader.recount): with the GRU line reader, 3 more of the 2,000 ("97" read
# "0", "61" read "6", "42" read "2") and 1 more of the 1,000 of seed 303; 0.9 read 2 fewer of the 3,000 one-digit
# pictures; without the parts' check, 0.95 read a bold 0 cropped at its edges as "60" (1 fewer of 1,000 tight
# one-digit pictures of seed 1). The 6,000 one-digit pictures of seed 1 read the same, picture for picture.
RECOUNT = 0.4
RECOUNT_ONE = 0.7
COUNT_SURE = 0.8
COUNT_SURE_ONE = 0.95
# A picture of two or three groups in all is read as one digit where the line reader, shown them as one line, counts
# one digit ONE_SURE (one_in_pieces): of 10,000 one-digit development pictures (seed 1: 2,000 clean, 1,000 each of
# printed paper, strong light, thin or bold strokes and tight crops; seeds 202 and 404: 2,000 clean each), 13 more
# right and none fewer, and the 3,000 development numbers of seeds 101 and 303 the same, picture for picture.
ONE_PIECES = 3
ONE_SURE = 0.95
LINE_WEIGHT = 1.0   # the line-reading network's say on each digit of a line whose count it agrees with
PART_WEIGHT = 0.5   # the digit model's say on a part cut from touching digits (a power: 1 = as much as the reader)


def digit_probabilities(entry, probs):
    """[len(rows), 10]: each digit's probabilities. A digit cut from touching digits has two opinions, the
    digit model's on its part and the pair- or triple-reading network's on the whole group: their product,
    normalised (a digit both find likely wins), with the digit model's raised to PART_WEIGHT. Its part holds
    pieces of the neighbour, so it is often sure of a wrong digit: on the tuning sets' cut parts (2,272, LeNet-5)
    the product was wrong for 115, the reader alone for 110, with the weight 0.5 for 99. Then a digit of a line
    the line-reading network counts alike has its opinion too: the product with it raised to LINE_WEIGHT (of 2,000
    development numbers, LeNet-5, before lines were recounted, the weights 0.5 / 0.75 / 1 / 1.5 read 1,747 /
    1,758 / 1,758 / 1,759 right; none: 1,669; the narrower line reader before it was best at 1 too, one before
    that, which learned each line as drawn, at 0.5)."""
    rows = entry.get("rows", [entry.get("row")])
    out = np.array([probs[r] for r in rows], np.float64)
    for key, own, theirs in (("part_readings", PART_WEIGHT, 1.0), ("line_readings", 1.0, LINE_WEIGHT)):
        for k, reading in enumerate(entry.get(key) or []):
            if reading is not None:
                joint = out[k] ** own * reading ** theirs
                out[k] = joint / joint.sum() if joint.sum() > 0 else out[k]
    return out


def prepare_numbers(items, classify, expected=None, keep_pictures=False, prepare=preprocess):
    """Every digit of every picture (the app's default): (batch [N,28,28], entries, pictures); see gather().

    entries have "rows" (one per digit, left to right) and read_number's fields: "boxes" ([x, y, w, h] in the
    original's pixels), "lines" (how many digits each line of text holds) and "part_readings".
    """
    return gather(items, lambda picture, path: read_number(picture, path, classify, expected, prepare),
                  keep_pictures)


def top(p, k):
    order = np.argsort(-p, kind="stable")[:max(1, k)]
    return [[int(d), round(float(p[d]), 4)] for d in order]


def results(entries, probs, top_k=1, batch=None):
    """Per input, in order, a dict with "path" and either "error" or the reading; with `batch` (the model's input,
    [N, 28, 28] in [0, 1]), also "inputs": each digit's 28x28 input as rows of 0..255, what the model sees.

    One digit (prepare_all, --single): {"digit", "confidence", "top": [[digit, p], ...]}. A number
    (prepare_numbers): {"number": "2026", "digits": [{"digit", "probability", "top_k", "box"}]}, plus
    "digit", "confidence" and "top" when the picture holds one digit. Lines of a number are separated
    by a space.
    """
    out = []
    for entry in entries:
        if "error" in entry:
            out.append({"path": entry["path"], "error": entry["error"]})
            continue
        each = digit_probabilities(entry, probs)
        result = {"path": entry["path"]}
        if len(each) == 1:
            best = top(each[0], top_k)
            result.update(digit=best[0][0], confidence=best[0][1], top=best)
        if "rows" in entry:
            digits = [{"digit": t[0][0], "probability": t[0][1], "top_k": t, "box": box}
                      for t, box in ((top(p, top_k), box) for p, box in zip(each, entry["boxes"]))]
            words, k = [], 0
            for n in entry["lines"]:
                words.append("".join(str(d["digit"]) for d in digits[k:k + n]))
                k += n
            result.update(number=" ".join(words), digits=digits)
        if batch is not None:
            rows = entry["rows"] if "rows" in entry else [entry["row"]]
            result["inputs"] = np.round(np.asarray(batch)[rows] * 255).astype(np.uint8).tolist()
        out.append(result)
    return out


def format_line(result):
    """One readable line: 'path: 7 (98.2%)' for one digit (plus the runners-up with --top-k), or
    'path: 2026   (2 99.1%, 0 98.7%, 2 97.5%, 6 99.9%)' for a number."""
    if "digit" in result:
        line = f"{result['path']}: {result['digit']} ({result['confidence']:.1%})"
        rest = result["top"][1:]
        if rest:
            line += "   next: " + ", ".join(f"{d} ({p:.1%})" for d, p in rest)
        return line
    each = ", ".join(f"{d['digit']} {d['probability']:.1%}" for d in result["digits"])
    return f"{result['path']}: {result['number']}   ({each})"


def save_debug(out_dir, index, entry, picture, batch, probs):
    """PNG per picture (written atomically): the picture with numbered boxes, each box's 28x28 input and
    its reading; a one-digit picture also gets the bar chart of its ten probabilities."""
    from matplotlib.figure import Figure  # here: matplotlib takes half a second to load, and only this draws

    os.makedirs(out_dir, exist_ok=True)
    rows = entry.get("rows", [entry.get("row")])
    boxes = entry.get("boxes", [])
    each = digit_probabilities(entry, probs)
    many = len(rows) > 1
    cols = min(len(rows), 8) if many else 2
    fig = Figure(figsize=(9 if not many else 4 + 1.1 * cols, 3 if not many else 3 + 1.2 * ((len(rows) - 1) // 8)),
                 dpi=100)
    grid = fig.add_gridspec(max(1, -(-len(rows) // 8)) if many else 1, cols + 1,
                            width_ratios=[4 if many else 1] + [1] * cols)
    draw_picture(fig.add_subplot(grid[:, 0]), picture, boxes, os.path.basename(entry["path"])[:30])
    for k, row in enumerate(rows):
        ax = fig.add_subplot(grid[k // 8, 1 + k % 8] if many else grid[0, 1])
        best = int(np.argmax(each[k]))
        ax.imshow(batch[row], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{k + 1}: {best} {each[k][best]:.0%}" if many else "28x28 input", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if not many:
        draw_bars(fig.add_subplot(grid[0, 2]), each[0])
    fig.tight_layout()
    stem = os.path.splitext(os.path.basename(entry["path"]))[0]
    target = os.path.join(out_dir, f"{index:04d}_{stem}.png")
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target


def draw_picture(ax, picture, boxes, title):
    """The upright picture in grey with each digit's box (given in the original's pixels) numbered."""
    from matplotlib.patches import Rectangle

    scale = original_scale(picture)
    ax.imshow(to_grey(oriented(picture)), cmap="gray", vmin=0, vmax=1)
    for k, (x, y, w, h) in enumerate(boxes):
        x, y, w, h = (v / scale for v in (x, y, w, h))
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="tab:orange", linewidth=1.2))
        if len(boxes) > 1:
            ax.text(x, y - 2, str(k + 1), color="tab:orange", fontsize=8, ha="left", va="bottom")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_bars(ax, probs):
    best = int(np.argmax(probs))
    ax.bar(range(10), probs, color=["tab:orange" if d == best else "tab:blue" for d in range(10)])
    ax.set_xticks(range(10))
    ax.set_ylim(0, 1)
    ax.set_title(f"prediction {best} ({probs[best]:.1%})", fontsize=9)
