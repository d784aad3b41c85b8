"""Pictures of the red/blue points and a model's decision line (PNG, no display needed)."""
import os
from pathlib import Path

import numpy as np

# The one place that decides where the basics lessons write their pictures.
DEFAULT_FIGURE_DIR = Path(__file__).resolve().parent.parent / "figures"
GRID_LIMIT = 3.0
GRID_STEP = 0.01


def grid_points(limit=GRID_LIMIT, step=GRID_STEP):
    """A square grid over [-limit, limit)²: (xx, yy, points [N, 2] float32) for a contour."""
    xx, yy = np.mgrid[-limit:limit:step, -limit:limit:step]
    return xx, yy, np.c_[xx.ravel(), yy.ravel()].astype(np.float32)


def draw_points(ax, X, colours, xx=None, yy=None, probs=None, title=""):
    """Scatter the points; with probs on the grid, draw the 0.5 decision contour too."""
    ax.scatter(X[:, 0], X[:, 1], c=colours, s=12)
    if probs is not None:
        ax.contour(xx, yy, probs, levels=[0.5], colors="black")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")


def new_figure(panels):
    """A figure with `panels` axes side by side."""
    # Imported here: matplotlib takes half a second to load, and --help should answer at once. A bare Figure
    # renders with Agg, no pyplot state.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * panels, 5.2))
    return fig, [fig.add_subplot(1, panels, i + 1) for i in range(panels)]


def check_out_path(path):
    """Return path as an absolute Path if a PNG can be written there, else raise ValueError.

    Scripts call this before training, so a bad --out costs nothing."""
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file name such as {path / 'plot.png'}")
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise ValueError(f"--out {path}: cannot create it, {existing} is not a writable folder")
    return path


def save_figure(fig, path):
    """Write the figure as PNG to path atomically; returns the absolute Path."""
    path = check_out_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.tight_layout()
        fig.savefig(tmp, format="png", dpi=100)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
