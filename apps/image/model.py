"""Backbone + fastai-style head, for single-label, multi-label and regression.

The head pools the backbone's last feature map two ways (average and max),
concatenates them, then BatchNorm -> Dropout -> Dense(ReLU) -> BatchNorm ->
Dropout -> Dense. The model takes float32 RGB pixels in 0..255 at any size the
backbone accepts (variable by default), which is what makes progressive
resizing a matter of feeding bigger images to the same weights.
"""
import dataclasses

import keras

from apps.image.heads import build_head
from apps.image.groups import image_layer_groups

TASK_ACTIVATIONS = {"single_label": "softmax", "multi_label": "sigmoid",
                    "regression": None}


@dataclasses.dataclass
class ImageModel:
    """A built image model and what is needed to train, explain and export it.

    Args:
        model: the ``keras.Model`` (pixels 0..255 -> probabilities or values).
        backbone: the backbone object it was built from (``.model``,
            ``.body_groups``, ``.last_conv_layer_name``, ``.name``).
        head: the head sub-model (feature map -> outputs).
        layer_groups: the 2 backbone body groups then the head, earliest first
            (a ``dlkeras.LayerGroups``).
        task: ``"single_label"``, ``"multi_label"`` or ``"regression"``.
        class_names: names of the outputs.
    """
    model: keras.Model
    backbone: object
    head: keras.Model
    layer_groups: object
    task: str
    class_names: list


def build_image_model(backbone, class_names, task="single_label", hidden_units=512,
                      dropout=0.5, bn_momentum=0.9, name="image_model"):
    """Puts a new head on ``backbone`` for ``task``.

    Args:
        backbone: a ``dlkeras.backbones.Backbone`` (or an object with the same
            attributes) whose ``.model`` maps raw 0..255 RGB to a feature map.
        class_names: one name per output (classes, tags or regression targets).
        task: ``"single_label"`` (softmax), ``"multi_label"`` (sigmoid) or
            ``"regression"`` (linear outputs).
        hidden_units: width of the hidden Dense layer (0 for none).
        dropout: dropout before the last Dense; half of it before the hidden one.
        bn_momentum: momentum of every BatchNormalization's moving statistics,
            backbone and head (None leaves the backbone's as built). 0.9 is
            PyTorch's 0.1, which fastai's ``train_bn=True`` recipe assumes:
            BN layers of the frozen body train on batch statistics, and with
            Keras' 0.99 the moving statistics used for validation lag hundreds
            of steps behind them (measured on MNIST-5k, Lite0, 64 px, 1 frozen
            + 1 unfrozen epoch of 32 steps: 0.37/0.73 validation accuracy with
            0.9, and a drop to 0.57 after unfreezing with 0.99).
        name: name of the Keras model.

    Returns:
        An :class:`ImageModel`.

    Example:
    >>> from dlkeras.backbones import create_backbone  # doctest: +SKIP
    >>> bb = create_backbone("mobilenet_v2", weights=None)  # doctest: +SKIP
    >>> image_model = build_image_model(bb, ["cat", "dog"])  # doctest: +SKIP
    >>> image_model.model.output_shape  # doctest: +SKIP
    (None, 2)
    """
    if task not in TASK_ACTIVATIONS:
        raise ValueError(f"`task` must be one of {list(TASK_ACTIVATIONS)}. "
                         f"Received: task={task!r}")
    if not class_names:
        raise ValueError(f"`class_names` must name at least one output. "
                         f"Received: class_names={class_names!r}")
    if bn_momentum is not None:
        set_batchnorm_momentum(backbone.model, bn_momentum)
    head = build_head(backbone.feature_channels, len(class_names),
                      activation=TASK_ACTIVATIONS[task], hidden_units=hidden_units,
                      dropout=dropout, bn_momentum=bn_momentum or 0.9)
    inputs = keras.Input(backbone.model.input_shape[1:], name="image")
    outputs = head(backbone.model(inputs))
    model = keras.Model(inputs, outputs, name=name)
    groups = image_layer_groups(backbone, head)
    return ImageModel(model=model, backbone=backbone, head=head, layer_groups=groups,
                      task=task, class_names=list(class_names))


def set_batchnorm_momentum(model, momentum):
    """Sets ``momentum`` on every BatchNormalization inside ``model`` (nested too).

    Call it before the model is compiled (the value is read when the train
    step is traced). Returns how many layers were changed.

    Example:
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization()])
    >>> set_batchnorm_momentum(model, 0.9), model.layers[0].momentum
    (1, 0.9)
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum}")
    changed, pending = 0, list(model.layers)
    while pending:
        layer = pending.pop()
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
            changed += 1
        pending.extend(getattr(layer, "layers", []))
    return changed


def loss_and_metrics(task, threshold=0.5, beta=2.0):
    """Returns ``(loss, metrics)`` for a task.

    Single-label: sparse categorical cross-entropy and accuracy. Multi-label:
    binary cross-entropy, accuracy of each thresholded output and micro F-beta.
    Regression: mean squared error and mean absolute error.

    Example:
    >>> loss, metrics = loss_and_metrics("multi_label")
    >>> [m.name for m in metrics]
    ['accuracy', 'f_beta']
    """
    if task == "single_label":
        return (keras.losses.SparseCategoricalCrossentropy(),
                [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    if task == "multi_label":
        return (keras.losses.BinaryCrossentropy(),
                [keras.metrics.BinaryAccuracy(threshold=threshold, name="accuracy"),
                 keras.metrics.FBetaScore(average="micro", beta=beta,
                                          threshold=threshold, name="f_beta")])
    if task == "regression":
        return keras.losses.MeanSquaredError(), [keras.metrics.MeanAbsoluteError(name="mae")]
    raise ValueError(f"`task` must be one of {list(TASK_ACTIVATIONS)}. Received: task={task!r}")


def compile_image_model(image_model, learning_rate=1e-3, weight_decay=1e-2, threshold=0.5,
                        beta=2.0, **compile_kwargs):
    """Compiles with one AdamW per layer group (discriminative rates) and the task's loss.

    Args:
        image_model: an :class:`ImageModel`.
        learning_rate: base rate of every group (the recipes replace it by schedules).
        weight_decay: decoupled weight decay of AdamW.
        threshold: multi-label decision threshold of the metrics.
        beta: F-beta's beta for multi-label.
        **compile_kwargs: passed to ``model.compile`` (``jit_compile``,
            ``steps_per_execution``...).

    Example:
    >>> compile_image_model(image_model, learning_rate=1e-3)  # doctest: +SKIP
    """
    from dlkeras.discriminative import discriminative_optimizer
    from dlkeras.optimizers import ScheduledAdamW

    optimizer = discriminative_optimizer(
        image_model.layer_groups, ScheduledAdamW(learning_rate, weight_decay=weight_decay))
    loss, metrics = loss_and_metrics(image_model.task, threshold, beta)
    image_model.model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **compile_kwargs)
    return image_model.model
