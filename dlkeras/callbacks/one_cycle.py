"""The one-cycle policy as a callback that installs schedules, then stays out of the way.

Example:

>>> import keras, numpy as np
>>> from dlkeras.callbacks import OneCycle
>>> from dlkeras.optimizers import ScheduledAdam
>>> x = np.random.rand(64, 4).astype("float32"); y = x.sum(axis=1)
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
>>> model.compile(optimizer=ScheduledAdam(), loss="mse")
>>> _ = model.fit(x, y, batch_size=16, epochs=2, callbacks=[OneCycle(1e-2)], verbose=0)
>>> float(model.optimizer.learning_rate) < 1e-6
True
"""

import keras

from dlkeras.distribute import strategy_scope
from dlkeras.freezing import build_optimizer_for_unfreezing
from dlkeras.installing import current_step, install_learning_rate, install_momentum
from dlkeras.keras_internals import learning_rate_object, set_learning_rate_object
from dlkeras.layer_groups import spread_learning_rates
from dlkeras.optimizers import sub_optimizers, supports_momentum_schedule
from dlkeras.schedules import CycleClock, OneCycleMomentum, OneCycleSchedule
from dlkeras.traced_cycles import cycle_shape, recall, remember, trace_settings


class OneCycle(keras.callbacks.Callback):
    """Installs one-cycle learning-rate and momentum schedules for this `fit`.

    At the first epoch of the fit, each group's optimizer gets a
    `OneCycleSchedule` (and a `OneCycleMomentum` where the optimizer can
    schedule momentum) spanning all the steps of this fit, starting at the
    current step. The schedules then run inside the compiled step; the
    callback does no per-batch work. On dlkeras optimizers they stay
    installed after the fit (the rate rests at its final value), so a
    checkpoint saved during or after the fit resumes the cycle. On plain
    Keras optimizers the rate is put back into their `learning_rate`
    variable at its final value when the fit ends, since a plain optimizer
    saved with a schedule no longer matches its checkpoint's variables.

    The schedules installed on dlkeras optimizers read their start step,
    length and peak rates from variables (a `CycleClock`). A later
    `OneCycle` of the same shape (`div`, `div_final`, `pct_start`, `moms`)
    on the same optimizer, while the model trains the same variables with
    the same `steps_per_execution` and `jit_compile`, assigns the new
    numbers to those variables instead of installing new schedules, so
    Keras keeps the train step it traced (no second trace of a repeated
    `fit_one_cycle`); `rearmed` says which of the two the last fit did.

    Args:
        lr_max: peak rate: a float, a `(lo, hi)` tuple spread over the
            layer groups, or a list with one rate per group.
        div, div_final, pct_start: as for `OneCycleSchedule`.
        moms: (start, middle, end) momentum, or None to leave momentum alone.
        total_steps: cycle length; default epochs x steps of this fit.
        start_step: the optimizer step the cycle began at; default the step
            this fit begins at (give it to resume a cycle mid-way).
    """

    def __init__(self, lr_max, div=25.0, div_final=1e5, pct_start=0.25,
                 moms=(0.95, 0.85, 0.95), total_steps=None, start_step=None):
        super().__init__()
        # Validate everything now rather than at the first epoch.
        spread_learning_rates(lr_max, 1 if not isinstance(lr_max, list) else len(lr_max))
        OneCycleSchedule(1.0, 1, div=div, div_final=div_final, pct_start=pct_start)
        if moms is not None:
            OneCycleMomentum(1, moms=moms, pct_start=pct_start)
        self.lr_max, self.div, self.div_final = lr_max, div, div_final
        self.pct_start, self.moms, self.total_steps = pct_start, moms, total_steps
        self.start_step = start_step
        self._installed = False
        self.rearmed = None

    def on_train_begin(self, logs=None):
        self._installed = False
        self._plain = []  # (optimizer, its learning-rate variable) to put back

    def on_train_end(self, logs=None):
        for optimizer, variable in self._plain:
            variable.assign(learning_rate_object(optimizer)(current_step(optimizer)))
            set_learning_rate_object(optimizer, variable)
        if self._plain:
            self.model.make_train_function(force=True)
        self._plain = []

    def _cycle_length(self, first_epoch):
        if self.total_steps is not None:
            return self.total_steps
        steps = self.params.get("steps")
        if not steps:
            raise ValueError(
                "OneCycle cannot tell how many steps this fit has (the dataset has no "
                "known length). Pass `steps_per_epoch` to fit, or `total_steps` to OneCycle.")
        return (self.params["epochs"] - first_epoch) * steps

    def on_epoch_begin(self, epoch, logs=None):
        if self._installed:
            return
        model = self.model
        build_optimizer_for_unfreezing(model)
        total = self._cycle_length(epoch)
        subs = sub_optimizers(model.optimizer)
        rates = spread_learning_rates(self.lr_max, len(subs))
        starts = [current_step(sub) if self.start_step is None else int(self.start_step)
                  for sub in subs]
        self._installed = True
        traced_with = trace_settings(model)
        shape = cycle_shape(self.div, self.div_final, self.pct_start, self.moms)
        kept = self._recall(model, subs, shape)
        if kept is not None:
            # A train step traced with schedules of this shape (by an earlier cycle, or by
            # the LR finder's sweep): put them back and use it, no new trace.
            schedules, model.train_function = kept
            for sub, (schedule, momentum) in zip(subs, schedules):
                install_learning_rate(sub, schedule)
                if self.moms is not None:
                    install_momentum(sub, momentum)
            for clock in {id(s.clock): s.clock for s, _ in schedules}.values():
                clock.traced_with = traced_with
        elif not all(self._can_rearm(sub, traced_with) for sub in subs):
            self._plain = install_one_cycle(model, subs, rates, starts, total, shape,
                                            traced_with)
            model.make_train_function(force=True)
            if not self._plain and all(supports_momentum_schedule(sub) for sub in subs):
                remember(model, shape, [(learning_rate_object(sub), sub.momentum_schedule)
                                        for sub in subs])
            self.rearmed = False
            return
        # Same shape as the cycle the traced step reads: new numbers only, no new trace.
        for sub, rate, start in zip(subs, rates, starts):
            learning_rate_object(sub).rearm(lr_max=rate, start_step=start, total_steps=total)
            if self.moms is not None:
                sub.momentum_schedule.rearm(start_step=start, total_steps=total)
        self.rearmed = True

    def _recall(self, model, subs, shape):
        """`(schedules, train function)` kept for this shape (`dlkeras.traced_cycles`) and
        usable on these optimizers now, or None."""
        if not all(supports_momentum_schedule(sub) for sub in subs):
            return None
        kept = recall(model, shape)
        if kept is None or len(kept[0]) != len(subs):
            return None
        if self.moms is None and any(sub.momentum_schedule is not momentum
                                     for sub, (_, momentum) in zip(subs, kept[0])):
            return None  # the step was traced with another momentum than the one kept now
        return kept

    def _can_rearm(self, optimizer, traced_with):
        """Whether `optimizer` already follows a clocked one-cycle of this callback's shape,
        installed while the model had the trainable variables and settings it has now."""
        schedule = learning_rate_object(optimizer)
        if not (supports_momentum_schedule(optimizer) and isinstance(schedule, OneCycleSchedule)
                and schedule.clock is not None
                and getattr(schedule.clock, "traced_with", None) == traced_with
                and (schedule.div, schedule.div_final, schedule.pct_start)
                == (self.div, self.div_final, self.pct_start)):
            return False
        momentum = optimizer.momentum_schedule
        if self.moms is None:  # momentum left alone: it must not move with the clock
            return getattr(momentum, "clock", None) is not schedule.clock
        return (isinstance(momentum, OneCycleMomentum) and momentum.clock is schedule.clock
                and momentum.moms == tuple(float(m) for m in self.moms)
                and momentum.pct_start == self.pct_start)


def install_one_cycle(model, subs, rates, starts, total, shape, traced_with):
    """Installs new one-cycle schedules of `shape` on each optimizer in `subs`.

    On dlkeras optimizers they follow one `CycleClock` per distinct start
    (every group of a `DiscriminativeOptimizer` shares one), so they can be
    rearmed later. Returns the `(optimizer, learning-rate variable)` pairs
    of plain Keras optimizers, whose variable must be put back after the fit.
    The train function must be made again afterwards.
    """
    div, div_final, pct_start, moms = shape
    clocks, plain = {}, []
    for sub, rate, start in zip(subs, rates, starts):
        schedule = OneCycleSchedule(rate, total, div=div, div_final=div_final,
                                    pct_start=pct_start, start_step=start)
        momentum = None if moms is None else OneCycleMomentum(
            total, moms=moms, pct_start=pct_start, start_step=start)
        if supports_momentum_schedule(sub):
            # The schedules stay installed: give them variables to rearm next time.
            if start not in clocks:
                with strategy_scope(model):
                    clocks[start] = CycleClock(start, total)
                clocks[start].traced_with = traced_with
            with strategy_scope(model):
                schedule.with_clock(clocks[start])
                if momentum is not None:
                    momentum.with_clock(clocks[start])
        elif isinstance(learning_rate_object(sub), keras.Variable):
            plain.append((sub, learning_rate_object(sub)))
        install_learning_rate(sub, schedule)
        if momentum is not None:
            install_momentum(sub, momentum)
    return plain
