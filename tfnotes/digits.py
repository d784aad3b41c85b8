"""Reading the digits in picture files: inputs, one batch, results, readable lines and debug PNGs.

The digit app (mnist_app.py) is a thin front over these; the pictures become model input through
tfnotes.pictures and are predicted by a tfnotes.inference.Model.
"""
import glob
import os

import numpy as np
from matplotlib.figure import Figure  # a bare Figure draws with Agg: no window, no pyplot state
from PIL import ImageOps

from tfnotes.atomic import atomic_path
from tfnotes.errors import ImageError
from tfnotes.pictures import CANVAS_SIDE, load_image, preprocess, to_grey

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
    """(path, error) pairs -> (batch [N,28,28] float32, entries, pictures).

    prepare(picture, name) makes one decoded picture into the network's 28x28 input.

    entries, in input order: dicts with "path" and either "row" (index into batch) or "error".
    pictures[row] is the decoded picture, kept only with keep_pictures (for --save-debug).
    """
    batch, entries, pictures = [], [], []
    for path, error in items:
        if error is None:
            try:
                picture = load_image(path)
                batch.append(prepare(picture, path))
                entries.append({"path": path, "row": len(batch) - 1})
                if keep_pictures:
                    pictures.append(picture)
                continue
            except ImageError as exc:
                error = str(exc)
        entries.append({"path": path, "error": error})
    arr = np.stack(batch) if batch else np.zeros((0, CANVAS_SIDE, CANVAS_SIDE), np.float32)
    return arr, entries, pictures


def results(entries, probs, top_k=1):
    """Per input, in order: {"path", "digit", "confidence", "top": [[digit, p], ...]} or {"path", "error"}."""
    out = []
    for entry in entries:
        if "error" in entry:
            out.append({"path": entry["path"], "error": entry["error"]})
            continue
        p = probs[entry["row"]]
        order = np.argsort(-p, kind="stable")[:max(1, top_k)]
        out.append({"path": entry["path"], "digit": int(order[0]), "confidence": round(float(p[order[0]]), 4),
                    "top": [[int(d), round(float(p[d]), 4)] for d in order]})
    return out


def format_line(result):
    """One readable line: 'path: 7 (98.2%)', plus the runners-up with --top-k."""
    line = f"{result['path']}: {result['digit']} ({result['confidence']:.1%})"
    rest = result["top"][1:]
    if rest:
        line += "   next: " + ", ".join(f"{d} ({p:.1%})" for d, p in rest)
    return line


def save_debug(out_dir, index, path, picture, digit_input, probs):
    """PNG: the picture | the 28x28 the network saw | the ten probabilities (written atomically)."""
    os.makedirs(out_dir, exist_ok=True)
    shown = ImageOps.exif_transpose(picture) if picture.getexif().get(0x0112, 1) != 1 else picture
    fig = Figure(figsize=(9, 3), dpi=100)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.3]})
    axes[0].imshow(to_grey(shown), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(os.path.basename(path)[:30], fontsize=9)
    axes[1].imshow(digit_input, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[1].set_title("28x28 input", fontsize=9)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    best = int(np.argmax(probs))
    axes[2].bar(range(10), probs, color=["tab:orange" if d == best else "tab:blue" for d in range(10)])
    axes[2].set_xticks(range(10))
    axes[2].set_ylim(0, 1)
    axes[2].set_title(f"prediction {best} ({probs[best]:.1%})", fontsize=9)
    fig.tight_layout()
    stem = os.path.splitext(os.path.basename(path))[0]
    target = os.path.join(out_dir, f"{index:04d}_{stem}.png")
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target


