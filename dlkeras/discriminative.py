"""One optimizer per layer group: discriminative learning rates that survive freezing.

Built on `keras.optimizers.MultiOptimizer`, which routes each variable to a
sub-optimizer by a regex on `variable.path`. Keras' version needs the
gradients to match, one to one, the variables it was built with, so it
breaks as soon as a group is frozen, and it cannot learn variables after it
is built. `DiscriminativeOptimizer` is built once on every variable that may
ever train, accepts any subset of them at each step, and makes every group
evaluate its schedules on the shared step counter.

Example:

>>> import keras
>>> from dlkeras.layer_groups import LayerGroups
>>> from dlkeras.optimizers import ScheduledAdamW
>>> from dlkeras.discriminative import discriminative_optimizer
>>> inputs = keras.Input((4,))
>>> x = keras.layers.Dense(8, name="body")(inputs)
>>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(x))
>>> groups = LayerGroups.split(model, ["head"], names=["body", "head"])
>>> optimizer = discriminative_optimizer(groups, ScheduledAdamW(1e-3), [1e-4, 1e-3])
>>> [o.name for o in optimizer.optimizers]
['body', 'head']
>>> model.compile(optimizer=optimizer, loss="mse")
"""

import keras
from keras.optimizers import MultiOptimizer, OptimizerMap

from dlkeras.keras_internals import (
    built_variable_keys,
    inner_optimizer_list,
    route_variable,
    routed_optimizer_index,
    step_counter,
)
from dlkeras.layer_groups import spread_learning_rates
from dlkeras.optimizers import supports_momentum_schedule
from dlkeras.step_evaluation import StepEvaluation


@keras.saving.register_keras_serializable(package="dlkeras")
class DiscriminativeOptimizer(MultiOptimizer):
    """A `MultiOptimizer` that tolerates frozen groups and shares one schedule step.

    Building it again with more variables (after a reload while frozen, see
    `dlkeras.optimizers.restoring`) routes the new ones to their groups.
    A plain Keras group optimizer with `use_ema=True` is refused once it
    would train only part of its group (Keras pairs EMA copies by position).

    Args:
        optimizer_map: an `OptimizerMap` (regex on variable paths to
            optimizer; the default optimizer takes unmatched variables).
        loss_scale_factor: as for `MultiOptimizer`.
        name: optimizer name.
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        super().__init__(optimizer_map, loss_scale_factor=loss_scale_factor, name=name)
        self._attach_schedule_steps()

    def _attach_schedule_steps(self):
        for optimizer in self.optimizers:
            if supports_momentum_schedule(optimizer):
                optimizer.attach_schedule_step(self._shared_step, self._shared_evaluation)

    def _shared_step(self):
        return step_counter(self)

    def _shared_evaluation(self):
        # Set during `apply` only: one evaluation of the step's schedules for all groups.
        return getattr(self, "_step_evaluation", None)

    @property
    def built(self):
        # Not built while a reloaded group optimizer still waits for frozen
        # variables (dlkeras.optimizers.restoring): building again binds them.
        return getattr(self, "_routing_built", False) and not any(
            supports_momentum_schedule(o) and o.awaits_variables()
            for o in inner_optimizer_list(self))

    @built.setter
    def built(self, value):
        self._routing_built = bool(value)

    def build(self, var_list):
        var_list = list(var_list)
        if not getattr(self, "_routing_built", False):
            super().build(var_list)
        else:
            groups = [[] for _ in self.optimizers]
            for variable in var_list:
                index = routed_optimizer_index(self, variable)
                groups[route_variable(self, variable) if index is None else index].append(variable)
            for optimizer, variables in zip(self.optimizers, groups):
                if variables:
                    optimizer.build(variables)
        for optimizer in self.optimizers:
            # A reloaded group with nothing trainable now still rebuilds its
            # saved layout, so the saved optimizer state loads.
            if supports_momentum_schedule(optimizer):
                optimizer.build_restored_layout()
        # A callable map only reveals its optimizers now.
        self._attach_schedule_steps()

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None or len(grads) == 0:
            return super().apply(grads, trainable_variables)
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        indices = [routed_optimizer_index(self, v) for v in trainable_variables]
        unknown = [v.path for v, i in zip(trainable_variables, indices) if i is None]
        if unknown:
            raise ValueError(
                f"The optimizer was built without the variables {unknown[:5]} "
                f"({len(unknown)} in all), which are trainable now. Build it on every "
                "variable that may ever be unfrozen before the first fit "
                "(`dlkeras.build_optimizer_for_unfreezing(model)`; the dlkeras "
                "callbacks and recipes do this), or compile again with a new optimizer.")
        routed = [([], []) for _ in self.optimizers]
        for grad, variable, index in zip(grads, trainable_variables, indices):
            routed[index][0].append(grad)
            routed[index][1].append(variable)
        self._step_evaluation = StepEvaluation(step_counter(self))
        try:
            for optimizer, (group_grads, group_vars) in zip(self.optimizers, routed):
                if group_vars:
                    _check_ema_pairing(optimizer, group_vars)
                    optimizer.apply(group_grads, group_vars)
                elif supports_momentum_schedule(optimizer):
                    optimizer.hold_untrained_averages()  # a frozen group's EMA follows its value
        finally:
            self._step_evaluation = None
        step_counter(self).assign_add(1)


def _check_ema_pairing(optimizer, variables):
    """Refuses a plain Keras optimizer with `use_ema=True` that trains a subset.

    Keras pairs a subset of variables with its EMA copies by position, so the
    end-of-fit swap would write one layer's average into another layer.
    dlkeras optimizers pair them by identity.
    """
    if not getattr(optimizer, "use_ema", False) or supports_momentum_schedule(optimizer):
        return
    if len(variables) != len(built_variable_keys(optimizer) or ()):
        raise ValueError(
            f"Optimizer {optimizer.name!r} ({type(optimizer).__name__}) has use_ema=True and "
            f"trains {len(variables)} of the {len(built_variable_keys(optimizer))} variables "
            "it was built on (some are frozen). Keras would pair them with its moving "
            "averages by position and write the wrong averages into the model. Use "
            "dlkeras.ScheduledAdam / ScheduledAdamW / ScheduledSGD, which pair them by "
            "identity, or use_ema=False.")


def discriminative_optimizer(layer_groups, base_optimizer, learning_rates=None):
    """One copy of `base_optimizer` per layer group, wrapped in a `DiscriminativeOptimizer`.

    Args:
        layer_groups: `LayerGroups`, earliest first; the last group also takes
            variables of layers that are in no group.
        base_optimizer: the optimizer to copy (e.g. `ScheduledAdamW(1e-3)`);
            its config, including weight decay, is reused for every group.
        learning_rates: None (keep the base rate), a float, a `(lo, hi)`
            tuple spread geometrically, or one rate per group.

    Returns:
        A `DiscriminativeOptimizer` whose `.optimizers` are named after the groups.
    """
    if not isinstance(base_optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "`base_optimizer` must be a Keras optimizer instance. "
            f"Received: {base_optimizer!r}")
    rates = None
    if learning_rates is not None:
        rates = spread_learning_rates(learning_rates, len(layer_groups))
    optimizers = []
    for index, group in enumerate(layer_groups):
        config = base_optimizer.get_config()
        config["name"] = group.name
        if rates is not None:
            config["learning_rate"] = rates[index]
        optimizers.append(type(base_optimizer).from_config(config))
    mapping = {}
    for group, optimizer in zip(list(layer_groups)[:-1], optimizers):
        pattern = group.path_pattern()
        if pattern is not None:
            mapping[pattern] = optimizer
    optimizer_map = OptimizerMap(optimizers[-1], mapping)
    # MultiOptimizer overrides its sub-optimizers' loss_scale_factor with its own.
    result = DiscriminativeOptimizer(optimizer_map,
                                     loss_scale_factor=base_optimizer.loss_scale_factor)
    # Keep group order (MultiOptimizer lists the default optimizer last already),
    # including groups that own no variable yet.
    inner_optimizer_list(result)[:] = optimizers
    return result
