"""Freezing and unfreezing layer groups, with BatchNorm kept trainable on request.

Keras ignores a change of `trainable` until the train function is rebuilt,
and a built optimizer refuses variables it was not built with
(keras3-notes 4). So these functions rebuild the train function and build
the optimizer on every variable that may ever train, up front.

`train_bn=True` (the default, as in fastai) keeps normalization layers of a
frozen group trainable: a Keras `BatchNormalization` with `trainable=False`
runs in inference mode (keras3-notes 5), so keeping it trainable means it
keeps updating its statistics and its scale and offset to the new data.

Example:

>>> import keras
>>> from dlkeras.layer_groups import LayerGroups
>>> from dlkeras.freezing import freeze, unfreeze
>>> inputs = keras.Input((4,))
>>> x = keras.layers.Dense(8, name="body")(inputs)
>>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(x))
>>> groups = LayerGroups.split(model, ["head"])
>>> freeze(model, groups)
>>> [v.path for v in model.trainable_variables]
['head/kernel', 'head/bias']
>>> unfreeze(model, groups)
>>> len(model.trainable_variables)
4
"""

import keras

from dlkeras.distribute import strategy_scope
from dlkeras.keras_internals import built_variable_keys, sublayers, variable_key
from dlkeras.layer_groups import trainable_capable_variables
from dlkeras.optimizers import supports_momentum_schedule

NORMALIZATION_LAYERS = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
)


def _leaf_layers(layer):
    """`layer` and everything inside it that holds no further sublayers."""
    return [
        sub for sub in sublayers(layer)
        if not sublayers(sub, include_self=False, recursive=False)
    ]


def build_optimizer_for_unfreezing(model):
    """Builds `model.optimizer` on every trainable-capable variable of `model`.

    Does nothing if the optimizer is already built on all of them. Raises a
    clear error if it was built on fewer (it would refuse them later).
    """
    optimizer = getattr(model, "optimizer", None)
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer  # mixed_float16 wraps the optimizer that works
    if optimizer is None:
        return
    if getattr(optimizer, "use_ema", False) and not supports_momentum_schedule(optimizer):
        raise ValueError(
            f"Optimizer {optimizer.name!r} ({type(optimizer).__name__}) has use_ema=True: Keras "
            "pairs its moving averages with the trainable variables by position, which "
            "freezing changes. Use dlkeras.optimizers.ScheduledAdam / ScheduledAdamW / "
            "ScheduledSGD (averages paired by variable) or use_ema=False.")
    variables = trainable_capable_variables([model])
    if not optimizer.built:
        with strategy_scope(model):  # slots are replicated like the model's variables
            optimizer.build(variables)
        return
    known = built_variable_keys(optimizer)
    if known is None:
        return
    missing = [v.path for v in variables if variable_key(optimizer, v) not in known]
    if missing:
        raise ValueError(
            f"The optimizer was built before layers {missing[:5]} ({len(missing)} "
            "variables) could train, so it cannot update them after unfreezing. "
            "Freeze/unfreeze through dlkeras before the first fit, or compile "
            "again with a fresh optimizer (its state is lost then).")


def _set_group_trainable(group, trainable, train_bn):
    for layer in group.layers:
        for leaf in _leaf_layers(layer):
            keep = trainable or (train_bn and isinstance(leaf, NORMALIZATION_LAYERS))
            leaf.trainable = keep


def freeze_to(model, n, layer_groups, train_bn=True):
    """Freezes layer groups `[:n]` and unfreezes the others.

    Args:
        model: the (compiled or not) model holding the groups' layers.
        n: number of groups to freeze, from the input side; negative counts
            from the end (`-1` freezes all but the last group).
        layer_groups: `LayerGroups` of `model`.
        train_bn: keep normalization layers of frozen groups trainable.
    """
    count = len(layer_groups)
    if not isinstance(n, int) or isinstance(n, bool) or not -count <= n <= count:
        raise ValueError(
            f"`n` must be an integer in [{-count}, {count}] for {count} layer groups. "
            f"Received: n={n!r}")
    if n < 0:
        n += count
    # Containers must be trainable for their leaves' flags to count.
    model.trainable = True
    for index, group in enumerate(layer_groups):
        _set_group_trainable(group, index >= n, train_bn)
    if getattr(model, "optimizer", None) is not None:
        build_optimizer_for_unfreezing(model)
        model.make_train_function(force=True)


def freeze(model, layer_groups, train_bn=True):
    """Freezes every group but the last (the head)."""
    freeze_to(model, -1, layer_groups, train_bn=train_bn)


def unfreeze(model, layer_groups):
    """Makes every group trainable."""
    freeze_to(model, 0, layer_groups)
