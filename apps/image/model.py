"""Backbone + fastai-style head, for single-label, multi-label and regression.

The head pools the backbone's last feature map two ways (average and max),
concatenates them, then BatchNorm -> Dropout -> Dense(ReLU) -> BatchNorm ->
Dropout -> Dense. The model takes float32 RGB pixels in 0..255 at any size the
backbone accepts (variable by default), which is what makes progressive
resizing a matter of feeding bigger images to the same weights.
"""

__all__ = ["build_image_model"]

import keras

from apps.image.heads import build_head
from dlkeras.layer_groups import LayerGroup, LayerGroups

TASK_ACTIVATIONS = {"single_label": "softmax", "multi_label": "sigmoid",
                    "regression": None}


def build_image_model(backbone, class_names, task="single_label", hidden_units=512,
                      dropout=0.5, bn_momentum=0.9, name="image_model"):
    """Puts a new head on `backbone` for `task`.

    Args:
        backbone: a `dlkeras.backbones.Backbone` (or an object with its
            `model`, `feature_channels` and `body_groups` attributes) whose
            `.model` maps raw 0..255 RGB to a feature map.
        class_names: one name per output (classes, tags or regression targets).
        task: `"single_label"` (softmax), `"multi_label"` (sigmoid) or
            `"regression"` (linear outputs).
        hidden_units: width of the hidden Dense layer (0 for none).
        dropout: dropout before the last Dense; half of it before the hidden one.
        bn_momentum: momentum of every BatchNormalization's moving statistics,
            backbone and head (None leaves the backbone's as built). 0.9 is
            PyTorch's 0.1, which fastai's `train_bn=True` recipe assumes:
            BN layers of the frozen body train on batch statistics, and with
            Keras' 0.99 the moving statistics used for validation lag hundreds
            of steps behind them (measured on MNIST-5k, Lite0, 64 px, 1 frozen
            + 1 unfrozen epoch of 32 steps: 0.37/0.73 validation accuracy with
            0.9, and a drop to 0.57 after unfreezing with 0.99).
        name: name of the Keras model.

    Returns:
        `(model, layer_groups)`: the Keras model (its head is the nested
        model `"head"`) and its `LayerGroups`: the backbone's body groups,
        earliest first, then the head.

    Example:

    >>> from dlkeras.backbones import create_backbone
    >>> backbone = create_backbone("mobilenet_v3_small", weights=None, input_shape=(32, 32, 3))
    >>> model, groups = build_image_model(backbone, ["cat", "dog"], hidden_units=8)
    >>> model.output_shape, groups.names
    ((None, 2), ['body_early', 'body_late', 'head'])
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
    body = list(backbone.body_groups)
    if not body:
        raise ValueError(f"Backbone {getattr(backbone, 'name', backbone)!r} has no body groups.")
    return model, LayerGroups(body + [LayerGroup("head", [head])])


def set_batchnorm_momentum(model, momentum):
    """Sets `momentum` on every BatchNormalization inside `model` (nested too).

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
    """Returns `(loss, metrics)` for a task.

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
