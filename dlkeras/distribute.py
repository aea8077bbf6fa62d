"""Running dlkeras under a `tf.distribute` strategy (several devices or hosts).

Keras trains a model under the strategy whose scope it was compiled in
(`model.distribute_strategy`). What then changes for dlkeras, and what
this module provides for it:

- variables created after `compile` (an optimizer built on every variable
  that may ever train, the LR finder's rate) must be created inside that
  strategy's scope, or TensorFlow refuses (`Need to be inside "with
  strategy.scope()"`) or makes unreplicated copies;
- a Keras variable holds a `MirroredVariable`, which `int()` and `float()`
  refuse: read it through NumPy (`read_int`, `read_float`);
- the batch size Keras sees is the *global* batch: each of the
  `replica_count` replicas gets an equal share of it, and the optimizer
  takes one step per global batch (so one-cycle lengths do not change);
- a `BatchNormalization` layer normalises with its replica's share of the
  batch unless it is `synchronized`: `synchronize_batch_norm(model)` makes
  every one of them use the global batch's statistics, as one device would;
- Keras 3.15.1 itself needs help: `fit` under `MultiWorkerMirroredStrategy`
  (`prepare_for_fit`); `steps_per_execution > 1` under any strategy, which
  it cannot run, and outputs of shape `(batch,)` under several replicas,
  which it trains wrong (`check_steps_per_execution`, `check_output_ranks`
  refuse them with a clear error).

`create_strategy(name)` builds the strategy a command line names.

Example:

>>> import keras
>>> strategy = create_strategy("default")
>>> with strategy.scope():
...     model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
...     model.compile(optimizer="sgd", loss="mse")
>>> with strategy_scope(model):
...     step = keras.Variable(3, dtype="int64")
>>> read_int(step), replica_count(model)
(3, 1)
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf

from dlkeras.keras_internals import enable_multi_worker_fit, sublayers

STRATEGIES = ("default", "mirrored", "multiworker")


def read_int(value):
    """A scalar variable or tensor as a Python int, also when it is replicated."""
    return int(np.asarray(keras.ops.convert_to_numpy(value)))


def read_float(value):
    """A scalar variable or tensor as a Python float, also when it is replicated."""
    return float(np.asarray(keras.ops.convert_to_numpy(value)))


def model_strategy(model):
    """The strategy `model` trains under (TensorFlow's default one if none)."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy if strategy is not None else tf.distribute.get_strategy()


@contextlib.contextmanager
def strategy_scope(model):
    """Creates variables for `model` the way its strategy needs them.

    A no-op if that strategy is already current (or none is in use).
    """
    strategy = model_strategy(model)
    if tf.distribute.has_strategy() and tf.distribute.get_strategy() is strategy:
        yield strategy
        return
    with strategy.scope():
        yield strategy


def replica_count(model):
    """How many replicas share each global batch of `model` (1 without a strategy)."""
    return int(model_strategy(model).num_replicas_in_sync)


def synchronize_batch_norm(model):
    """Makes every `BatchNormalization` in `model` use the global batch's statistics.

    Under a strategy with several replicas, a Keras `BatchNormalization`
    normalises each replica's share of the batch with that share's mean and
    variance, so training differs from one device with the same global
    batch. `synchronized=True` all-reduces them across replicas. Takes
    effect at the next trace of the train function. Returns how many layers
    were changed.
    """
    changed = 0
    for layer in sublayers(model):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            changed += 1
    return changed


def is_chief(strategy=None):
    """Whether this process writes a run's outputs (run folder, export, logs).

    True without a multi-worker strategy; under one, for the `chief` task,
    or for worker 0 of a cluster that names no chief. Every worker must
    still train and evaluate (they take part in every step); the others
    write their copies somewhere private.
    """
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    if resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def prepare_for_fit(model):
    """Works around what stops Keras 3.15.1's `fit` under `MultiWorkerMirroredStrategy`.

    The dlkeras recipes and `Task` call it; call it yourself before a plain
    `model.fit` of a model compiled in a multi-worker strategy's scope
    (`dlkeras.keras_internals.enable_multi_worker_fit` says what it changes).
    A no-op under any other strategy. Returns whether it changed anything.
    """
    return enable_multi_worker_fit(model)


def uses_strategy(model):
    """Whether `model` trains under a strategy other than TensorFlow's default."""
    return tf.distribute.has_strategy() or \
        model_strategy(model) is not tf.distribute.get_strategy()


def check_steps_per_execution(model):
    """Refuses `steps_per_execution > 1` under a strategy, before Keras 3.15.1 fails obscurely.

    Keras' loop over several steps per call fails under `MirroredStrategy`
    (TensorFlow 2.21) for any model ("You must feed a value for placeholder
    tensor 'while/...'", keras-team/keras#19246). `Task.compile` sets 1
    under a strategy; `lr_find` sweeps one step per call anyway.
    """
    steps = getattr(model, "steps_per_execution", 1)
    if steps != 1 and uses_strategy(model):
        raise ValueError(
            f"Model {model.name!r} is compiled with steps_per_execution={steps} under "
            f"{type(model_strategy(model)).__name__}; Keras 3.15.1 cannot run several steps "
            "per call under a tf.distribute strategy (keras-team/keras#19246). Compile it "
            "with steps_per_execution=1.")


def check_output_ranks(model):
    """Refuses outputs of shape `(batch,)` under several replicas (Keras 3.15.1 trains them wrong).

    Keras then scales that output's loss wrongly across replicas: the logged
    loss doubles with 2 replicas and training diverges from one device
    (measured with SGD: weights 0.46 apart after 2 epochs of a 1-layer
    model, where `(batch, 1)` outputs agree to 3e-8).
    """
    if replica_count(model) == 1:
        return
    outputs = getattr(model, "outputs", None) or []
    flat = [o for o in keras.tree.flatten(outputs) if len(o.shape) == 1]
    if flat:
        raise ValueError(
            f"Model {model.name!r} has outputs of shape (batch,) "
            f"({[o.name for o in flat]}); under {replica_count(model)} replicas Keras 3.15.1 "
            "scales their loss wrongly (training would differ from one device and log a "
            "wrong loss). Give the model outputs of shape (batch, 1) "
            "(e.g. keras.layers.Reshape((1,))) and targets to match.")


def create_strategy(name):
    """The `tf.distribute` strategy named `name`.

    Args:
        name: `"default"` (TensorFlow's default: one device),
            `"mirrored"` (`MirroredStrategy` over every local GPU, or, with
            none, every logical CPU device: one unless configured with
            `tf.config.set_logical_device_configuration`), or `"multiworker"`
            (`MultiWorkerMirroredStrategy`; every worker runs the same
            program with its own `TF_CONFIG`).

    Returns:
        A `tf.distribute.Strategy`.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"`strategy` must be one of {list(STRATEGIES)}. Received: strategy={name!r}")
