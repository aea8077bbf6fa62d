"""What every dlkeras optimizer adds to its Keras class: schedules that take effect.

Keras bakes a float `beta_1` / `momentum` into the traced train step, so a
callback that changes it later has no effect (keras3-notes 1). The mixin
below lets the momentum be a `LearningRateSchedule` evaluated inside the
compiled step, like the learning rate, and evaluates both once per step on
a *schedule step*: the optimizer's raw per-batch counter (the one Keras
evaluates learning-rate schedules on, also with
`gradient_accumulation_steps`), or a parent `DiscriminativeOptimizer`'s
counter, so every layer group follows the same position in a cycle even
after being frozen for a while.

It also makes Keras' options work when only some of the variables the
optimizer was built on train (dlkeras builds optimizers on every variable
that may ever train, then freezes): the EMA of `use_ema=True` pairs each
variable with its own average, by identity, never by position, and the
average of a variable that does not train in a step follows its value.

Example:

>>> from dlkeras.optimizers import ScheduledAdamW
>>> from dlkeras.schedules import OneCycleSchedule, OneCycleMomentum
>>> optimizer = ScheduledAdamW(
...     learning_rate=OneCycleSchedule(1e-3, total_steps=100),
...     beta_1=OneCycleMomentum(total_steps=100),
...     weight_decay=0.01)
>>> round(float(optimizer.current_momentum()), 6)
0.95
"""

import math
import numbers
import re

import keras
import tensorflow as tf
from keras import ops
from keras.optimizers.schedules import LearningRateSchedule
from keras.saving import deserialize_keras_object, serialize_keras_object

from dlkeras.keras_internals import (
    built_variables,
    ema_average,
    learning_rate_object,
    set_learning_rate_object,
    step_counter,
    track_variable,
    variable_key,
)
from dlkeras.optimizers.restoring import RestorableBuild, is_stand_in
from dlkeras.step_evaluation import StepEvaluation


def momentum_argument(name, value, allow_one):
    """Splits a momentum argument into `(schedule or None, constant for Keras)`.

    Accepts what Keras accepts (a Python or NumPy float, and for Adam's
    `beta_1` a constant tensor or a `keras.Variable`) plus a schedule. The
    constant of a schedule is its value at step 0, or 0.5 when that is 0
    (SGD creates its momentum slots only for a non-zero momentum).
    """
    if isinstance(value, LearningRateSchedule):
        start = float(value(0))
        return value, start if start > 0 else 0.5
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = concrete = float(value)
    elif not allow_one and (isinstance(value, keras.Variable) or tf.is_tensor(value)):
        concrete = _eager_scalar(value)  # None inside a trace: not checked
    else:
        concrete = math.nan
    if concrete is not None and not (0 <= concrete <= 1 and (allow_one or concrete < 1)):
        kinds = "[0, 1]" if allow_one else "[0, 1), a constant float tensor,"
        raise ValueError(f"`{name}` must be a float between {kinds} or a LearningRateSchedule. "
                         f"Received: {name}={value!r}")
    return None, value


def _eager_scalar(value):
    """The float value of a scalar tensor or variable, or None inside a trace."""
    try:
        return float(ops.convert_to_numpy(value))
    except (TypeError, ValueError, NotImplementedError, AttributeError):
        return None


def weight_decay_patterns(value):
    """Normalises `weight_decay_exclude` to a list of regex strings (or None)."""
    if value is None:
        return None
    patterns = [value] if isinstance(value, str) else value
    if not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(
            "`weight_decay_exclude` must be a regex string or a list of them, matched "
            f"against variable paths. Received: weight_decay_exclude={value!r}")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(
                f"`weight_decay_exclude` holds an invalid regex ({error}). "
                f"Received: weight_decay_exclude={value!r}") from None
    return list(patterns)


class ScheduledHyperparameters(RestorableBuild):
    """Mixin placed before a Keras optimizer class (see the module docstring)."""

    _momentum_attr = None  # "beta_1" or "momentum"

    def _init_scheduled(self, momentum_schedule, weight_decay_exclude):
        """Called by subclasses right after the Keras constructor."""
        self._momentum_schedule = momentum_schedule
        self.weight_decay_exclude = weight_decay_patterns(weight_decay_exclude)
        self._step_learning_rate = None
        self._step_momentum = None
        self._step_momentum_complement = None  # 1 - the scheduled momentum, during `apply`
        self._step_variable_keys = None
        self._init_restorable_build()
        self._track_learning_rate_variable()

    def _track_learning_rate_variable(self):
        """Gives the optimizer a `learning_rate` variable even when it got a schedule.

        Keras creates that variable only for a float rate. Keeping one always
        means the variable layout (which checkpoints are matched by) is the
        same whether a schedule was passed, installed later, or neither.
        """
        if isinstance(learning_rate_object(self), keras.Variable):
            return
        with keras.name_scope(self.name, caller=self):
            variable = keras.Variable(
                float(keras.ops.convert_to_numpy(self._get_current_learning_rate())),
                name="learning_rate", dtype=keras.config.floatx(), trainable=False,
                aggregation="only_first_replica")
        track_variable(self, variable)

    @property
    def learning_rate(self):
        return self._get_current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, value):
        # Keras' setter untracks the `learning_rate` variable when given a
        # schedule (the variable layout changes and `model.export` fails);
        # here it stays, and a float afterwards goes back into it.
        if isinstance(value, LearningRateSchedule) or callable(value):
            set_learning_rate_object(self, value)
            return
        variable = next(v for v in self.variables if v.name == "learning_rate")
        variable.assign(value)
        set_learning_rate_object(self, variable)

    # --- Schedules ----------------------------------------------------------

    @property
    def schedule_step(self):
        """The step schedules are evaluated on: a parent's counter if attached,
        else this optimizer's per-batch counter (as Keras evaluates schedules)."""
        source = getattr(self, "_schedule_step_source", None)
        return step_counter(self) if source is None else source()

    def attach_schedule_step(self, source, evaluation=None):
        """Evaluates this optimizer's schedules on `source()` instead of its own counter.

        `evaluation()`, if given, returns the parent's `StepEvaluation` of the
        step being applied (or None), so groups share what they have in common.
        """
        self._schedule_step_source = source
        self._schedule_evaluation_source = evaluation

    def _step_evaluation(self):
        source = getattr(self, "_schedule_evaluation_source", None)
        shared = None if source is None else source()
        return StepEvaluation(self.schedule_step) if shared is None else shared

    def _get_current_learning_rate(self):
        if self._step_learning_rate is not None:
            return self._step_learning_rate
        schedule = learning_rate_object(self)
        if isinstance(schedule, LearningRateSchedule):
            return schedule(self.schedule_step)
        return super()._get_current_learning_rate()

    @property
    def momentum_schedule(self):
        return self._momentum_schedule

    @momentum_schedule.setter
    def momentum_schedule(self, schedule):
        if schedule is not None and not isinstance(schedule, LearningRateSchedule):
            raise ValueError(
                "`momentum_schedule` must be a LearningRateSchedule or None. "
                f"Received: momentum_schedule={schedule!r}")
        self._momentum_schedule = schedule

    def current_momentum(self):
        """The momentum (beta_1 for Adam) the next step will use."""
        if self._momentum_schedule is None:
            return getattr(self, self._momentum_attr)
        return self._momentum_schedule(self.schedule_step)

    def _momentum_of_step(self):
        """Inside `apply`: the momentum of this step (a tensor if scheduled)."""
        if self._momentum_schedule is None:
            return getattr(self, self._momentum_attr)
        return self._step_momentum

    def apply(self, grads, trainable_variables=None):
        # Schedules are evaluated once per step. Keras reads `learning_rate`
        # again for every variable's weight decay, and update_step reads the
        # momentum for every variable: both get these tensors.
        evaluation = self._step_evaluation()
        if self._momentum_schedule is not None:
            momentum = ops.cast(evaluation.value(self._momentum_schedule), "float32")
            self._step_momentum = momentum
            # `1 - momentum` once for every group sharing the evaluation; computed here, before
            # Keras' update (which may run inside a `cond`, out of the other groups' reach).
            # The memo keeps `momentum` alive, so no other tensor can take its id meanwhile.
            kept, complement = evaluation.memo(("1 - momentum", id(momentum)),
                                               lambda: (momentum, 1 - momentum))
            self._step_momentum_complement = complement if kept is momentum else 1 - momentum
        schedule = learning_rate_object(self)
        if isinstance(schedule, LearningRateSchedule):
            self._step_learning_rate = evaluation.value(schedule)
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step_learning_rate = None
            self._step_momentum = None
            self._step_momentum_complement = None

    # --- Weight decay -------------------------------------------------------

    def _use_weight_decay(self, variable):
        if self.weight_decay_exclude:
            path = getattr(variable, "path", variable.name)
            if any(re.search(pattern, path) for pattern in self.weight_decay_exclude):
                return False
        return super()._use_weight_decay(variable)

    # --- EMA, by identity ---------------------------------------------------

    def _backend_apply_gradients(self, grads, trainable_variables):
        # Keras updates (and periodically overwrites) the EMA of every variable
        # the optimizer was built on; only those that train in this step may.
        self._step_variable_keys = frozenset(variable_key(self, v) for v in trainable_variables)
        try:
            return super()._backend_apply_gradients(grads, trainable_variables)
        finally:
            self._step_variable_keys = None

    def _ema_targets(self, variables):
        keys = self._step_variable_keys
        if keys is None:
            return list(variables)
        return [v for v in variables if variable_key(self, v) in keys]

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        if self._step_variable_keys is not None:
            self.hold_untrained_averages(self._step_variable_keys)
        for variable in self._ema_targets(trainable_variables):
            average = ema_average(self, variable)
            if average is None:
                continue
            # Keras' rule: the first update copies the variable.
            momentum = ops.multiply(ops.cast(ops.not_equal(self.iterations, 0), variable.dtype),
                                    self.ema_momentum)
            average.assign(ops.add(ops.multiply(momentum, average),
                                   ops.multiply(ops.subtract(1, momentum), variable)))

    def hold_untrained_averages(self, trained_keys=frozenset()):
        """Sets the EMA average of each variable that does not train in this step to its value.

        A frozen variable has no history worth averaging: its average follows
        its value (Keras' update of a constant gives the same, to rounding), so
        a group unfrozen later starts its average at the value it has then,
        also when weights were loaded while it was frozen. `DiscriminativeOptimizer`
        calls this for a group with nothing to train in a step.
        """
        if not self.use_ema:
            return
        for variable in built_variables(self):
            if is_stand_in(variable) or variable_key(self, variable) in trained_keys:
                continue
            average = ema_average(self, variable)
            if average is not None:
                average.assign(variable)

    def _overwrite_model_variables_with_average_value(self, trainable_variables):
        for variable in self._ema_targets(trainable_variables):
            average = ema_average(self, variable)
            if average is not None:
                variable.assign(average)

    # --- Serialization ------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        if self._momentum_schedule is not None:
            config[self._momentum_attr] = serialize_keras_object(self._momentum_schedule)
        config["weight_decay_exclude"] = self.weight_decay_exclude
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get(cls._momentum_attr), dict):
            config[cls._momentum_attr] = deserialize_keras_object(
                config[cls._momentum_attr], custom_objects=custom_objects)
        return super().from_config(config, custom_objects=custom_objects)
