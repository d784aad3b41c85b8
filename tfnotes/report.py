"""What a model gets wrong: a confusion matrix, a gallery of its most confident mistakes, per-class figures.

write_report() puts three files into the model folder, each written atomically:
    confusion_matrix.png   10x10 counts, rows the true digit, columns the predicted one
    mistakes.png           the MISTAKES_SHOWN most confident mistakes: image, true -> predicted (probability)
    per_class.csv          digit, count, precision, recall
"""
import csv
import io
import os

import numpy as np

from tfnotes.atomic import atomic_path, atomic_write_text

CONFUSION_PNG = "confusion_matrix.png"
MISTAKES_PNG = "mistakes.png"
PER_CLASS_CSV = "per_class.csv"
MISTAKES_SHOWN = 64
GALLERY_COLUMNS = 8
NUM_CLASSES = 10


def confusion_matrix(labels, predicted, classes=NUM_CLASSES):
    """counts[true, predicted] as an int64 [classes, classes] array."""
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (np.asarray(labels, np.int64), np.asarray(predicted, np.int64)), 1)
    return counts


def per_class(counts):
    """Rows (digit, count, precision, recall) from a confusion matrix; a class never predicted has precision 0."""
    rows = []
    for d in range(len(counts)):
        hits, truly, called = counts[d, d], counts[d].sum(), counts[:, d].sum()
        rows.append((d, int(truly), hits / called if called else 0.0, hits / truly if truly else 0.0))
    return rows


def worst_mistakes(labels, probs, limit=MISTAKES_SHOWN):
    """Indices of the wrong predictions, most confident first (at most `limit`)."""
    predicted = probs.argmax(1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probs[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:limit]


def write_report(model_dir, step, images, labels, probs):
    """The three report files for one evaluation of checkpoint `step`; returns the confusion matrix."""
    labels = np.asarray(labels, np.int64).reshape(-1)
    predicted = probs.argmax(1)
    counts = confusion_matrix(labels, predicted)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["digit", "count", "precision", "recall"])
    writer.writerows((d, n, f"{p:.4f}", f"{r:.4f}") for d, n, p, r in per_class(counts))
    atomic_write_text(os.path.join(model_dir, PER_CLASS_CSV), out.getvalue())
    save_png(plot_confusion(counts, step), os.path.join(model_dir, CONFUSION_PNG))
    worst = worst_mistakes(labels, probs)
    save_png(plot_mistakes(images, labels, probs, worst, step, int((predicted != labels).sum())),
             os.path.join(model_dir, MISTAKES_PNG))
    return counts


def save_png(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def plot_confusion(counts, step):
    from matplotlib.figure import Figure  # here: matplotlib takes half a second to load (--help answers at once)

    fig = Figure(figsize=(6.4, 5.6), dpi=100)
    ax = fig.subplots()
    # Log colours: the diagonal holds ~1000 per class, the mistakes a handful; both should be visible.
    image = ax.imshow(np.log1p(counts), cmap="Blues")
    top = np.log1p(counts.max())
    for (t, p), n in np.ndenumerate(counts):
        if n:
            ax.text(p, t, str(n), ha="center", va="center", fontsize=8,
                    color="white" if np.log1p(n) > 0.6 * top else "black")
    ax.set_xticks(range(len(counts)))
    ax.set_yticks(range(len(counts)))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    accuracy = np.trace(counts) / max(1, counts.sum())
    wrong = counts.sum() - np.trace(counts)
    ax.set_title(f"confusion matrix, step {step}\naccuracy {accuracy:.4f}: {wrong} of {counts.sum()} wrong",
                 fontsize=10)
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    fig.tight_layout()
    return fig


def plot_mistakes(images, labels, probs, worst, step, wrong_total):
    """One mosaic of the mistakes (one imshow, not 64 axes: drawing stays fast), each tile captioned."""
    cols = GALLERY_COLUMNS
    rows = max(1, -(-len(worst) // cols))
    tile, caption = 28, 12                    # pixels of a digit, and of the caption band under it
    mosaic = np.ones((rows * (tile + caption), cols * tile + cols - 1), np.float32)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(cols * 1.0, rows * 1.25 + 0.5), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1 - 0.5 / (rows * 1.25 + 0.5)])
    for k, i in enumerate(worst):
        r, c = divmod(k, cols)
        y, x = r * (tile + caption), c * (tile + 1)
        mosaic[y:y + tile, x:x + tile] = 1.0 - np.asarray(images[i], np.float32).reshape(tile, tile)
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for k, i in enumerate(worst):
        r, c = divmod(k, cols)
        p = int(probs[i].argmax())
        ax.text(c * (tile + 1) + tile / 2, r * (tile + caption) + tile + caption / 2,
                f"{labels[i]}→{p} {probs[i, p]:.0%}", ha="center", va="center", fontsize=6.5, color="darkred")
    ax.set_axis_off()
    shown = f"the {len(worst)} most confident" if len(worst) < wrong_total else f"all {wrong_total}"
    fig.suptitle(f"step {step}: {shown} of {wrong_total} mistakes (true→predicted probability)", fontsize=8)
    return fig
