"""Learning-rate suggestions from an LR range test: pure functions of (lrs, losses).

Example:

>>> import numpy as np
>>> lrs = np.geomspace(1e-6, 1.0, 60)
>>> losses = np.concatenate([np.full(20, 2.0), np.linspace(2.0, 0.5, 30), np.linspace(0.5, 5, 10)])
>>> 1e-4 < suggest_valley(lrs, losses) < 1e-1
True
"""

import numpy as np


def _clean(lrs, losses):
    lrs, losses = np.asarray(lrs, dtype="float64"), np.asarray(losses, dtype="float64")
    if lrs.shape != losses.shape or lrs.ndim != 1 or len(lrs) < 2:
        raise ValueError(
            "Need two 1-D sequences of the same length >= 2. "
            f"Received: len(lrs)={lrs.size}, len(losses)={losses.size}")
    keep = np.isfinite(losses) & np.isfinite(lrs) & (lrs > 0)
    if keep.sum() < 2:
        raise ValueError("Fewer than two finite (lr, loss) points to suggest from.")
    return lrs[keep], losses[keep]


def suggest_minimum(lrs, losses):
    """A tenth of the rate at which the loss was lowest."""
    lrs, losses = _clean(lrs, losses)
    return float(lrs[np.argmin(losses)] / 10.0)


def suggest_steep(lrs, losses):
    """The rate where the loss falls fastest against log(lr)."""
    lrs, losses = _clean(lrs, losses)
    slope = np.gradient(losses, np.log10(lrs))
    return float(lrs[np.argmin(slope)])


def suggest_valley(lrs, losses):
    """Halfway along the longest stretch over which the loss keeps falling.

    The stretch is the longest decreasing subsequence of the losses (points
    of noise that go up are skipped); its midpoint is far enough from the
    start to learn fast and far enough from the blow-up to be safe.
    """
    lrs, losses = _clean(lrs, losses)
    n = len(losses)
    length = np.ones(n, dtype=int)   # longest decreasing run ending at i
    first = np.arange(n)             # where that run starts
    for i in range(1, n):
        earlier = np.flatnonzero(losses[:i] > losses[i])[::-1]
        if earlier.size:
            # Among equally long runs take the latest start: a flat stretch
            # before the descent is not part of the valley.
            best = earlier[np.argmax(length[earlier])]
            length[i], first[i] = length[best] + 1, first[best]
    end = int(np.argmax(length))
    start = int(first[end])
    return float(lrs[start + (end - start) // 2])


SUGGESTERS = {"valley": suggest_valley, "steep": suggest_steep, "minimum": suggest_minimum}
