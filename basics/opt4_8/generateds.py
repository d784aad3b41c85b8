"""generateds.py — the data (八股, part 1): 300 red/blue points.

Each point (x0, x1) is drawn from a standard normal by numpy RandomState(2). It is red
(label 1) inside the circle x0² + x1² < 2 and blue (label 0) outside.
"""
import numpy as np

SEED = 2
N_POINTS = 300


def generateds(n=N_POINTS, seed=SEED):
    """Return X float32 [n, 2], Y_ float32 [n, 1] (1 = red) and Y_c, the colour names."""
    rdm = np.random.RandomState(seed)
    X = rdm.randn(n, 2)
    inside = X[:, 0] ** 2 + X[:, 1] ** 2 < 2
    Y_ = inside.astype(np.float32).reshape(-1, 1)
    Y_c = ["red" if red else "blue" for red in inside]
    return X.astype(np.float32), Y_, Y_c
