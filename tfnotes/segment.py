"""Finding the digits of a whole number in a picture: ink -> pieces -> digits -> lines, in reading order.

The ink comes from tfnotes.pictures (the same background and polarity logic as for one digit). Then:
  1. ruled and grid lines, underlines and frames are taken out (ink runs far longer than a digit is tall,
     and the frame test of one-digit pictures), and specks are dropped;
  2. pieces of one digit are merged: pieces that share columns (a 5's detached bar, a 4 or 7 drawn in
     two strokes) and small fragments right beside a digit (a broken stroke);
  3. digits are put into lines (overlapping rows, so a drifting baseline stays one line), each line
     read left to right, the lines top to bottom (a line of far smaller digits than the others is a mark).
Touching digits stay one wide group here: cut_pairs() proposes cuts (from the minima of the ink profile
along the writing's slant, then along the path through the least ink), and the caller keeps the reading
the model is most confident of (tfnotes.digits).
"""
import collections

import numpy as np

from tfnotes.pictures import strokes
from tfnotes.printed import LineRule, remove_lines
from tfnotes.regions import bbox, components, frame_like, paint, stroke_width

SEGMENT_SIDE = 640        # longer side of the copy the digits are found on
MAX_DIGITS = 64           # more candidates than this: not a picture of a number
LINE_RUN = 1.8            # ink along a straight band longer than this many digit heights is a ruled line ...
LINE_GAP = 0.12           # ... when no gap along it is wider than this many digit heights,
LINE_THICK = 0.08         # and it is no thicker than this many digit heights (each side of its middle)
MERGE_OVERLAP = 0.4       # pieces sharing this share of the narrower one's columns belong to one digit ...
STACK_GAP = 0.25          # ... when the rows between them are fewer than this share of the taller one,
STACK_ROWS = 0.5          # and they share fewer rows than this share of the lower one
MAX_WIDTH = 1.3           # pieces are never merged into a group wider than this many heights
NEAR = 0.2                # a small piece this close (in digit heights) to a digit is part of it
SMALL_PIECE = 0.45        # pieces lower than this share of the digit height are "small"
MIN_DIGIT = 0.35          # a group lower than this share of its line's digit height is not a digit
SMALL_LINE = 0.5          # a line whose digits are under this share of the tallest line's in height is not text
TYPICAL_FLOOR = 0.65      # a digit is taken to be at least this many heights wide (the 1s aside)
THIN = 0.3                # strokes thinner than this share of the pen's are marks, not digits (a digit
                          # written thinner than its neighbours, at 0.35 of their width, is still a digit)
THIN_EDGE = 0.45          # ... but at the picture's edge (EDGE_NEAR) from this share: a sliver of a shadow's edge
FILLED = 3.0              # a group whose ink is this many times thicker than the other groups' strokes is no digit
EDGE_NEAR = 0.02          # ... when it comes this near the picture's edge (a share of its longer side)
STRAY_AREA = 0.5          # a group with less ink than this share of the largest ...
STRAY_GAP = 1.0           # ... and further than this many digit heights from any other is a stray mark
LEVEL_DIGITS = 3          # a line of at least this many digits ...
LEVEL_DEGREES = 3.0       # ... rising or falling by more than this is turned level for the digit model
CUTS_TRIED = 6            # ink-profile minima tried as cuts in a group
LOOP_SPAN = 0.5           # a group whose only hole spans this share of its width and height, ...
LOOP_RIM = 1.7            # ... with ink no thicker than this many stroke widths around it, is one loop: one digit

Group = collections.namedtuple("Group", "mask top bottom left right")
Group.__doc__ = """One digit candidate: its pixels (a mask on the analysed copy) and its box (bottom and right
exclusive)."""


def group_of(mask):
    top, bottom, left, right = bbox(mask)
    return Group(mask, int(top), int(bottom), int(left), int(right))


def digit_height(st, keep):
    """A robust height of the digits: the median height of the tall, not line-like pieces."""
    height = st["bottom"] - st["top"]
    width = st["right"] - st["left"]
    plain = keep & (width < 4 * np.maximum(height, 1))
    if not plain.any():
        plain = keep
    tall = plain & (height >= 0.5 * height[plain].max())
    return float(np.median(height[tall]))


def digit_lines(digit_h):
    """The rule for lines under or among digits `digit_h` px tall (LINE_RUN, LINE_GAP, LINE_THICK)."""
    return LineRule(LINE_RUN * digit_h, max(2.0, LINE_GAP * digit_h), 1 + LINE_THICK * digit_h, False, 4)


def pieces(mask):
    """Components of the mask with specks and frames dropped: (runs, stats, keep, digit height)."""
    runs, st = components(mask)
    if st is None:
        return runs, st, np.zeros(0, bool), 0.0
    area = st["area"].astype(float)
    keep = area >= max(3.0, 0.02 * area.max())
    frame = frame_like(st, mask.shape[0], mask.shape[1], keep)
    if (keep & ~frame).any():
        keep &= ~frame
    return runs, st, keep, digit_height(st, keep) if keep.any() else 0.0


def clean_mask(found):
    """The stroke mask of an analysed picture, ruled lines and frames removed, and its digit height.

    The height is measured on the pieces merged into digits (a digit broken into fragments would
    otherwise look small, and its own bar like a ruled line).
    """
    mask = strokes(found)
    _, st, keep, piece_h = pieces(mask)
    if st is None or not keep.any():
        return mask & False, 0.0
    boxes, _ = merge_pieces(st, np.flatnonzero(keep), piece_h)
    heights = np.array([b[1] - b[0] for b in boxes], float)
    widths = np.array([b[3] - b[2] for b in boxes], float)
    plain = widths < 4 * heights
    heights = heights[plain] if plain.any() else heights
    digit_h = float(np.median(heights[heights >= 0.5 * heights.max()]))
    return remove_lines(mask, lambda extent: digit_lines(digit_h)), digit_h


def stacked(a, b, digit_h):
    """Whether two boxes (top, bottom, left, right) hold pieces of one digit one above the other, sharing
    columns, with little between them (a 5's bar, a 9's head, an 8 of thin strokes). Digits of two lines of
    text lie further apart; pieces side by side (sharing rows) may be two slanted digits: the model decides
    those (tfnotes.digits, merge_broken)."""
    overlap = min(a[3], b[3]) - max(a[2], b[2])
    narrow = max(1, min(a[3] - a[2], b[3] - b[2]))
    gap_y = max(b[0] - a[1], a[0] - b[1], 0)
    rows_shared = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return (overlap >= MERGE_OVERLAP * narrow and gap_y <= STACK_GAP * max(a[1] - a[0], b[1] - b[0])
            and rows_shared <= STACK_ROWS * min(a[1] - a[0], b[1] - b[0]) and not too_wide(a, b, digit_h))


def beside(a, b, digit_h):
    """Whether a small fragment lies right beside a digit, within its rows (a stroke broken by a dry pen)."""
    overlap = min(a[3], b[3]) - max(a[2], b[2])
    gap_y = max(b[0] - a[1], a[0] - b[1], 0)
    union = max(a[1], b[1]) - min(a[0], b[0])
    small = min(a[1] - a[0], b[1] - b[0]) < SMALL_PIECE * digit_h
    return (small and max(-overlap, gap_y, 0) <= NEAR * digit_h and union <= 1.35 * digit_h
            and not too_wide(a, b, digit_h))


def too_wide(a, b, digit_h):
    """Never chain pieces into a row of digits: no merged group wider than MAX_WIDTH of its heights."""
    union = max(a[1], b[1]) - min(a[0], b[0])
    return max(a[3], b[3]) - min(a[2], b[2]) > MAX_WIDTH * max(digit_h, union)


def merge_pieces(st, index, digit_h):
    """Pieces `index` merged into digits: (boxes [(top, bottom, left, right)], members [[k, ...]]).

    Pieces one above the other are merged first, then small fragments beside a digit; each is repeated
    on the joint boxes, so a digit broken into several fragments comes together step by step.
    members[n] lists the positions (in `index`) of the pieces of digit n.
    """
    boxes = [(st["top"][i], st["bottom"][i], st["left"][i], st["right"][i]) for i in index]
    members = [[k] for k in range(len(index))]
    for rule in (stacked, beside):
        changed = True
        while changed:
            changed = False
            for i in range(len(boxes)):
                for j in range(len(boxes) - 1, i, -1):
                    if rule(boxes[i], boxes[j], digit_h):
                        a, b = boxes[i], boxes.pop(j)
                        boxes[i] = (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))
                        members[i] += members.pop(j)
                        changed = True
    return boxes, members


def group_pieces(mask, digit_h):
    """Digit candidates (Groups) of a cleaned mask: pieces merged into digits."""
    runs, st, keep, _ = pieces(mask)
    if st is None or not keep.any():
        return []
    index = np.flatnonzero(keep)
    groups = []
    for members in merge_pieces(st, index, digit_h)[1]:
        chosen = np.zeros(len(keep), bool)
        chosen[index[members]] = True
        groups.append(group_of(paint(mask.shape, runs, chosen)))
    return groups


def drop_strays(groups, digit_h):
    """Leave out what is not a digit: groups far lower than the digits (dots, dashes, specks), and
    hairlines far thinner than the pen's strokes (paper marks; at the picture's edge, where slivers of a shadow's
    edge come in, less thin ones too); a hairline right beside a digit joins it."""
    groups = [g for g in groups if g.bottom - g.top >= MIN_DIGIT * digit_h]
    if len(groups) < 2:
        return groups
    # Small marks far from everything else (a blot, a corner of the table): digits of a number stand close.
    areas = np.array([g.mask.sum() for g in groups], float)
    nearest = [min(gap(g, h) for h in groups if h is not g) for g in groups]
    groups = drop_filled([g for g, a, d in zip(groups, areas, nearest)
                          if not (a < STRAY_AREA * areas.max() and d > STRAY_GAP * digit_h)])
    if len(groups) < 2:
        return groups
    widths = stroke_widths(groups)
    pen = np.median(widths)
    thin = [w < (THIN_EDGE if at_edge(g) else THIN) * pen for g, w in zip(groups, widths)]
    kept = [g for g, t in zip(groups, thin) if not t]
    for g in (g for g, t in zip(groups, thin) if t):
        near = [k for k, d in enumerate(kept) if gap(g, d) <= NEAR * digit_h]
        if near:
            k = min(near, key=lambda k: gap(g, kept[k]))
            kept[k] = group_of(kept[k].mask | g.mask)
    return kept


def drop_filled(groups):
    """Leave out filled regions far thicker than the writing's strokes (more than FILLED times the median stroke
    width of the other groups) that reach the picture's edge: ink is strokes, so such a region is what is left of
    a shadow or a dark object where it narrows (at a corner of the picture, say), not a digit. Shadows and objects
    come in from the edge; a bold digit among thin ones, inside the picture, stays."""
    if len(groups) < 2:
        return groups
    widths = stroke_widths(groups)
    others = [np.median(np.delete(widths, k)) for k in range(len(groups))]
    return [g for g, w, o in zip(groups, widths, others) if w <= FILLED * o or not at_edge(g)]


def stroke_widths(groups):
    """Each group's mean stroke width in px (regions.stroke_width over its box)."""
    return np.array([stroke_width(g.mask[g.top:g.bottom, g.left:g.right]) for g in groups])


def at_edge(group):
    """Does the group come within EDGE_NEAR times the picture's longer side of the picture's edge?"""
    height, width = group.mask.shape
    near = EDGE_NEAR * max(height, width)
    return min(group.top, group.left, height - group.bottom, width - group.right) <= near


def gap(a, b):
    """Distance between two groups' boxes (0 when they overlap)."""
    return max(a.left - b.right, b.left - a.right, a.top - b.bottom, b.top - a.bottom, 0)


def into_lines(groups):
    """Groups sorted into lines (top to bottom), each left to right; a line holds groups sharing rows."""
    lines = []
    for g in sorted(groups, key=lambda g: (g.top + g.bottom) / 2):
        for line in lines:
            top, bottom = line["top"], line["bottom"]
            if min(bottom, g.bottom) - max(top, g.top) >= 0.5 * min(g.bottom - g.top, bottom - top):
                line["groups"].append(g)
                line["top"], line["bottom"] = min(top, g.top), max(bottom, g.bottom)
                break
        else:
            lines.append({"top": g.top, "bottom": g.bottom, "groups": [g]})
    lines.sort(key=lambda line: line["top"])
    return [sorted(line["groups"], key=lambda g: (g.left + g.right) / 2) for line in lines]


def drop_marks(line):
    """Leave out groups far lower than the line's digits: dashes, dots, leftovers of a line."""
    heights = np.array([g.bottom - g.top for g in line])
    tall = np.median(heights[heights >= 0.5 * heights.max()])
    return [g for g, h in zip(line, heights) if h >= MIN_DIGIT * tall]


def find_digits(found):
    """Lines of digit candidates (lists of Groups) in an analysed picture (tfnotes.pictures.analyse)."""
    mask, digit_h = clean_mask(found)
    if not digit_h:
        return []
    lines = into_lines(drop_strays(group_pieces(mask, digit_h), digit_h))
    return drop_small_lines([kept for kept in (drop_marks(line) for line in lines) if kept])


def drop_small_lines(lines):
    """Leave out lines whose tallest group is lower than SMALL_LINE times the tallest of all: the lines of a
    number are written at one size, so such a line is a speck or a mark (a corner of shadow, a dot)."""
    if len(lines) < 2:
        return lines
    tall = [max(g.bottom - g.top for g in line) for line in lines]
    return [line for line, t in zip(lines, tall) if t >= SMALL_LINE * max(tall)]


def line_height(line):
    heights = np.array([g.bottom - g.top for g in line])
    return float(np.median(heights[heights >= 0.5 * heights.max()]))


def typical_width(line, group, height):
    """The width of one digit in this line, from its other digits (not the narrow 1s), at least
    TYPICAL_FLOOR digit heights; None when the line has no other digit to compare with."""
    others = [g.right - g.left for g in line if g is not group and g.right - g.left >= 0.35 * height]
    if not others:
        return None
    return max(float(np.median(others)), TYPICAL_FLOOR * height)


def line_angle(line):
    """How far the line rises from left to right, in degrees (image rows grow downwards: a positive angle rises):
    the least-squares slope of its digits' centres when it holds at least LEVEL_DIGITS of them and the angle is
    beyond LEVEL_DEGREES (a number written on a level line is left as it is), else 0."""
    if len(line) < LEVEL_DIGITS:
        return 0.0
    x = np.array([(g.left + g.right) / 2 for g in line], float)
    y = np.array([(g.top + g.bottom) / 2 for g in line], float)
    x -= x.mean()
    slope = -float(x @ (y - y.mean())) / max(float(x @ x), 1e-9)
    angle = float(np.degrees(np.arctan(slope)))
    return angle if LEVEL_DEGREES < abs(angle) <= 20.0 else 0.0


def line_slant(line):
    """How the line's writing leans: columns moved per row (positive: tops to the right), the median of
    its digits' leans (the slope of x on y over each digit's ink)."""
    leans = []
    for g in line:
        ys, xs = np.nonzero(g.mask[g.top:g.bottom, g.left:g.right])
        if len(ys) > 10 and ys.var() > 0:
            leans.append(-float(np.cov(xs, ys)[0, 1] / ys.var()))
    return float(np.clip(np.median(leans), -0.5, 0.5)) if leans else 0.0


def cut_pairs(group, slant, most=CUTS_TRIED):
    """Ways to cut a group in two: [(left Group, right Group)], each side at least a fifth of the width.

    The cuts start at the lowest points of the ink profile taken along the writing's slant; each then
    follows the path through the least ink from top to bottom (cut_path), so it can pass between two
    digits that overlap instead of through one of them.
    """
    ink, paths = _cut_paths(group, slant, most, edge=0.2)
    return [parts for path in paths if (parts := _parts(group, ink, [path], 0.08, 0.2))]


def cut_triples(group, slant, most=CUTS_TRIED):
    """Ways to cut a group of three touching digits in three: [(left, middle, right Group)] from every two
    cuts that do not cross, found as in cut_pairs but starting as near as a tenth of the width to either
    end (a 1 may be a tenth of three digits' width); each part holds 5 % of the ink and a tenth of the width."""
    ink, paths = _cut_paths(group, slant, most, edge=0.1)
    out = []
    for i, first in enumerate(paths):
        for second in paths[i + 1:]:
            if (second > first).all() and (parts := _parts(group, ink, [first, second], 0.05, 0.1)):
                out.append(parts)
    return out


def _cut_paths(group, slant, most, edge):
    """(the group's ink in its box, [each cut's column per row, left to right]): cuts from up to `most`
    minima of the ink profile along the slant, no nearer than `edge` of the span to either end."""
    top, bottom, left, right = group.top, group.bottom, group.left, group.right
    ink = group.mask[top:bottom, left:right]
    rows, width = ink.shape
    ys, xs = np.nonzero(ink)
    middle = (rows - 1) / 2
    u = np.round(xs - slant * (middle - ys)).astype(int)
    low = u.min()
    profile = np.bincount(u - low).astype(float)
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    span = len(profile)
    inner = np.arange(int(edge * span), int((1 - edge) * span) + 1)
    starts = []
    for c in inner[np.argsort(smooth[inner], kind="stable")]:
        if all(abs(c - o) > 0.1 * span for o in starts):
            starts.append(int(c))
        if len(starts) == most:
            break
    guides = [c + low + slant * (middle - np.arange(rows)) for c in sorted(starts)]  # slanted lines, per row
    return ink, [cut_path(ink, guide, max(2, int(0.15 * width))) for guide in guides]


def _parts(group, ink, paths, least_ink, least_width):
    """The group cut along the paths (columns per row, left to right) into Groups, or None when a part holds
    less than `least_ink` of the ink or is narrower than `least_width` of the group."""
    rows, width = ink.shape
    cols = np.arange(width)[None, :]
    bounds = [np.zeros(rows, int)] + list(paths) + [np.full(rows, width)]
    sides = [ink & (cols >= a[:, None]) & (cols < b[:, None]) for a, b in zip(bounds, bounds[1:])]
    total = ink.sum()
    if min(side.sum() for side in sides) < least_ink * total:
        return None
    parts = []
    for side in sides:
        mask = np.zeros_like(group.mask)
        mask[group.top:group.bottom, group.left:group.right] = side
        parts.append(group_of(mask))
    return tuple(parts) if min(g.right - g.left for g in parts) >= least_width * width else None


def cut_path(ink, guide, reach):
    """The column of a top-to-bottom cut in each row: the path crossing the least ink (a step moves at most
    one column per row), kept within `reach` columns of the guide line and drawn slightly towards it."""
    rows, width = ink.shape
    cols = np.arange(width)
    guide = np.clip(guide, 0, width - 1)           # the guide may leave the box where the writing leans
    away = np.abs(cols[None, :] - guide[:, None])
    cost = ink.astype(float) + 0.02 * away
    cost[away > reach] = np.inf
    step = np.zeros((rows, width), int)
    options = np.full((3, width), np.inf)          # reached from the left, from above, from the right
    total = cost[0].copy()
    for y in range(1, rows):
        options[0, 1:], options[1], options[2, :-1] = total[:-1], total, total[1:]
        pick = np.argmin(options, axis=0)
        step[y] = pick - 1
        total = options[pick, cols] + cost[y]
    path = np.empty(rows, int)
    path[-1] = int(np.argmin(total))
    for y in range(rows - 1, 0, -1):
        path[y - 1] = min(max(path[y] + step[y, path[y]], 0), width - 1)
    return path


def single_loop(group):
    """Whether the group is one closed loop: a single hole (paper enclosed by its ink) spanning at least
    LOOP_SPAN of its width and height, with no more ink around it on any side than LOOP_RIM stroke widths. A 0
    however wide is one digit; touching digits are not one loop (a 1 beside a 0 leaves twice the ink on one
    side, two 0s make two holes, or three where they cross)."""
    ink = group.mask[group.top:group.bottom, group.left:group.right]
    runs, st = components(np.pad(~ink, 1, constant_values=True))
    if st is None:
        return False
    inner = (st["top"] > 0) & (st["left"] > 0) & (st["bottom"] < ink.shape[0] + 2) & (st["right"] < ink.shape[1] + 2)
    holes = np.flatnonzero(inner & (st["area"] >= max(4, 0.01 * ink.size)))
    if len(holes) != 1:
        return False
    h = holes[0]
    rim = (st["left"][h] - 1, ink.shape[1] + 1 - st["right"][h], st["top"][h] - 1, ink.shape[0] + 1 - st["bottom"][h])
    return (st["right"][h] - st["left"][h] >= LOOP_SPAN * ink.shape[1]
            and st["bottom"][h] - st["top"][h] >= LOOP_SPAN * ink.shape[0]
            and max(rim) <= LOOP_RIM * stroke_width(ink))


def stacked_pair(upper, lower):
    """Two groups of neighbouring lines that may be one digit: sharing columns, little space between them."""
    overlap = min(upper.right, lower.right) - max(upper.left, lower.left)
    narrow = min(upper.right - upper.left, lower.right - lower.left)
    gap = lower.top - upper.bottom
    return overlap >= 0.3 * narrow and gap <= 0.5 * max(upper.bottom - upper.top, lower.bottom - lower.top)


def could_be_one(a, b, height):
    """Two neighbours that may be one digit broken in two: close together, and together no wider than a digit."""
    return b.left - a.right <= 0.15 * height and max(a.right, b.right) - min(a.left, b.left) <= 0.95 * height


def merge_closest(line, among=None):
    """The line with its two neighbours closest together (smallest gap) made one group; with `among`, only the
    neighbours k and k + 1 for k in it are considered."""
    pairs = range(len(line) - 1) if among is None else among
    k = min(pairs, key=lambda k: line[k + 1].left - line[k].right)
    return line[:k] + [group_of(line[k].mask | line[k + 1].mask)] + line[k + 2:]
