"""Connected pieces of a stroke mask: their boxes and sizes (components), drawing some of them again (paint),
and the frames along a picture's edge (frame_like). Pure numpy, on runs of ink so that it stays vectorised."""
import numpy as np


def bbox(mask):
    """top, bottom, left, right (exclusive) of the True pixels of a non-empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def ink_runs(mask):
    """Horizontal runs of True: rows, starts, ends (exclusive), in row-major order."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), np.int8)
    padded[:, 1:-1] = mask
    step = np.diff(padded, axis=1)
    rows, starts = np.nonzero(step == 1)
    _, ends = np.nonzero(step == -1)
    return rows, starts, ends


def _union(n, u, v):
    """Component id (0..k-1) of each of n nodes joined by edges u-v (hooking + pointer jumping)."""
    parent = np.arange(n)
    while True:
        ru, rv = parent[u], parent[v]
        differ = ru != rv
        if not differ.any():
            break
        ru, rv = ru[differ], rv[differ]
        np.minimum.at(parent, np.maximum(ru, rv), np.minimum(ru, rv))
        while True:  # pointer jumping until every node points at its root
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    roots = np.flatnonzero(parent == np.arange(n))
    compact = np.empty(n, np.intp)
    compact[roots] = np.arange(len(roots))
    return compact[parent]


def components(mask):
    """Label the 8-connected components of a boolean mask.

    Returns (rows, starts, ends, comp) for the runs and, per component, a dict of arrays:
    area, top, bottom (exclusive), left, right (exclusive).
    """
    rows, starts, ends = ink_runs(mask)
    n = len(rows)
    if n == 0:
        return (rows, starts, ends, rows), None
    key = mask.shape[1] + 2
    start_key, end_key = rows * key + starts, rows * key + ends
    # Runs on the next row touching [start-1, end] (8-connectivity) form one contiguous range.
    lo = np.searchsorted(end_key, (rows + 1) * key + starts, "left")
    hi = np.searchsorted(start_key, (rows + 1) * key + ends, "right")
    count = np.maximum(hi - lo, 0)
    u = np.repeat(np.arange(n), count)
    first = np.repeat(lo, count)
    v = first + np.arange(len(u)) - np.repeat(np.cumsum(count) - count, count)
    comp = _union(n, u, v)
    k = int(comp.max()) + 1
    stats = {"area": np.bincount(comp, ends - starts, minlength=k)}
    for name, values, fn, init in (("top", rows, np.minimum, np.inf), ("bottom", rows + 1, np.maximum, -1),
                                   ("left", starts, np.minimum, np.inf), ("right", ends, np.maximum, -1)):
        out = np.full(k, init)
        fn.at(out, comp, values)
        stats[name] = out.astype(int)
    return (rows, starts, ends, comp), stats


def paint(shape, runs, keep):
    """Boolean mask of the runs whose component is in `keep` (a boolean array per component)."""
    rows, starts, ends, comp = runs
    out = np.zeros(shape, bool)
    sel = keep[comp]
    rows, starts, ends = rows[sel], starts[sel], ends[sel]
    length = ends - starts
    flat = np.repeat(rows * shape[1] + starts, length)
    flat += np.arange(len(flat)) - np.repeat(np.cumsum(length) - length, length)
    out.flat[flat] = True
    return out




def frame_like(st, height, width, keep):
    """Components lying along the picture's edge: drawn frames, paper edges, table showing around it.

    A frame must enclose other ink (among `keep`, with a tenth of its own ink at least, not a speck), so that
    a digit cropped tightly is not one; a band along a side is one only while the other ink does not reach
    as far (in a tight crop of a number, a 1 at the edge is as tall as its neighbours).
    """
    margin_y, margin_x = max(2, height // 50), max(2, width // 50)
    at_top, at_bottom = st["top"] <= margin_y, st["bottom"] >= height - margin_y
    at_left, at_right = st["left"] <= margin_x, st["right"] >= width - margin_x
    touch = at_top.astype(int) + at_bottom + at_left + at_right
    span_y = (st["bottom"] - st["top"]) / height
    span_x = (st["right"] - st["left"]) / width
    fill = st["area"] / np.maximum(1, (st["bottom"] - st["top"]) * (st["right"] - st["left"]))
    # A frame touches three or four sides, or runs along one side as a thin band (a "1" standing
    # from top to bottom in the middle is not a band: it is not at the left or right side).
    band = (((span_x > 0.9) & (span_y < 0.15) & (at_top | at_bottom))
            | ((span_y > 0.9) & (span_x < 0.15) & (at_left | at_right)))
    for i in np.flatnonzero(band):
        others = keep.copy()
        others[i] = False
        span = span_x if span_x[i] > 0.9 else span_y
        band[i] = not (others & (span > 0.8)).any()
    ring = (touch >= 3) | ((touch >= 2) & (span_x > 0.8) & (span_y > 0.8) & (fill < 0.3))
    for i in np.flatnonzero(ring):               # few candidates: check each one
        inside = ((st["top"] >= st["top"][i]) & (st["bottom"] <= st["bottom"][i]) & (st["left"] >= st["left"][i])
                  & (st["right"] <= st["right"][i]) & keep & (st["area"] >= 0.1 * st["area"][i]))
        inside[i] = False
        ring[i] = inside.any()
    return band | ring


def stroke_width(mask):
    """Mean stroke width of a mask in pixels: its area over half its outline length."""
    padded = np.pad(mask, 1)
    edges = np.count_nonzero(padded[1:, :] != padded[:-1, :]) + np.count_nonzero(padded[:, 1:] != padded[:, :-1])
    return 2.0 * float(mask.sum()) / max(edges, 1)
