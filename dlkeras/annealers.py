"""Pure annealers and a branch-free combinator of schedule phases.

An annealer maps a position `pos` in [0, 1] to a value between `start` and
`end`. Phases are joined without Python branches, so a schedule built from
them traces once inside a compiled train step and is evaluated on the
optimizer's step counter at every step.

Every function takes the array namespace `xp` it computes with:
`keras.ops` by default (tensors, traced into the train step), or
`dlkeras.host_math` to evaluate the same schedule in NumPy float32 on the
host (what callbacks that report a value use).

Example:

>>> from dlkeras.annealers import anneal_cos, join_phases, Phase
>>> round(float(anneal_cos(1.0, 0.0, 0.5)), 6)
0.5
>>> phases = [Phase(0.25, "cos", 0.04, 1.0), Phase(0.75, "cos", 1.0, 0.0)]
>>> round(float(join_phases(phases, 0.25)), 6)
1.0
"""

import math
import numbers
from dataclasses import dataclass
from itertools import accumulate

from keras import ops


def anneal_cos(start, end, pos, xp=ops):
    """Half a cosine from `start` (pos=0) to `end` (pos=1)."""
    return end + (start - end) / 2.0 * cos_wave(pos, xp)


def anneal_linear(start, end, pos, xp=ops):
    """A straight line from `start` to `end`."""
    del xp
    return start + (end - start) * pos


def anneal_exp(start, end, pos, xp=ops):
    """Geometric interpolation from `start` to `end` (both must be > 0)."""
    return start * xp.power(end / start, pos)


def anneal_constant(start, end, pos, xp=ops):
    """Always `start`; `end` is ignored."""
    del end, xp
    return start + 0.0 * pos


ANNEALERS = {
    "cos": anneal_cos,
    "linear": anneal_linear,
    "exp": anneal_exp,
    "constant": anneal_constant,
}


@dataclass(frozen=True)
class Phase:
    """One phase of a schedule.

    Args:
        fraction: share of the whole schedule this phase lasts, in (0, 1].
        anneal: name of the annealer: "cos", "linear", "exp" or "constant".
        start: value at the beginning of the phase.
        end: value at the end of the phase.
    """

    fraction: float
    anneal: str
    start: float
    end: float

    def __post_init__(self):
        if self.anneal not in ANNEALERS:
            raise ValueError(
                f"Unknown annealer {self.anneal!r}; expected one of "
                f"{sorted(ANNEALERS)}. Received: anneal={self.anneal!r}"
            )
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(
                "A phase's fraction must be in (0, 1]. "
                f"Received: fraction={self.fraction}"
            )
        if self.anneal == "exp" and (self.start <= 0 or self.end <= 0):
            raise ValueError(
                "An exponential phase needs positive start and end. "
                f"Received: start={self.start}, end={self.end}"
            )


def locate(fractions, pos, xp=ops):
    """Which phase the overall position `pos` falls in, and where inside it.

    Args:
        fractions: each phase's share of the schedule, in order (summing to 1).
        pos: scalar tensor or float, the position in the whole schedule.
        xp: the array namespace (`keras.ops` or `dlkeras.host_math`).

    Returns:
        `(below, local)`: `below[i]` is True where `pos` lies before the end of
        phase `i` (one per phase but the last), and `local` is the position
        in [0, 1] inside the phase `pos` falls in (for `pos` in [0, 1]).
        Pass `below` to `select`.
    """
    ends = list(accumulate(fractions))
    below = [pos < end for end in ends[:-1]]
    if not below:
        return below, pos
    begin = select(below, [0.0] + ends[:-1], xp)
    scale = select(below, [1.0 / f for f in fractions], xp)
    return below, (pos - begin) * scale


def select(below, values, xp=ops):
    """`values[i]` of the phase a position falls in (`below` from `locate`)."""
    if all(_same(value, values[0]) for value in values[1:]):
        return values[0]  # the same in every phase: no op to trace
    result = values[-1]
    for flag, value in zip(reversed(below), reversed(values[:-1])):
        result = xp.where(flag, value, result)
    return result


def _same(a, b):
    """Whether `a` and `b` are one object or equal Python numbers (never compares tensors)."""
    if a is b:
        return True
    return isinstance(a, numbers.Real) and isinstance(b, numbers.Real) and a == b


def cos_wave(local, xp=ops):
    """`1 + cos(pi * local)`: the part of `anneal_cos` that depends on the position only."""
    return 1.0 + xp.cos(math.pi * local)


def join_phases(phases, pos, located=None, xp=ops, memo=None):
    """Evaluates consecutive phases at the overall position `pos` in [0, 1].

    The fractions of `phases` must add up to 1. The phase is selected first
    (with `ops.where` only, no data-dependent Python branch), then each
    distinct annealer runs once on the selected start, end and position, so
    the cost hardly grows with the number of phases.

    Cosine phases are evaluated as `end + (start - end) / 2 * cos_wave(local)`
    with `end` and the half-difference chosen among Python constants, so
    the only position-dependent work, `cos_wave`, can be shared.

    Args:
        phases: list of `Phase`, in order.
        pos: scalar tensor or float, the position in the whole schedule.
        located: `locate(fractions, pos)` computed already (e.g. shared by
            several schedules with the same phase fractions), or None.
        xp: the array namespace (`keras.ops` or `dlkeras.host_math`).
        memo: `memo(key, compute)` returning `compute()` once per `key` for
            this `located` (e.g. `StepEvaluation.memo` under a key of the
            location), so schedules with the same phase fractions, such as
            one-cycle's learning rate and momentum, share one `cos_wave`;
            None computes it here.

    Returns:
        A scalar tensor.
    """
    fractions = [p.fraction for p in phases]
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(
            "Phase fractions must add up to 1. "
            f"Received: fractions={fractions}"
        )
    if located is None:
        located = locate(fractions, xp.clip(xp.cast(pos, "float32"), 0.0, 1.0), xp)
    below, local = located
    kinds = list(dict.fromkeys(p.anneal for p in phases))
    values = {}
    for kind in kinds:
        if kind == "cos":
            wave = cos_wave(local, xp) if memo is None else memo(
                "cos_wave", lambda: cos_wave(local, xp))
            end = select(below, [p.end for p in phases], xp)
            half = select(below, [(p.start - p.end) / 2.0 for p in phases], xp)
            values[kind] = end + half * wave
        else:
            start = select(below, [p.start for p in phases], xp)
            end = select(below, [p.end for p in phases], xp)
            values[kind] = ANNEALERS[kind](start, end, local, xp)
    if len(kinds) == 1:
        return values[kinds[0]]
    return select(below, [values[p.anneal] for p in phases], xp)
