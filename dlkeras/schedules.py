"""Learning-rate and momentum schedules evaluated on the optimizer's step.

Every schedule is a `keras.optimizers.schedules.LearningRateSchedule`: the
optimizer calls it with its step counter inside the compiled train step, so
the value changes at every step whatever `steps_per_execution` or
`jit_compile` are. `start_step` shifts a schedule to begin at the step a
`fit` begins, so calling `fit` twice works.

Example:

>>> import keras
>>> from dlkeras.schedules import OneCycleSchedule
>>> schedule = OneCycleSchedule(lr_max=1e-2, total_steps=100)
>>> round(float(schedule(0)), 6), round(float(schedule(25)), 6)
(0.0004, 0.01)
>>> optimizer = keras.optimizers.Adam(learning_rate=schedule)
"""

import math

import keras

from dlkeras.annealers import Phase, join_phases, locate
from dlkeras.step_evaluation import StepEvaluation

_REGISTER = keras.saving.register_keras_serializable(package="dlkeras")


def _positive(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
    return float(value)


def _step_count(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
    return value


def _fraction(name, value):
    if not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must be strictly between 0 and 1. Received: {name}={value!r}")
    return float(value)


def _start(value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`start_step` must be an integer >= 0. Received: start_step={value!r}")
    return value


HOLD_STEPS = 2 ** 20  # cycle length while a clock is held: positions are multiples of 2**-20


class CycleClock:
    """Where a cycle begins and how many steps it lasts, as variables the traced step reads.

    A schedule given a clock (`_StepSchedule.with_clock`) reads its
    `start_step` and `total_steps` (and a scaled schedule its `lr_max`) from
    variables instead of baking them into the traced train step. `OneCycle`
    gives the schedules it installs one clock shared by every layer group;
    a later cycle of the same shape on the same optimizer then only assigns
    new values (`rearm`), and Keras keeps the train function it traced.

    Move it with `set` (or a schedule's `rearm`), never by assigning its
    variables: `values`, the Python `(start_step, total_steps)` the
    variables hold, is what a host evaluation (`StepEvaluation.on_host`,
    the hyper-parameter logger) reads instead of them.

    Args:
        start_step: optimizer step at which the cycle begins.
        total_steps: number of optimizer steps in the cycle.

    Example:

    >>> schedule = OneCycleSchedule(1e-2, total_steps=100).with_clock(CycleClock(0, 100))
    >>> round(float(schedule(25)), 6)
    0.01
    >>> schedule.rearm(lr_max=1e-3, start_step=100, total_steps=10)
    >>> round(float(schedule(100)), 6), schedule.get_config()["start_step"]
    (4e-05, 100)
    """

    def __init__(self, start_step, total_steps):
        _start(start_step)
        _step_count("total_steps", total_steps)
        self.start_step = keras.Variable(float(start_step), dtype="float32", trainable=False,
                                         name="cycle_start_step")
        self.total_steps = keras.Variable(float(total_steps), dtype="float32", trainable=False,
                                          name="cycle_total_steps")
        self.values = (int(start_step), int(total_steps))

    def set(self, start_step, total_steps):
        """Moves the cycle: it begins at `start_step` and lasts `total_steps` steps."""
        self.start_step.assign(float(_start(start_step)))
        self.total_steps.assign(float(_step_count("total_steps", total_steps)))
        # What the variables hold, for evaluating schedules on the host without reading them.
        self.values = (int(start_step), int(total_steps))

    def hold(self, step, position, total_steps=HOLD_STEPS):
        """Moves the cycle so that optimizer step `step` is at `position` of it.

        `position` is rounded to a multiple of `1 / total_steps`. The start
        may fall before step 0 (the LR finder holds a cycle at one position
        while it sweeps through the cycle's schedules, moving it each step).
        Put the clock back with `set` afterwards.
        """
        if isinstance(position, bool) or not isinstance(position, (int, float)) \
                or not 0.0 <= position <= 1.0:
            raise ValueError(f"`position` must be a number in [0, 1]. Received: position={position!r}")
        _step_count("total_steps", total_steps)
        offset = int(round(float(position) * total_steps))
        start = int(step) - offset
        self.start_step.assign(float(start))
        if self.values[1] != total_steps:
            self.total_steps.assign(float(total_steps))
        self.values = (start, int(total_steps))


class _StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Shared plumbing: steps since `start_step`, evaluation through a `StepEvaluation`.

    Subclasses compute `_value(evaluation)`; `evaluate` remembers it per step
    under the schedule's config, so equal schedules (e.g. one momentum
    schedule per layer group) cost one evaluation a step.
    """

    _clock = None  # a CycleClock once `with_clock` was called
    _lr_max_variable = None

    def __call__(self, step):
        return self.evaluate(StepEvaluation(step))

    def evaluate(self, evaluation):
        """This schedule's value at `evaluation`'s step, sharing what other schedules computed."""
        return evaluation.memo(_memo_key(self, self._key_config()),
                               lambda: self._value(evaluation))

    def with_clock(self, clock):
        """Makes this schedule read its start, length (and peak rate) from variables; returns it.

        The Python attributes (`start_step`, `total_steps`, `lr_max`) keep
        the current values, so `get_config` saves the schedule as it runs.
        Only schedules with a `total_steps` can follow a clock.
        """
        if not isinstance(clock, CycleClock):
            raise TypeError(f"`clock` must be a CycleClock. Received: clock={clock!r}")
        if not hasattr(self, "total_steps"):
            raise ValueError(f"{type(self).__name__} has no `total_steps`: it cannot follow a "
                             "CycleClock.")
        clock.set(self.start_step, self.total_steps)
        self._clock = clock
        if isinstance(self, _ScaledSchedule):
            self._lr_max_variable = keras.Variable(self.lr_max, dtype="float32",
                                                   trainable=False, name="cycle_lr_max")
        return self

    @property
    def clock(self):
        """The `CycleClock` this schedule follows, or None."""
        return self._clock

    def rearm(self, *, start_step, total_steps, lr_max=None):
        """Starts this clocked schedule over: same shape, new start, length and peak rate.

        Assigns variables only, so a train step traced with the schedule
        stays valid. The clock moves for every schedule that shares it.
        """
        if self._clock is None:
            raise ValueError("Only a schedule given a CycleClock (`with_clock`) can be rearmed.")
        self._clock.set(start_step, total_steps)
        self.start_step, self.total_steps = int(start_step), int(total_steps)
        if lr_max is not None:
            if self._lr_max_variable is None:
                raise ValueError(f"{type(self).__name__} has no `lr_max` to rearm.")
            self.lr_max = _positive("lr_max", lr_max)
            self._lr_max_variable.assign(self.lr_max)

    def set_lr_max(self, lr_max):
        """Assigns a new peak rate to a clocked schedule, leaving its clock alone."""
        if self._lr_max_variable is None:
            raise ValueError(f"{type(self).__name__} has no `lr_max` variable to set "
                             "(only clocked scaled schedules have one).")
        self.lr_max = _positive("lr_max", lr_max)
        self._lr_max_variable.assign(self.lr_max)

    def _key_config(self):
        """The config that tells this schedule's values apart, with a clock's identity in place
        of the numbers it holds (they change without a new trace)."""
        config = self.get_config()
        if self._clock is not None:
            config["start_step"] = config["total_steps"] = ("clock", id(self._clock))
        return config

    def _start_key(self):
        return ("clock", id(self._clock)) if self._clock is not None else self.start_step

    def _elapsed(self, evaluation):
        if self._clock is not None:
            start = evaluation.read(self._clock.start_step, self._clock.values[0])
        else:
            start = float(self.start_step)
        return evaluation.memo(("elapsed", self._start_key()),
                               lambda: evaluation.step - start)

    def _position(self, evaluation):
        if self._clock is not None:
            total = evaluation.read(self._clock.total_steps, self._clock.values[1])
            key = ("position", self._start_key())
        else:
            total, key = float(self.total_steps), ("position", self.start_step, self.total_steps)
        return evaluation.memo(
            key, lambda: evaluation.xp.clip(self._elapsed(evaluation) / total, 0.0, 1.0))

    def _located_key(self, phases):
        total = self.total_steps if self._clock is None else None
        return ("located", self._start_key(), total, tuple(p.fraction for p in phases))

    def _located(self, evaluation, phases):
        fractions = tuple(p.fraction for p in phases)
        return evaluation.memo(
            self._located_key(phases),
            lambda: locate(fractions, self._position(evaluation), evaluation.xp))

    def _join(self, evaluation, phases):
        # Pieces of the location (the cosine wave) are shared by every schedule located alike.
        located_key = self._located_key(phases)
        return join_phases(phases, None, located=self._located(evaluation, phases),
                           xp=evaluation.xp,
                           memo=lambda key, compute: evaluation.memo((key, located_key), compute))


def _memo_key(schedule, config):
    return (type(schedule).__name__,) + tuple(
        (k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(config.items()))


class _ScaledSchedule(_StepSchedule):
    """A schedule equal to `lr_max` times a shape that does not depend on `lr_max`.

    Every layer group's copy (same cycle, another peak rate) shares one
    evaluation of the shape per step and scales it by its own `lr_max`.
    """

    def evaluate(self, evaluation):
        config = dict(self._key_config(), lr_max=1.0)
        scale = self.lr_max if self._lr_max_variable is None else evaluation.read(
            self._lr_max_variable, self.lr_max)
        return scale * evaluation.memo(_memo_key(self, config),
                                       lambda: self._join(evaluation, self._unit_phases))


@_REGISTER
class OneCycleSchedule(_ScaledSchedule):
    """The one-cycle learning rate: cosine warm-up to `lr_max`, cosine decay.

    Rises from `lr_max / div` to `lr_max` over the first `pct_start` of
    `total_steps`, then falls to `lr_max / div_final` (fastai's defaults).

    Args:
        lr_max: peak learning rate.
        total_steps: number of optimizer steps in the cycle.
        div: initial rate is `lr_max / div`.
        div_final: final rate is `lr_max / div_final`.
        pct_start: fraction of the cycle spent warming up, in (0, 1).
        start_step: optimizer step at which the cycle begins.

    Example:

    >>> schedule = OneCycleSchedule(1e-3, total_steps=10)
    >>> float(schedule(10)) < 1e-7
    True
    """

    def __init__(self, lr_max, total_steps, div=25.0, div_final=1e5,
                 pct_start=0.25, start_step=0):
        self.lr_max = _positive("lr_max", lr_max)
        self.total_steps = _step_count("total_steps", total_steps)
        self.div = _positive("div", div)
        self.div_final = _positive("div_final", div_final)
        self.pct_start = _fraction("pct_start", pct_start)
        self.start_step = _start(start_step)
        self._unit_phases = [
            Phase(self.pct_start, "cos", 1.0 / self.div, 1.0),
            Phase(1.0 - self.pct_start, "cos", 1.0, 1.0 / self.div_final),
        ]

    def get_config(self):
        return {"lr_max": self.lr_max, "total_steps": self.total_steps, "div": self.div,
                "div_final": self.div_final, "pct_start": self.pct_start,
                "start_step": self.start_step}


@_REGISTER
class OneCycleMomentum(_StepSchedule):
    """The momentum that goes with one-cycle: high, down to low, back up.

    Args:
        total_steps: number of optimizer steps in the cycle.
        moms: (start, middle, end) momentum; fastai uses (0.95, 0.85, 0.95).
        pct_start: fraction of the cycle until `middle` is reached.
        start_step: optimizer step at which the cycle begins.

    Example:

    >>> round(float(OneCycleMomentum(100)(25)), 6)
    0.85
    """

    def __init__(self, total_steps, moms=(0.95, 0.85, 0.95), pct_start=0.25, start_step=0):
        self.total_steps = _step_count("total_steps", total_steps)
        moms = tuple(float(m) for m in moms)
        if len(moms) != 3 or not all(0.0 <= m < 1.0 for m in moms):
            raise ValueError(
                "`moms` must be three momentum values in [0, 1). "
                f"Received: moms={moms!r}")
        self.moms = moms
        self.pct_start = _fraction("pct_start", pct_start)
        self.start_step = _start(start_step)
        self._phases = [
            Phase(self.pct_start, "cos", moms[0], moms[1]),
            Phase(1.0 - self.pct_start, "cos", moms[1], moms[2]),
        ]

    def _value(self, evaluation):
        return self._join(evaluation, self._phases)

    def get_config(self):
        return {"total_steps": self.total_steps, "moms": list(self.moms),
                "pct_start": self.pct_start, "start_step": self.start_step}


@_REGISTER
class FlatCosSchedule(_ScaledSchedule):
    """Flat at `lr_max` for `pct_start` of the steps, then cosine down to `lr_max / div_final`.

    Example:

    >>> schedule = FlatCosSchedule(1e-3, total_steps=100)
    >>> float(schedule(50)) == float(schedule(0))
    True
    """

    def __init__(self, lr_max, total_steps, pct_start=0.75, div_final=1e5, start_step=0):
        self.lr_max = _positive("lr_max", lr_max)
        self.total_steps = _step_count("total_steps", total_steps)
        self.pct_start = _fraction("pct_start", pct_start)
        self.div_final = _positive("div_final", div_final)
        self.start_step = _start(start_step)
        self._unit_phases = [
            Phase(self.pct_start, "constant", 1.0, 1.0),
            Phase(1.0 - self.pct_start, "cos", 1.0, 1.0 / self.div_final),
        ]

    def get_config(self):
        return {"lr_max": self.lr_max, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_final": self.div_final, "start_step": self.start_step}


@_REGISTER
class SGDRSchedule(_StepSchedule):
    """Cosine annealing with warm restarts (SGDR).

    Cycle `i` lasts `cycle_len * cycle_mult**i` steps and anneals from
    `lr_max` to `lr_min`; the cycle index is computed in closed form, so no
    branch is needed.

    Example:

    >>> schedule = SGDRSchedule(1.0, cycle_len=10, cycle_mult=2)
    >>> float(schedule(10)), float(schedule(30))
    (1.0, 1.0)
    """

    def __init__(self, lr_max, cycle_len, cycle_mult=2.0, lr_min=0.0, start_step=0):
        self.lr_max = _positive("lr_max", lr_max)
        self.cycle_len = _step_count("cycle_len", cycle_len)
        if not isinstance(cycle_mult, (int, float)) or cycle_mult < 1:
            raise ValueError(f"`cycle_mult` must be >= 1. Received: cycle_mult={cycle_mult!r}")
        self.cycle_mult = float(cycle_mult)
        if not 0 <= lr_min < self.lr_max:
            raise ValueError(
                f"`lr_min` must be in [0, lr_max). Received: lr_min={lr_min!r}, lr_max={lr_max!r}")
        self.lr_min = float(lr_min)
        self.start_step = _start(start_step)

    def _value(self, evaluation):
        xp = evaluation.xp
        t = xp.maximum(self._elapsed(evaluation), 0.0)
        length = float(self.cycle_len)
        if self.cycle_mult == 1.0:
            pos = xp.mod(t, length) / length
        else:
            m = self.cycle_mult
            # Small epsilon so exact cycle boundaries land in the next cycle.
            index = xp.floor(xp.log1p(t * (m - 1.0) / length + 1e-6) / math.log(m))
            begin = length * (xp.power(m, index) - 1.0) / (m - 1.0)
            pos = xp.clip((t - begin) / (length * xp.power(m, index)), 0.0, 1.0)
        return self.lr_min + (self.lr_max - self.lr_min) / 2.0 * (1.0 + xp.cos(math.pi * pos))

    def get_config(self):
        return {"lr_max": self.lr_max, "cycle_len": self.cycle_len,
                "cycle_mult": self.cycle_mult, "lr_min": self.lr_min,
                "start_step": self.start_step}


@_REGISTER
class TriangularSchedule(_StepSchedule):
    """Cyclical learning rate (Smith's triangular policy).

    Goes linearly from `lr_min` up to `lr_max` in `step_size` steps and back
    down in as many, forever.

    Example:

    >>> schedule = TriangularSchedule(0.1, 1.0, step_size=5)
    >>> [round(float(schedule(s)), 2) for s in (0, 5, 10)]
    [0.1, 1.0, 0.1]
    """

    def __init__(self, lr_min, lr_max, step_size, start_step=0):
        self.lr_min = _positive("lr_min", lr_min)
        self.lr_max = _positive("lr_max", lr_max)
        if self.lr_max < self.lr_min:
            raise ValueError(
                f"`lr_max` must be >= `lr_min`. Received: lr_min={lr_min}, lr_max={lr_max}")
        self.step_size = _step_count("step_size", step_size)
        self.start_step = _start(start_step)

    def _value(self, evaluation):
        xp = evaluation.xp
        t = xp.maximum(self._elapsed(evaluation), 0.0) / float(self.step_size)
        distance = xp.abs(xp.mod(t, 2.0) - 1.0)  # 1 at a trough, 0 at a peak
        return self.lr_min + (self.lr_max - self.lr_min) * (1.0 - distance)

    def get_config(self):
        return {"lr_min": self.lr_min, "lr_max": self.lr_max,
                "step_size": self.step_size, "start_step": self.start_step}


@_REGISTER
class ExponentialSweep(_StepSchedule):
    """Geometric sweep from `start_lr` to `end_lr` in `total_steps` (the LR range test).

    Example:

    >>> sweep = ExponentialSweep(1e-7, 10.0, total_steps=100)
    >>> round(float(sweep(50)), 8)
    0.001
    """

    def __init__(self, start_lr, end_lr, total_steps, start_step=0):
        self.start_lr = _positive("start_lr", start_lr)
        self.end_lr = _positive("end_lr", end_lr)
        if self.end_lr <= self.start_lr:
            raise ValueError(
                "`end_lr` must be larger than `start_lr`. "
                f"Received: start_lr={start_lr}, end_lr={end_lr}")
        self.total_steps = _step_count("total_steps", total_steps)
        self.start_step = _start(start_step)

    def _value(self, evaluation):
        pos = self._position(evaluation)
        return self.start_lr * evaluation.xp.power(self.end_lr / self.start_lr, pos)

    def get_config(self):
        return {"start_lr": self.start_lr, "end_lr": self.end_lr,
                "total_steps": self.total_steps, "start_step": self.start_step}


def with_start_step(schedule, start_step):
    """Returns a copy of a dlkeras schedule that begins at `start_step`."""
    config = schedule.get_config()
    config["start_step"] = int(start_step)
    return type(schedule).from_config(config)
