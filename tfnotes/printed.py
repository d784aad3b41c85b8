"""Printed lines and drawn boxes: the ruled, squared and form lines of the paper (remove_lines with paper_lines,
or any other LineRule), and the boxes drawn around the writing (without_boxes). Both the one-digit reading
(tfnotes.pictures) and the number reader (tfnotes.segment) take them out before they look for digits."""
import collections

import numpy as np

from tfnotes.regions import components, ink_runs, paint

LINE_COVER = 0.85         # ink lies on this share of its columns at least,
LINE_SLOPE = 0.1          # the steepest line looked for (rise over run; a ruled line under a number is tilted less)
LINES_PER_SLOPE = 32      # printed lines looked at per slope (a squared paper has a line every half digit)
PAPER_RUN = 0.5           # before the digits are known: ink along a band across half the picture is a printed line ...
PAPER_GAP = 0.02          # ... when no gap along it is wider than this share of the picture,
PAPER_THICK = 0.012       # and it is no thicker than this share of the picture (each side of its middle)
BOX_FILL = 0.15           # a drawn box: ink on less than this share of its own box, ...
BOX_INSIDE = 0.1          # ... around a piece with at least this share of its ink
WRITING_TALL = 0.5        # what is left of a box's piece without its lines is writing from this share of its height
WRITING_WIDE = 0.25       # ... when it is at least this many times as wide as it is high (not a stretch of a line)
OUTLINE_SIDE = 10         # a piece at least this many px each way ...
OUTLINE_COVER = 0.9       # ... whose ink covers this share of three sides of its box or four ...
OUTLINE_THICK = 0.05      # ... within this share of its size (each side) holds a box the writing touches
TICK_LEAST = 0.1          # a thin stroke rising this share of the box's height from its bottom side is a comb mark

LineRule = collections.namedtuple("LineRule", "run gap thick across most")
LineRule.__doc__ = """What counts as a printed line, in px: a band holding ink over more than `run` with no gap
wider than `gap`, no thicker than `thick` each side of its middle; its thickness measured across it, column by
column (across: True; digits standing on it thicken a few columns only), or from the projection along it (False;
bold digits whose bars line up give no thin band there); at most `most` candidates looked at per slope."""


def paper_lines(extent):
    """The rule for the lines of lined, squared or form paper, before the digits are known: thin bands across
    PAPER_RUN of the picture's `extent` (its width for horizontal lines, its height for vertical ones)."""
    return LineRule(PAPER_RUN * extent, max(2.0, PAPER_GAP * extent), 1 + PAPER_THICK * extent, True,
                    LINES_PER_SLOPE)


def remove_lines(mask, rule_of):
    """The mask without ruled lines, underlines and grid lines, straight or slightly tilted (line_bands).

    rule_of(extent) gives the LineRule for lines along an extent of the picture (its width for horizontal
    lines, its height for vertical ones). Where a stroke crosses a line (ink just beyond both sides of the
    band in the same column), the band's pixels stay: the line is taken out, not the digit's stroke.
    """
    out = mask.copy()
    for flip in (False, True):     # horizontal lines, then vertical ones on the transposed mask
        view = out.T if flip else out
        ys, xs = np.nonzero(view)
        for slope, offset, half, x0, x1 in line_bands(view, rule_of(view.shape[1])):
            band = (np.abs(ys - slope * xs - offset) <= half) & (xs >= x0) & (xs < x1)
            crossing = _crossed(view, ys[band], xs[band], slope * xs[band] + offset, half)
            view[ys[band][~crossing], xs[band][~crossing]] = False
    return out


def _crossed(view, ys, xs, middle, half):
    """For band pixels (ys, xs) of a line whose middle row is `middle` (per pixel): is there ink just above
    and just below the band in the same column (a stroke crossing the line)?"""
    height = view.shape[0]
    above = np.clip(np.floor(middle - half - 1).astype(int), 0, height - 1)
    below = np.clip(np.ceil(middle + half + 1).astype(int), 0, height - 1)
    return view[above, xs] & view[below, xs]


def line_bands(view, rule):
    """Straight lines among the ink pixels of a mask: [(slope, offset, half width, x from, x to)], rows as
    offset + slope * column.

    For each slope up to LINE_SLOPE the pixels are projected along it; a line is a narrow band holding
    ink over a stretch longer than rule.run with no gap wider than rule.gap (a row of digits standing on
    the same baseline has wider gaps, between the digits) and no thicker than rule.thick. The candidates of
    all slopes are tried strongest first, so each line is taken at its own slope, not at a near one that
    crosses it over part of its length only.
    """
    found = []
    # No band can hold more than the columns that hold ink at all: when those have no stretch long enough,
    # there is no line (most pictures of digits on plain paper), and the projections are not made.
    occupied = np.flatnonzero(view.any(axis=0))
    if len(occupied) <= LINE_COVER * rule.run or np.subtract(*longest_stretch(occupied, rule.gap)[::-1]) <= rule.run:
        return found
    ys, xs = np.nonzero(view)
    slopes = np.linspace(-LINE_SLOPE, LINE_SLOPE, 2 * int(LINE_SLOPE * 100) + 1)
    projections = [Projection(ys, xs, slope) for slope in slopes]
    candidates = []
    for k, projection in enumerate(projections):
        counts = projection.counts
        # Candidate bins: local maxima holding ink enough for a line (a band with a few such at most).
        padded = np.concatenate([[0], counts, [0]])
        peaks = np.flatnonzero((counts >= rule.run * 0.5) & (counts >= padded[:-2]) & (counts >= padded[2:]))
        near = padded[peaks] + counts[peaks] + padded[peaks + 2]          # the pixels within 1 of each peak
        peaks = peaks[near >= LINE_COVER * rule.run]                      # enough ink for a line that long?
        candidates += [(counts[p], k, p) for p in peaks[np.argsort(-counts[peaks])][:rule.most]]
    for _, k, peak in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        offset = projections[k].low + peak
        if not any(abs(slopes[k] - s) < 0.015 and abs(offset - o) <= h + 2 for s, o, h, _, _ in found):
            band = _band(view, rule, projections[k], peak)
            found += [band] if band else []
    return found


class Projection:
    """The ink pixels (ys, xs) projected along `slope` (offset = round(y - slope * x)): the lowest offset, the
    pixels per offset (counts), and the pixels' columns sorted by offset, so that a band's pixels are one slice."""

    def __init__(self, ys, xs, slope):
        self.offsets, self.xs = np.round(ys - slope * xs).astype(int), xs
        self.slope, self.low = slope, int(self.offsets.min())
        self.counts = np.bincount(self.offsets - self.low)
        self.sorted = None             # (offsets, columns) sorted by offset: made when first asked for

    def columns(self, offset, spread=1):
        """The columns of the pixels whose offset is within `spread` of `offset`."""
        if self.sorted is None:
            # A stable sort of 16-bit integers is a radix sort (offsets of a picture this size span far fewer).
            small = np.int16 if len(self.counts) < 2 ** 15 else np.int64
            order = np.argsort((self.offsets - self.low).astype(small), kind="stable")
            self.sorted = self.offsets[order], self.xs[order]
        lo = np.searchsorted(self.sorted[0], offset - spread, "left")
        hi = np.searchsorted(self.sorted[0], offset + spread, "right")
        return self.sorted[1][lo:hi]


def _band(view, rule, projection, peak):
    """(slope, offset, half width, x from, x to) of the band through the projection's peak (an index into its
    counts), or None when it is no line by `rule`."""
    offset = projection.low + peak
    occupied = np.zeros(view.shape[1], bool)
    occupied[projection.columns(offset)] = True
    columns = np.flatnonzero(occupied)       # the columns holding ink on the band, sorted, each once
    if len(columns) <= LINE_COVER * rule.run:  # too few for any stretch the two tests below would pass
        return None
    stretch = longest_stretch(columns, rule.gap)
    if stretch[1] - stretch[0] <= rule.run:
        return None
    # A line is thin and unbroken: most columns of its stretch hold ink on it. A band through
    # a row of thick, close digits is not (it crosses paper between strokes).
    cols = columns[(columns >= stretch[0]) & (columns < stretch[1])]
    if len(cols) < LINE_COVER * (stretch[1] - stretch[0]):
        return None
    slope = projection.slope
    if rule.across:
        half = width_across(view, slope, offset, cols, rule.thick)
    else:
        half = half_width(projection.counts, peak)
    return (slope, float(offset), half, *stretch) if half <= rule.thick else None


def half_width(counts, peak):
    """Half the thickness of a line from its projection: the bins around the peak holding a third of it."""
    low = high = peak
    while low > 0 and counts[low - 1] >= counts[peak] / 3:
        low -= 1
    while high < len(counts) - 1 and counts[high + 1] >= counts[peak] / 3:
        high += 1
    return (high - low) / 2 + 1.0


def width_across(view, slope, offset, cols, most):
    """Half the thickness of the line at rows offset + slope * column: the median, over the columns `cols` of
    its stretch, of the ink run across it (digits standing on the line thicken a few columns only); above
    `most` is enough to know it is too thick."""
    rows = np.round(offset + slope * cols).astype(int)
    height = view.shape[0]
    up, down = np.zeros(len(cols), int), np.zeros(len(cols), int)
    for d in range(1, 2 * int(most) + 3):          # the run may start at either edge of the line
        up += (up == d - 1) & view[np.clip(rows - d, 0, height - 1), cols] & (rows - d >= 0)
        down += (down == d - 1) & view[np.clip(rows + d, 0, height - 1), cols] & (rows + d < height)
    return float(np.median(up + down)) / 2 + 1.0


def longest_stretch(cols, gap):
    """(from, to) of the longest run of the columns `cols` (sorted, distinct, at least one) with no gap wider than
    `gap` px."""
    breaks = np.flatnonzero(np.diff(cols) > gap)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(cols) - 1]])
    k = int(np.argmax(cols[ends] - cols[starts]))
    return int(cols[starts[k]]), int(cols[ends[k]]) + 1


def without_boxes(mask):
    """The mask without the boxes drawn around the writing (boxes_drawn), their comb marks included."""
    runs, st = components(mask)
    if st is None:
        return mask
    keep = st["area"] >= max(3.0, 0.02 * st["area"].max())
    drawn = boxes_drawn(st, keep, runs, mask.shape)
    if not drawn.any():
        return mask
    out = paint(mask.shape, runs, ~drawn)
    tall = (st["bottom"] - st["top"])[keep & ~drawn].max(initial=0)
    for i in np.flatnonzero(drawn):
        box = slice(st["top"][i], st["bottom"][i]), slice(st["left"][i], st["right"][i])
        out[box] |= writing_on(paint(mask.shape, runs, np.arange(len(keep)) == i)[box], tall, max(mask.shape))
    return out


def writing_on(view, tall, side):
    """What a drawn box's piece (`view`, cropped to it) holds beside its straight lines: the pieces at least
    WRITING_TALL times `tall` (the tallest piece of writing) high and WRITING_WIDE times as wide as high, such as
    digits written across a ruled line that is one piece with the box; the comb marks and the corners are lower,
    and a stretch of a grid's line that is left is narrower: they go with the box (a 1 touching it too). A line is
    one by paper_lines along the piece's own extent, but as thick as a line may be in the whole picture (`side` px
    on its longer side): the piece's own extent would allow hairlines only."""
    thick = paper_lines(side).thick
    rest = remove_lines(view, lambda extent: paper_lines(extent)._replace(thick=thick))
    runs, st = components(rest)
    if st is None:
        return rest
    height, width = st["bottom"] - st["top"], st["right"] - st["left"]
    return paint(rest.shape, runs, (height >= WRITING_TALL * tall) & (width >= WRITING_WIDE * height))


def boxes_drawn(st, keep, runs, shape):
    """Pieces that are boxes drawn around the writing (a form's amount box, a cheque's, comb boxes): thin
    outlines (ink on less than BOX_FILL of their box) around another piece with at least BOX_INSIDE of their ink,
    on all four sides of it (encloses). A digit enclosing a speck (a 0) is not one: it has more ink, and the speck
    far less; nor is a thin slanting stroke whose box holds another stroke (a 7's stem and its detached bar)."""
    height, width = st["bottom"] - st["top"], st["right"] - st["left"]
    fill = st["area"] / np.maximum(1, height * width)
    out = np.zeros(len(keep), bool)
    for i in np.flatnonzero(keep & (fill < BOX_FILL)):
        inside = (keep & (st["top"] > st["top"][i]) & (st["bottom"] < st["bottom"][i]) & (st["left"] > st["left"][i])
                  & (st["right"] < st["right"][i]) & (st["area"] >= BOX_INSIDE * st["area"][i]))
        if inside.any():
            own = paint(shape, runs, np.arange(len(keep)) == i)
            out[i] = any(encloses(own, st, j) for j in np.flatnonzero(inside))
    return out


def encloses(own, st, j):
    """Does the ink `own` (a mask) lie left of, right of, above and below piece j, beside its rows and columns?"""
    top, bottom, left, right = st["top"][j], st["bottom"][j], st["left"][j], st["right"][j]
    rows, cols = own[top:bottom], own[:, left:right]
    return bool(rows[:, :left].any() and rows[:, right:].any() and cols[:top].any() and cols[bottom:].any())


def without_outlines(mask):
    """The mask without the sides of boxes that the writing touches (a digit written up to a form's box is one
    piece with it, which without_boxes leaves): a side is a thin band along a piece's own box holding ink over
    OUTLINE_COVER of its length; a piece with three or four such sides is a box, and its sides and the comb
    marks rising from its bottom side are taken out."""
    runs, st = components(mask)
    if st is None:
        return mask
    out = mask.copy()
    height, width = st["bottom"] - st["top"], st["right"] - st["left"]
    for i in np.flatnonzero((height >= OUTLINE_SIDE) & (width >= OUTLINE_SIDE)):
        view = out[st["top"][i]:st["bottom"][i], st["left"][i]:st["right"][i]]
        sides = _box_sides(view, max(2, int(round(OUTLINE_THICK * min(view.shape)))))
        if sum(rows is not None for rows in sides) >= 3:
            _clear_ticks(view, sides[1])
            for k, rows in enumerate(sides):
                if rows is not None:
                    (view if k < 2 else view.T)[rows] = False
    return out


def _box_sides(view, thick):
    """For the top, bottom, left and right sides of a piece's box: the rows (columns for left and right) of a
    line along it, or None where ink does not cover OUTLINE_COVER of that side within `thick` px."""
    sides = []
    for flip, end in ((False, 0), (False, 1), (True, 0), (True, 1)):
        v = view.T if flip else view
        band = slice(0, thick) if end == 0 else slice(v.shape[0] - thick, v.shape[0])
        within = slice(thick, 2 * thick) if end == 0 else slice(v.shape[0] - 2 * thick, v.shape[0] - thick)
        # A side is a thin line: paper lies just inside it (a bold digit filling its own box has ink there).
        if v[band].any(axis=0).mean() < OUTLINE_COVER or v[within].mean() >= 0.5:
            sides.append(None)
            continue
        rows = np.arange(v.shape[0])[band][v[band].mean(axis=1) >= 0.5 * OUTLINE_COVER]
        sides.append(rows if len(rows) else None)
    return sides


def _clear_ticks(view, bottom_rows):
    """Take out the comb marks: thin strokes rising from the bottom side (rows `bottom_rows`) of a box, up to
    where they meet a wider stroke (a digit's, which stays)."""
    if bottom_rows is None:
        return
    thick = len(bottom_rows)
    above = int(bottom_rows.min()) - 1
    rising = np.zeros(view.shape[1], int)        # how far ink rises without a break from the side, per column
    for r in range(above, -1, -1):
        still = view[r] & (rising == above - r)
        if not still.any():
            break
        rising += still
    ticks = rising >= TICK_LEAST * view.shape[0]
    ticks[:thick + 1] = ticks[-thick - 1:] = False  # the box's own left and right sides
    _, tick_starts, tick_stops = ink_runs(ticks[None])
    for start, stop in zip(tick_starts, tick_stops):
        if stop - start > 2 * thick + 1:
            continue                              # wider than a line: a digit's stroke standing on the side
        for r in range(above, -1, -1):
            run = _run_at(view[r], start, stop)
            if run is None or run[1] - run[0] > stop - start + 2:
                break
            view[r, run[0]:run[1]] = False


def _run_at(row, start, stop):
    """(from, to) of the run of ink in `row` that holds a pixel among start..stop-1, or None."""
    _, starts, ends = ink_runs(row[None])
    over = np.flatnonzero((starts < stop) & (ends > start))
    return (int(starts[over[0]]), int(ends[over[0]])) if len(over) else None


def without_printed(mask):
    """The stroke mask without the boxes drawn around the writing and the paper's printed lines (paper_lines):
    what is left to look for digits in."""
    return remove_lines(without_outlines(without_boxes(mask)), paper_lines)
