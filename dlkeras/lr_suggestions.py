"""Learning-rate suggestions from an LR range test: plain functions of (lrs, losses).

`suggest_margin` (the default of `LRFinder`) reads the raw per-step losses:
it smooths them without lag, finds where the loss diverges, and suggests a
rate a safety margin below that, no higher than where the loss reaches its
floor, and kept inside the basin of the curve. How far below the
divergence depends on the recipe that will train at the rate
(`RECIPE_SETTINGS`, picked by `LRFinder(recipe=...)` and the Task layer).
It raises `NoSuggestion` (a `ValueError` whose message says why, in one
line) when the curve supports no trustworthy suggestion: too few points, a
loss that is NaN from the start, no descent standing out of the noise, a
loss that diverges at once, or one still falling when the sweep ended.

`suggest_valley`, `suggest_steep` and `suggest_minimum` are fastai's rules;
like fastai they read the EMA-smoothed curve (`LRFinder.losses`).

Example:

>>> import numpy as np
>>> lrs = np.geomspace(1e-6, 10.0, 71)                 # 10 points a decade
>>> losses = np.interp(np.log10(lrs), [-6, -4, -1, 0, 1], [2.0, 2.0, 0.5, 0.6, 9.0])
>>> round(suggest_margin(lrs, losses), 3)               # where the loss reaches its floor
0.1
>>> round(suggest_margin(lrs, losses, **RECIPE_SETTINGS["fine_tune"]), 3)  # divergence / 7
0.226
>>> suggest_margin(lrs, np.full(71, 2.0))
Traceback (most recent call last):
...
dlkeras.lr_suggestions.NoSuggestion: no clear descent: the loss fell by at most 0 from 2, ...
"""

from typing import NamedTuple

import numpy as np

MIN_POINTS = 8
SIGNIFICANCE = 5.0       # a descent (or rise) must stand this many standard errors out
MIN_RELATIVE_DROP = 0.01  # ... and be at least this fraction of the starting loss
MARGIN = 10.0            # suggestion <= divergence rate / MARGIN (before the basin clamps)
FLOOR = 0.05             # ... and <= the first rate whose loss is within this share of the lowest
CLIMB = 0.3              # the basin ends where the loss climbed back by this share of the drop

RECIPE_SETTINGS = {
    "fit_one_cycle": {"margin": MARGIN, "floor": FLOOR},
    "fine_tune": {"margin": 7.0, "floor": None},
}
"""`suggest_margin`'s settings for the recipe that trains at the suggestion.

Measured on `benchmarks/lr_suggestions.py` (its docstring has the curves'
landmarks and the grids). From-scratch `fit_one_cycle` (tabular,
regression, a CNN): the best peak rate sat at or left of where the sweep's
loss first reaches its floor, 9-110x below the divergence; so the
suggestion is the lower of divergence / 10 and the floor's first rate
(within 5 % of the lowest loss: rates above it buy no lower loss in the
sweep, only less room to the divergence). `fine_tune`'s unfrozen sweep
(pretrained body at 1/100 of the head's rate): the best `lr_max` sat 2-4x
*above* the sweep's lowest point and 5-6x below the divergence, so the
floor cap does not apply and the margin is 7. The price of the floor cap:
on curves with a wide floor it suggests low; on a Fashion-MNIST ResNet
(`benchmarks/super_convergence.py`, not used to choose it) 12x below the
plain divergence / 10, for 0.5 points less accuracy. `{"margin": 10.0,
"floor": None}` is the rule without the cap.
"""


class NoSuggestion(ValueError):
    """The curve supports no trustworthy suggestion; `str(error)` says why in one line."""


def _clean(lrs, losses):
    lrs, losses = np.asarray(lrs, dtype="float64"), np.asarray(losses, dtype="float64")
    if lrs.shape != losses.shape or lrs.ndim != 1 or len(lrs) < 2:
        raise ValueError(
            "Need two 1-D sequences of the same length >= 2. "
            f"Received: len(lrs)={lrs.size}, len(losses)={losses.size}")
    if not (np.all(np.isfinite(lrs)) and np.all(lrs > 0)):
        raise ValueError(f"Learning rates must be finite and > 0. Received: lrs={lrs}")
    return lrs, losses


def _finite(lrs, losses):
    lrs, losses = _clean(lrs, losses)
    keep = np.isfinite(losses)
    if keep.sum() < 2:
        raise NoSuggestion("Fewer than two finite (lr, loss) points to suggest from.")
    return lrs[keep], losses[keep]


def step_noise(losses):
    """Robust standard deviation of step-to-step noise, blind to trends and curvature.

    From second differences (a linear or slowly curving trend cancels out),
    with the median so that a blow-up at the end does not count.
    """
    losses = np.asarray(losses, dtype="float64")
    if len(losses) < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(np.diff(losses, 2))) / np.sqrt(6.0))


def smooth_losses(lrs, losses, half_width=0.25, min_neighbours=3):
    """Centred smoothing of a sweep in log10(lr): running median, then running mean.

    Unlike an exponential moving average it has no lag, so the smoothed curve
    turns where the raw one does. Each window spans `half_width` decades on
    either side of a point, and at least `min_neighbours` points.
    """
    lrs, losses = _clean(lrs, losses)
    log_lrs, positions = np.log10(lrs), np.arange(len(lrs))
    windows = [(np.abs(log_lrs - x) <= half_width) | (np.abs(positions - i) <= min_neighbours)
               for i, x in enumerate(log_lrs)]
    medians = np.array([np.median(losses[w]) for w in windows])
    # A blow-up must not leak far into its neighbours' means: clip it first
    # (high enough above the start that a rise still shows).
    start = np.median(losses[:_head(len(losses))])
    room = max(start - medians.min(), 0.01 * abs(start)) + 8 * step_noise(losses)
    return np.array([np.minimum(medians[w], start + room + 1e-12).mean() for w in windows])


class SweepShape(NamedTuple):
    """Landmarks of a range test, read from its lag-free smoothed curve."""
    lrs: np.ndarray        # up to the first non-finite loss
    losses: np.ndarray
    smoothed: np.ndarray
    start_loss: float      # median loss of the first steps
    noise: float           # robust spread of the raw losses around the smoothed curve
    min_index: int         # lowest smoothed loss of the descent (after the last time the
                           # loss was back above start_loss before diverging)
    diverged_lr: float     # the rate from which the loss stays above start_loss, or the
                           # first non-finite one; None if the sweep never got there
    drop: float            # start_loss - lowest smoothed loss


def sweep_shape(lrs, losses):
    """The `SweepShape` of a sweep; raises `NoSuggestion` if it is too short or NaN at once."""
    all_lrs, losses = _clean(lrs, losses)
    bad = np.flatnonzero(~np.isfinite(losses))
    cut = int(bad[0]) if bad.size else len(losses)
    if cut == 0:
        raise NoSuggestion("the loss was NaN/inf from the first step: check the data, the loss "
                           "and start_lr")
    if cut < MIN_POINTS:
        last = losses[cut] if bad.size else losses[cut - 1]
        if bad.size or last - losses[0] > abs(losses[0]):
            raise NoSuggestion(
                f"diverged at once: the loss went from {losses[0]:.2g} to {last:.2g} by "
                f"lr={all_lrs[min(cut, len(all_lrs) - 1)]:.2g}, in {cut + 1} steps; start_lr="
                f"{all_lrs[0]:.2g} is too high")
        raise NoSuggestion(f"too few points: {cut} losses in the sweep (need {MIN_POINTS})")
    lrs, losses = all_lrs[:cut], losses[:cut]
    smoothed = smooth_losses(lrs, losses)
    start = float(np.median(losses[:_head(cut)]))
    above = smoothed > start
    # The divergence: where the loss goes above its start for good.
    stays_below = np.flatnonzero(~above)
    end = int(stays_below[-1]) + 1 if stays_below.size else 0
    # The lowest point after the last time the loss was back at its start
    # before that: a dip the loss climbs out of and falls back from is noise.
    back = np.flatnonzero(above[:end])
    first = int(back[-1]) + 1 if back.size else 0
    low = first + int(np.argmin(smoothed[first:end])) if end > first else 0
    diverged_lr = float(all_lrs[end]) if end < len(all_lrs) else None
    noise = step_noise(losses[:max(end, MIN_POINTS)])
    return SweepShape(lrs, losses, smoothed, start, noise, low, diverged_lr,
                      start - float(smoothed[low]))


def sweep_trouble(lrs, losses):
    """Why a sweep (raw losses) supports no suggestion at all, or None if it has a descent.

    Example:

    >>> import numpy as np
    >>> sweep_trouble(np.geomspace(1e-3, 1, 20), np.geomspace(1, 100, 20))
    'diverged at once: the loss rose from 1.4 to 1e+02 by lr=1 without falling first; ...'
    """
    try:
        _check_descent(sweep_shape(lrs, losses))
    except NoSuggestion as error:
        return str(error)
    return None


def _head(count):
    """How many first points give the starting level."""
    return max(3, count // 5)


def _standard_score(shape, around):
    """How many standard errors the starting level stands above the level around `around`.

    Levels are medians: of the first points, and of the points within half
    a decade of `around` (before the divergence).
    """
    log_lrs = np.log10(shape.lrs)
    near = np.abs(log_lrs - log_lrs[around]) <= 0.5
    if shape.diverged_lr is not None:
        near &= shape.lrs < shape.diverged_lr
    near[around] = True
    head = shape.losses[:_head(len(shape.losses))]
    difference = float(np.median(head) - np.median(shape.losses[near]))
    error = shape.noise * 1.2533 * np.sqrt(1.0 / len(head) + 1.0 / near.sum())
    if abs(difference) <= MIN_RELATIVE_DROP * abs(shape.start_loss):
        return 0.0
    return difference / error if error > 0 else float(np.sign(difference) * np.inf)


def _check_descent(shape):
    score = 0.0
    if shape.min_index >= _head(len(shape.losses)):  # a minimum among the first points is no descent
        score = _standard_score(shape, shape.min_index)
    if score >= SIGNIFICANCE:
        return shape
    lrs, smoothed = shape.lrs, shape.smoothed
    top = int(np.argmax(smoothed))
    if -_standard_score(shape, top) >= SIGNIFICANCE:
        rose = np.flatnonzero(smoothed > shape.start_loss + 0.5 * (smoothed[top] - shape.start_loss))
        when = "at once" if lrs[rose[0]] < 10 * lrs[0] else "before the loss fell"
        hint = (f"start_lr={lrs[0]:.2g} is too high" if when == "at once"
                else "the model does not learn at lower rates within this sweep")
        raise NoSuggestion(
            f"diverged {when}: the loss rose from {shape.start_loss:.2g} to "
            f"{shape.losses.max():.2g} by lr={lrs[-1]:.2g} without falling first; {hint}")
    raise NoSuggestion(
        f"no clear descent: the loss fell by at most {max(shape.drop, 0.0):.2g} from "
        f"{shape.start_loss:.2g}, within its step-to-step noise ({shape.noise:.2g}); a larger "
        "batch_size or total_steps may show one")


def suggest_margin(lrs, losses, margin=MARGIN, floor=FLOOR):
    """A margin below the rate where the loss diverges, no higher than where it reaches its floor.

    The divergence rate is the first rate past the lowest (lag-free)
    smoothed loss where the loss is back above its starting level, or is
    NaN; it is the most stable landmark of a range test (across seeds it
    moved by at most 1.8x on the benchmark tasks, where the lowest point
    moved by up to 9x). The suggestion is the lower of that rate / `margin`
    and, with `floor`, the first rate at which the smoothed loss is within
    `floor` (a fraction of its magnitude) of its lowest value. It is then
    moved into the basin if it falls outside: not below the rate where half
    of the drop was done, not above the rate where the loss has climbed back
    by `CLIMB` of it. If the sweep ended before diverging, its last rate
    stands in for the divergence rate (a conservative suggestion).

    Good for: the peak rate of `fit_one_cycle` (the defaults) and, with
    `RECIPE_SETTINGS["fine_tune"]`, the `lr_max` of `fine_tune` swept on
    its unfrozen phase. The defaults come from measured curves, see
    `RECIPE_SETTINGS`.

    Args:
        lrs: the rates of the sweep, increasing.
        losses: the raw loss of each step (not smoothed).
        margin: how far below the divergence rate to suggest at most.
        floor: how close to its lowest the loss must be for a rate to count
            as on the floor (e.g. 0.05: within 5 %), or None for no floor cap.

    Returns:
        The suggested rate, a float.

    Raises:
        NoSuggestion: the curve supports no trustworthy suggestion (the
            message says why).

    Example:

    >>> import numpy as np
    >>> lrs = np.geomspace(1e-6, 10.0, 71)
    >>> losses = np.interp(np.log10(lrs), [-6, -4, -2, 0, 1], [2.0, 2.0, 0.5, 0.5, 9.0])
    >>> round(suggest_margin(lrs, losses), 4)               # the floor starts near 1e-2
    0.0158
    >>> round(suggest_margin(lrs, losses, floor=None), 3)   # divergence (1.6) / 10
    0.158
    """
    if not (isinstance(margin, (int, float)) and margin >= 1):
        raise ValueError(f"`margin` must be a number >= 1. Received: margin={margin!r}")
    if floor is not None and not (isinstance(floor, (int, float)) and floor >= 0):
        raise ValueError(f"`floor` must be None or a number >= 0. Received: floor={floor!r}")
    shape = _check_descent(sweep_shape(lrs, losses))
    lrs, smoothed, low = shape.lrs, shape.smoothed, shape.min_index
    if shape.diverged_lr is None and low >= len(lrs) - 3:
        raise NoSuggestion(
            f"the loss was still falling when the sweep ended (lr={lrs[-1]:.2g}): no minimum "
            "found; raise end_lr")
    diverged_lr = shape.diverged_lr if shape.diverged_lr is not None else lrs[-1]
    lowest = smoothed[low]
    suggestion = diverged_lr / margin
    if floor is not None:
        off_floor = np.flatnonzero(smoothed[:low + 1] > lowest + floor * abs(lowest))
        suggestion = min(suggestion, lrs[off_floor[-1] + 1] if off_floor.size else lrs[0])
    climbed = np.flatnonzero(smoothed[low:] > lowest + CLIMB * shape.drop)
    right = low + int(climbed[0]) - 1 if climbed.size else len(lrs) - 1
    halfway = np.flatnonzero(smoothed[:low + 1] > lowest + 0.5 * shape.drop)
    left = int(halfway[-1]) + 1 if halfway.size else 0
    return float(np.clip(suggestion, lrs[left], lrs[right]))


def suggest_minimum(lrs, losses):
    """A tenth of the rate at which the (EMA-smoothed) loss was lowest.

    Good for: a conservative rate with plain training (constant rate or a
    short schedule); fastai's `minimum`. With a lagging EMA the lowest point
    sits right of the true one, and the tenth makes up for it.
    """
    lrs, losses = _finite(lrs, losses)
    return float(lrs[np.argmin(losses)] / 10.0)


def suggest_steep(lrs, losses):
    """The rate where the (EMA-smoothed) loss falls fastest against log(lr).

    Good for: a rate where training is known to make progress, e.g. a
    constant-rate fit; fastai's `steep`. On noisy curves it jumps between
    local dips.
    """
    lrs, losses = _finite(lrs, losses)
    slope = np.gradient(losses, np.log10(lrs))
    return float(lrs[np.argmin(slope)])


def suggest_valley(lrs, losses):
    """Halfway along the longest stretch over which the (EMA-smoothed) loss keeps falling.

    Good for: a cautious one-cycle peak on smooth curves (dlkeras' default
    before `margin`). The stretch is the longest decreasing subsequence, so
    it starts at the first point of a long flat start: on flat-then-falling
    curves it lands 10-100x below the rate that trains best.
    """
    lrs, losses = _finite(lrs, losses)
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


SUGGESTERS = {"margin": suggest_margin, "valley": suggest_valley, "steep": suggest_steep,
              "minimum": suggest_minimum}
"""Every rule by name; `DEFAULT_RULE` is `LRFinder.suggestion`."""

DEFAULT_RULE = "margin"
RAW_LOSS_RULES = frozenset({"margin"})
"""Rules that read raw per-step losses; the others read the EMA-smoothed curve."""
