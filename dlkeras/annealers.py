"""Pure annealers and a branch-free combinator of schedule phases.

An annealer maps a position `pos` in [0, 1] to a value between `start` and
`end`. Phases are joined without Python branches, so a schedule built from
them traces once inside a compiled train step and is evaluated on the
optimizer's step counter at every step.

Example:

>>> from dlkeras.annealers import anneal_cos, join_phases, Phase
>>> round(float(anneal_cos(1.0, 0.0, 0.5)), 6)
0.5
>>> phases = [Phase(0.25, "cos", 0.04, 1.0), Phase(0.75, "cos", 1.0, 0.0)]
>>> round(float(join_phases(phases, 0.25)), 6)
1.0
"""

import math
from dataclasses import dataclass

from keras import ops


def anneal_cos(start, end, pos):
    """Half a cosine from `start` (pos=0) to `end` (pos=1)."""
    return end + (start - end) / 2.0 * (1.0 + ops.cos(math.pi * pos))


def anneal_linear(start, end, pos):
    """A straight line from `start` to `end`."""
    return start + (end - start) * pos


def anneal_exp(start, end, pos):
    """Geometric interpolation from `start` to `end` (both must be > 0)."""
    return start * ops.power(end / start, pos)


def anneal_constant(start, end, pos):
    """Always `start`; `end` is ignored."""
    del end
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


def join_phases(phases, pos):
    """Evaluates consecutive phases at the overall position `pos` in [0, 1].

    The fractions of `phases` must add up to 1. The result is built with
    `ops.where` only, so it has no data-dependent Python branch.

    Args:
        phases: list of `Phase`, in order.
        pos: scalar tensor or float, the position in the whole schedule.

    Returns:
        A scalar tensor.
    """
    total = sum(p.fraction for p in phases)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(
            "Phase fractions must add up to 1. "
            f"Received: fractions={[p.fraction for p in phases]}"
        )
    pos = ops.clip(ops.cast(pos, "float32"), 0.0, 1.0)
    value = None
    begin = 1.0
    # Walk backwards so that earlier phases override later ones below their end.
    for phase in reversed(phases):
        begin -= phase.fraction
        local = ops.clip((pos - begin) / phase.fraction, 0.0, 1.0)
        here = ANNEALERS[phase.anneal](phase.start, phase.end, local)
        value = here if value is None else ops.where(
            pos < begin + phase.fraction, here, value
        )
    return value
