"""The LR range test as a Keras callback.

Example:

>>> import keras, numpy as np
>>> from dlkeras.callbacks import LRFinder
>>> x = np.random.rand(256, 4).astype("float32"); y = x.sum(axis=1)
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
>>> model.compile(optimizer="adam", loss="mse")
>>> finder = LRFinder(total_steps=40)
>>> _ = model.fit(x, y, batch_size=32, epochs=5, callbacks=[finder], verbose=0)
>>> len(finder.lrs) <= 40 and (finder.suggestion is None) == bool(finder.no_suggestion_reason)
True
"""

import functools
import math
import numbers
import statistics
import time

import keras
import tensorflow as tf

from dlkeras.callbacks.one_cycle import OneCycle, install_one_cycle
from dlkeras.distribute import read_int, strategy_scope, uses_strategy
from dlkeras.freezing import build_optimizer_for_unfreezing
from dlkeras.installing import (
    OptimizerSnapshot,
    WeightsSnapshot,
    current_step,
    install_learning_rate,
    install_momentum,
)
from dlkeras.keras_internals import (
    learning_rate_object,
    set_learning_rate_object,
    step_counter,
    train_function_traced,
)
from dlkeras.lr_suggestions import (
    DEFAULT_RULE,
    RAW_LOSS_RULES,
    RECIPE_SETTINGS,
    SUGGESTERS,
    NoSuggestion,
    sweep_trouble,
)
from dlkeras.optimizers import sub_optimizers, supports_momentum_schedule
from dlkeras.plots import log_figure, plot_lr_finder
from dlkeras.step_evaluation import StepEvaluation
from dlkeras.traced_cycles import cycle_shape, recall, remember, trace_settings

LEVEL_WINDOW = 5  # raw losses in the running median that tells divergence from noise


def _checked_ratios(group_ratios):
    """`group_ratios` as a list of floats, or None; a clear error for anything else."""
    if group_ratios is None:
        return None
    values = list(group_ratios) if isinstance(group_ratios, (list, tuple)) else []
    if not values or not all(isinstance(r, numbers.Real) and not isinstance(r, bool)
                             and math.isfinite(r) and r > 0 for r in values):
        raise ValueError("`group_ratios` must be a list of positive floats, one per layer group. "
                         f"Received: group_ratios={group_ratios!r}")
    return [float(r) for r in values]


CYCLE_ARGUMENTS = ("div", "div_final", "pct_start", "moms")


def _checked_cycle(cycle):
    """`cycle` (a dict of `OneCycle` shape arguments) as a `cycle_shape` tuple, or None."""
    if cycle is None:
        return None
    if not isinstance(cycle, dict) or not set(cycle) <= set(CYCLE_ARGUMENTS):
        raise ValueError(f"`cycle` must be None or a dict with some of the keys {CYCLE_ARGUMENTS} "
                         f"(the shape of the OneCycle that trains next). Received: cycle={cycle!r}")
    OneCycle(1.0, **cycle)  # the same checks as the cycle itself
    return cycle_shape(**cycle)


def _held_position(shape, momentum):
    """The position in a one-cycle of `shape` where its momentum is `momentum`, or None.

    The sweep runs at the momentum the optimizer has; a cycle's momentum
    passes through every value between its first two `moms` during the
    warm-up, so the sweep holds the cycle there. Without `moms` (momentum
    left alone) it holds the cycle at its peak.
    """
    _, _, pct_start, moms = shape
    if moms is None:
        return pct_start
    if momentum is None:
        return None
    first, middle = moms[0], moms[1]
    if abs(first - middle) < 1e-12:
        return 0.0 if abs(momentum - first) <= 1e-6 else None
    cosine = 2.0 * (momentum - middle) / (first - middle) - 1.0  # cos(pi * u) in the warm-up
    if not -1.0 - 1e-6 <= cosine <= 1.0 + 1e-6:
        return None
    return math.acos(min(1.0, max(-1.0, cosine))) / math.pi * pct_start


class LRFinder(keras.callbacks.Callback):
    """Sweeps the learning rate up exponentially, one step at a time, and records the loss.

    The sweep goes from `start_lr` to `end_lr` in `total_steps` steps. It
    stops early when the loss diverges: when its running median over the
    last `LEVEL_WINDOW` steps (which lags by two steps, where fastai's EMA
    lags by about fifty) is above both its starting level and
    `stop_factor` times its best, or when it is not finite.

    The finder takes one step per call even if the model was compiled with
    `steps_per_execution > 1`, so the curve has one point per step. When the
    fit ends, or a step raises (an error, `KeyboardInterrupt`), the weights,
    the optimizer's state and learning-rate objects, `steps_per_execution`
    and the train function are put back exactly as they were. (An error
    raised by another callback skips Keras' `on_train_end`: call
    `restore()` then, as `dlkeras.lr_find` does.)

    If every group's learning rate is a variable (a compiled float rate),
    the sweep drives those variables and reuses the model's train function:
    no new trace. With layer groups every group's rate is swept: group `i`
    runs at the swept rate times `group_ratios[i]`, by default the ratios
    the groups had (the last group at the swept rate). A recipe whose
    groups train at fixed fractions of its `lr_max` (`fine_tune`) passes
    those fractions, so that `lrs` and the suggestions are its `lr_max`.

    How far below the divergence the default rule (`margin`) suggests
    depends on the recipe that will train at the rate (`recipe`; see
    `dlkeras.lr_suggestions.RECIPE_SETTINGS`): from-scratch
    `fit_one_cycle` suggests where the loss reaches its floor, at most a
    tenth of the divergence rate; `fine_tune` (swept on its unfrozen
    phase) a seventh of the divergence rate.

    Given `cycle` (the shape of the `OneCycle` that will train next), the
    sweep runs through that cycle's own schedules on dlkeras optimizers:
    they are installed (or taken from `dlkeras.traced_cycles` if a step was
    traced with them already), the cycle is held at the position where its
    momentum equals the optimizer's current one, and each step sets the
    peak rates so that the rate is the swept one. The cycle's `fit` then
    reuses the sweep's traced step instead of tracing its own. Nothing else
    changes: the sweep takes the same rates at the same momentum, and
    everything is put back afterwards. The sweep keeps to the plain path
    when the model's train step is traced already and reads its rates from
    variables (no trace at all then), under a distribution strategy, with
    plain Keras optimizers, or when the momentum is outside the cycle's.

    Args:
        start_lr: first swept rate (the last group's rate with default `group_ratios`).
        end_lr: learning rate reached after `total_steps`.
        total_steps: length of the sweep in optimizer steps.
        beta: smoothing of `losses` (exponential moving average, as fastai).
        stop_factor: divergence threshold, relative to the best running median.
        log_dir: if set, the plot goes to TensorBoard there as an image.
        group_ratios: one positive multiplier of the swept rate per layer
            group (optimizer of a `DiscriminativeOptimizer`), earliest
            first; None keeps the ratios of the groups' current rates.
        recipe: the recipe that will train at the suggestion,
            `"fit_one_cycle"` or `"fine_tune"`; it sets the `margin`
            rule's settings.
        cycle: None, or a dict of `OneCycle` shape arguments (`div`,
            `div_final`, `pct_start`, `moms`; missing ones take
            `fit_one_cycle`'s defaults) of the cycle that trains next.

    Attributes:
        lrs, raw_losses: the sweep, one point per step; `losses`: EMA-smoothed.
        suggestions: rate per rule name (`margin`, `valley`, `steep`,
            `minimum`); rules that have no trustworthy answer are left out.
        suggestion: the default rule's rate (`margin`), or None.
        no_suggestion_reason: one line saying why `suggestion` is None, else None.
        diverged: whether the sweep stopped because the loss blew up.
        step_seconds: median wall time of one training step of the sweep
            (its first step, which traces, left out), or None; a `Task`
            with `steps_per_execution="auto"` sizes its compiled calls by it.
        trace_seconds: how much longer the sweep's first step took than
            `step_seconds` (tracing the step and TensorFlow's optimisation of
            its graph; ~0 when the step was traced before), or None.
        rode_cycle: whether the last sweep ran through `cycle`'s schedules.
    """

    def __init__(self, start_lr=1e-7, end_lr=10.0, total_steps=100, beta=0.98,
                 stop_factor=4.0, log_dir=None, group_ratios=None, recipe="fit_one_cycle",
                 cycle=None):
        super().__init__()
        if recipe not in RECIPE_SETTINGS:
            raise ValueError(f"`recipe` must be one of {sorted(RECIPE_SETTINGS)}. "
                             f"Received: recipe={recipe!r}")
        self.recipe = recipe
        for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
            if isinstance(value, bool) or not (isinstance(value, numbers.Real)
                                               and math.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be a positive float. Received: {name}={value!r}")
        if not end_lr > start_lr:
            raise ValueError("`end_lr` must be larger than `start_lr`. "
                             f"Received: start_lr={start_lr}, end_lr={end_lr}")
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"`total_steps` must be an integer >= 1. Received: total_steps={total_steps!r}")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"`beta` must be in [0, 1). Received: beta={beta!r}")
        if not stop_factor > 1.0:
            raise ValueError(f"`stop_factor` must be > 1. Received: stop_factor={stop_factor!r}")
        self.start_lr, self.end_lr, self.total_steps = float(start_lr), float(end_lr), total_steps
        self.group_ratios = _checked_ratios(group_ratios)
        self.cycle = _checked_cycle(cycle)
        self.rode_cycle = False
        self.beta, self.stop_factor = beta, stop_factor
        self.log_dir = log_dir
        self._active = False
        self._clear()

    def _clear(self):
        self.lrs, self.losses, self.raw_losses = [], [], []
        self._step_times, self.step_seconds, self.trace_seconds = [], None, None
        self.suggestions, self.suggestion, self.diverged = {}, None, False
        self.no_suggestion_reason = "the sweep has not run yet"

    # --- Setting up and putting back ---------------------------------------

    def on_train_begin(self, logs=None):
        model = self.model
        self._clear()
        subs = sub_optimizers(model.optimizer)
        if self.group_ratios is not None and len(self.group_ratios) != len(subs):
            raise ValueError(
                f"`group_ratios` has {len(self.group_ratios)} entries but the optimizer has "
                f"{len(subs)} layer group(s). Received: group_ratios={self.group_ratios}")
        build_optimizer_for_unfreezing(model)
        self._weights = WeightsSnapshot(model)
        self._optimizer_state = OptimizerSnapshot(model.optimizer)
        self._compiled = (model.train_function, model.steps_per_execution)
        self._held = []  # (schedule, its lr_max) and (clock, its values) to put back
        self._active = True  # from here on, restore() has something to put back
        ratios = self._ratios(subs)
        position = self._cycle_position(subs)
        self.rode_cycle = position is not None
        if self.rode_cycle:
            self._rates = self._ride_cycle(subs, ratios, position)
            self._first_step = None
        else:
            self._rates, retrace = self._take_over_learning_rates(subs, ratios)
            if model.steps_per_execution != 1:
                model.steps_per_execution, retrace = 1, True
            if retrace:
                model.make_train_function(force=True)
            self._first_step = None if retrace else read_int(step_counter(model.optimizer))
            self._one_step = model.train_function
        # Keras calls `model.train_function` once per `steps_per_execution`
        # batches; this runs them one step at a time (public attribute).
        model.train_function = self._run_steps
        self._steps_per_call = self._compiled[1]
        self._ema, self._best_level = 0.0, math.inf

    def _ratios(self, optimizers):
        """Each group's rate as a multiple of the swept rate."""
        rates = [float(keras.ops.convert_to_numpy(o.learning_rate)) for o in optimizers]
        top = rates[-1] if rates[-1] > 0 else 1.0
        return self.group_ratios or [rate / top if rate > 0 else 1.0 for rate in rates]

    # --- Sweeping through the next cycle's schedules -------------------------

    def _cycle_position(self, subs):
        """Where to hold `cycle` during the sweep, or None to sweep the plain way."""
        model = self.model
        if self.cycle is None or uses_strategy(model) or \
                not all(supports_momentum_schedule(sub) for sub in subs):
            return None
        plain_traces = (model.steps_per_execution != 1 or not train_function_traced(model)
                        or any(not isinstance(learning_rate_object(sub), keras.Variable)
                               for sub in subs))
        if not plain_traces and recall(model, self.cycle) is None:
            return None  # the plain sweep reuses the traced step: nothing to save
        momenta = [float(keras.ops.convert_to_numpy(sub.current_momentum())) for sub in subs]
        if max(momenta) - min(momenta) > 1e-6:
            return None  # one clock cannot hold groups at different momenta
        return _held_position(self.cycle, momenta[0])

    def _ride_cycle(self, subs, ratios, position):
        """Installs (or recalls) the cycle's schedules and holds their clock; returns one
        `(set_rate, ratio)` per group."""
        model = self.model
        model.steps_per_execution = 1
        momenta_before = [sub.momentum_schedule for sub in subs]
        kept = recall(model, self.cycle)
        if kept is not None and len(kept[0]) == len(subs) and (
                self.cycle[3] is not None
                or all(m is before for (_, m), before in zip(kept[0], momenta_before))):
            schedules, self._one_step = kept
            for sub, (schedule, momentum) in zip(subs, schedules):
                install_learning_rate(sub, schedule)
                if self.cycle[3] is not None:
                    install_momentum(sub, momentum)
        else:
            step = current_step(subs[0])
            install_one_cycle(model, subs, [1.0] * len(subs), [step] * len(subs), 1,
                              self.cycle, trace_settings(model))
            model.make_train_function(force=True)
            self._one_step = model.train_function
            remember(model, self.cycle, [(learning_rate_object(sub), sub.momentum_schedule)
                                         for sub in subs])
        schedules = [learning_rate_object(sub) for sub in subs]
        clocks = list({id(s.clock): s.clock for s in schedules}.values())
        self._held = [(s, s.lr_max) for s in schedules] + [(c, c.values) for c in clocks]
        self._clocks, self._position = clocks, position
        self._step = current_step(subs[0])
        for clock in clocks:
            clock.hold(self._step, position)
        # The cycle's shape where it is held; each step scales it to the swept rate.
        self._unit = float(StepEvaluation.on_host(self._step).value(schedules[0])) / \
            schedules[0].lr_max
        return [(schedule.set_lr_max, ratio / self._unit)
                for schedule, ratio in zip(schedules, ratios)]

    def _hold_cycle(self):
        for clock in self._clocks:
            clock.hold(self._step, self._position)

    def _take_over_learning_rates(self, optimizers, ratios):
        """(setter, multiplier of the swept rate) per group; True if a new trace is needed.

        A group whose rate is already a variable keeps it (the traced step
        reads it). One that follows a schedule is driven through the
        optimizer's own (then unused) `learning_rate` variable, which dlkeras
        optimizers always keep, so the optimizer's variable list does not
        change; only a plain Keras optimizer built with a schedule, which has
        none, gets a fresh variable.
        """
        rates = [float(keras.ops.convert_to_numpy(o.learning_rate)) for o in optimizers]
        taken, retrace = [], False
        for optimizer, rate, ratio in zip(optimizers, rates, ratios):
            variable = learning_rate_object(optimizer)
            if not isinstance(variable, keras.Variable):
                variable = next((v for v in optimizer.variables if v.name == "learning_rate"), None)
                if variable is None:
                    with strategy_scope(self.model):
                        variable = keras.Variable(rate, dtype="float32", trainable=False,
                                                  name="lr_finder_rate")
                set_learning_rate_object(optimizer, variable)
                retrace = True
            taken.append((variable.assign, ratio))
        return taken, retrace

    def restore(self):
        """Puts weights, optimizer, `steps_per_execution` and train function back (idempotent)."""
        if not self._active:
            return
        self._active = False
        model = self.model
        model.train_function, model.steps_per_execution = self._compiled
        self._weights.restore()
        self._optimizer_state.restore()
        for held, value in self._held:  # the swept cycle's numbers, as they were
            if hasattr(held, "set_lr_max"):
                held.set_lr_max(value)
            else:
                held.set(*value)

    def on_train_end(self, logs=None):
        self.restore()
        self._suggest()
        if self.log_dir is not None and self.lrs:
            log_figure(self.plot(), self.log_dir, "lr_finder")

    # --- The sweep -----------------------------------------------------------

    def _run_steps(self, iterator):
        logs = None
        for _ in range(self._steps_per_call):
            if self.model.stop_training:
                break
            fraction = len(self.raw_losses) / self.total_steps
            rate = self.start_lr * (self.end_lr / self.start_lr) ** fraction
            if self.rode_cycle:
                self._hold_cycle()
            for set_rate, ratio in self._rates:
                set_rate(rate * ratio)
            self.model.reset_metrics()  # so the logs hold this step's loss only
            started = time.perf_counter()
            try:
                logs = self._one_step(iterator)
                self._step_times.append(time.perf_counter() - started)
                if self.rode_cycle:
                    self._step += 1
            except (StopIteration, tf.errors.OutOfRangeError):
                if logs is None:
                    raise
                break  # the data ran out; Keras ends the epoch at the next call
            except BaseException:
                self.restore()
                raise
            if self._first_step is not None and not self._took_one_step():
                continue  # that call ran several steps: not a point of the curve
            self._record(rate, float(logs["loss"]))
        return logs

    def _took_one_step(self):
        """Checks, after the first call, that the reused train function runs one step.

        A train function traced while `steps_per_execution` was larger keeps
        running that many steps even after the attribute is set to 1 (Keras
        reads it when tracing); such a function is replaced by a new one.
        """
        taken = read_int(step_counter(self.model.optimizer)) - self._first_step
        self._first_step = None
        if taken == 1:
            return True
        self.model.make_train_function(force=True)
        self._one_step, self.model.train_function = self.model.train_function, self._run_steps
        return False

    def _record(self, rate, loss):
        self.lrs.append(rate)
        self.raw_losses.append(loss)
        if not math.isfinite(loss):
            self.losses.append(loss)
            self.diverged = self.model.stop_training = True
            return
        count = len(self.raw_losses)
        self._ema = self.beta * self._ema + (1 - self.beta) * loss
        self.losses.append(self._ema / (1 - self.beta ** count))
        level = statistics.median(self.raw_losses[-LEVEL_WINDOW:])
        self._best_level = min(self._best_level, level)
        start = statistics.median(self.raw_losses[:LEVEL_WINDOW])
        best = self._best_level
        if count >= LEVEL_WINDOW and level > max(start, best + (self.stop_factor - 1) * abs(best)):
            self.diverged = self.model.stop_training = True
        if count >= self.total_steps:
            self.model.stop_training = True

    def _suggest(self):
        self.suggestions, self.suggestion = {}, None
        if len(self._step_times) > 1:
            self.step_seconds = statistics.median(self._step_times[1:])
            self.trace_seconds = max(0.0, self._step_times[0] - self.step_seconds)
        if not self.lrs:
            self.no_suggestion_reason = "the sweep recorded no step"
            return
        trouble = sweep_trouble(self.lrs, self.raw_losses)
        self.no_suggestion_reason = trouble
        if trouble is not None:
            return
        smoothed_lrs, smoothed = self.lrs, self.losses
        if len(smoothed) > 10:
            # fastai's rules skip the EMA's warm-up (first tenth) and the blow-up.
            smoothed_lrs, smoothed = smoothed_lrs[len(smoothed) // 10:-5], smoothed[len(smoothed) // 10:-5]
        reasons = {}
        for name, rule in SUGGESTERS.items():
            if name == "margin":
                rule = functools.partial(rule, **RECIPE_SETTINGS[self.recipe])
            curve = (self.lrs, self.raw_losses) if name in RAW_LOSS_RULES else (smoothed_lrs, smoothed)
            try:
                self.suggestions[name] = rule(*curve)
            except NoSuggestion as error:
                reasons[name] = str(error)
        self.suggestion = self.suggestions.get(DEFAULT_RULE)
        self.no_suggestion_reason = reasons.get(DEFAULT_RULE)

    def plot(self):
        """Raw and smoothed loss against the learning rate, suggestions marked (a Figure)."""
        if not self.lrs:
            raise ValueError("The LR finder has not run yet: call fit with it first.")
        return plot_lr_finder(self.lrs, self.losses, self.suggestions,
                              raw_losses=self.raw_losses, note=self.no_suggestion_reason)
