"""What a classifier's targets look like, read from its loss: what pseudo-labels must match.

Three target formats cover the classifiers dlkeras apps build:

- `"sparse"`: class indices, softmax over C outputs (sparse categorical cross-entropy);
- `"categorical"`: one-hot rows, softmax over C outputs (categorical cross-entropy);
- `"binary"`: 0/1, one sigmoid output (binary cross-entropy).

`TargetFormat` turns the network's outputs into class probabilities, those
into hard targets (in the task's own format, so the task's loss is unchanged)
or soft targets (probabilities), converts labelled targets to the soft
format, and names the loss and metric that train on soft targets.

Example:


>>> import numpy as np
>>> target_format = TargetFormat.from_loss("sparse_categorical_crossentropy", num_outputs=3)
>>> probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
>>> target_format.hard_targets(probabilities).tolist()
[0, 2]
>>> target_format.to_soft(np.array([1, 0])).numpy().tolist()
[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
>>> binary = TargetFormat.from_loss("binary_crossentropy", num_outputs=1)
>>> binary.probabilities(np.array([[0.8]])).shape, binary.soft_targets([[0.2, 0.8]]).tolist()
((1, 2), [0.800000011920929])
"""

import numpy as np

KINDS = ("sparse", "categorical", "binary")
_LOSS_KINDS = {"sparsecategoricalcrossentropy": "sparse",
               "categoricalcrossentropy": "categorical",
               "binarycrossentropy": "binary"}


def _loss_name(loss):
    if isinstance(loss, str):
        name = loss
    elif isinstance(loss, type):
        name = loss.__name__
    elif callable(loss) and hasattr(loss, "__name__"):
        name = loss.__name__
    else:
        name = type(loss).__name__
    return name.lower().replace("_", "")


def _from_logits(loss):
    get_config = getattr(loss, "get_config", None)
    if isinstance(loss, str) or get_config is None:
        return False
    return bool(get_config().get("from_logits", False))


class TargetFormat:
    """A classifier's target format: `kind` (see `KINDS`), number of classes, logits or not.

    Args:
        kind: `"sparse"`, `"categorical"` or `"binary"`.
        num_classes: number of classes (2 for `"binary"`).
        from_logits: whether the network outputs logits rather than probabilities.
    """

    def __init__(self, kind, num_classes, from_logits=False):
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
        if int(num_classes) < 2:
            raise ValueError(f"A classifier needs at least 2 classes. Received: "
                             f"num_classes={num_classes!r}")
        self.kind, self.num_classes, self.from_logits = kind, int(num_classes), bool(from_logits)

    @classmethod
    def from_loss(cls, loss, num_outputs):
        """The format a classification loss trains on (a name, a function or a Loss object).

        Args:
            loss: the task's loss.
            num_outputs: the network's last output dimension.

        Raises:
            ValueError: a loss that is not a single-label classification loss
                (regression, multi-label sigmoid outputs, ...).
        """
        kind = _LOSS_KINDS.get(_loss_name(loss))
        if kind is None:
            raise ValueError(
                "Pseudo-labelling needs a single-label classifier trained with sparse "
                "categorical, categorical or binary cross-entropy. Received: "
                f"loss={loss!r}")
        if kind == "binary" and num_outputs != 1:
            raise ValueError(
                f"Binary cross-entropy over {num_outputs} outputs is a multi-label task; "
                "pseudo-labelling needs one label per example. Received: "
                f"num_outputs={num_outputs}")
        num_classes = 2 if kind == "binary" else num_outputs
        return cls(kind, num_classes, from_logits=_from_logits(loss))

    @classmethod
    def of_task(cls, task):
        """The format of a `dlkeras.tasks.Task`'s loss and network."""
        loss, _ = task.loss_and_metrics()
        return cls.from_loss(loss, int(task.network.output_shape[-1]))

    def probabilities(self, outputs):
        """Network outputs `(N, C)` (or `(N, 1)` binary) as class probabilities `(N, C)`."""
        outputs = np.asarray(outputs, dtype=np.float64)
        if self.kind == "binary":
            positive = outputs.reshape(len(outputs))
            if self.from_logits:
                positive = 1.0 / (1.0 + np.exp(-positive))
            return np.stack([1.0 - positive, positive], axis=1).astype(np.float32)
        if outputs.ndim != 2 or outputs.shape[1] != self.num_classes:
            raise ValueError(f"Expected outputs of shape (N, {self.num_classes}). Received: "
                             f"shape={outputs.shape}")
        if self.from_logits:
            shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
            outputs = shifted / shifted.sum(axis=1, keepdims=True)
        return outputs.astype(np.float32)

    def hard_targets(self, probabilities):
        """The most probable class, in the task's own target format."""
        classes = np.asarray(probabilities).argmax(axis=1)
        if self.kind == "categorical":
            return np.eye(self.num_classes, dtype=np.float32)[classes]
        return classes.astype(np.int32)

    def soft_targets(self, probabilities):
        """Probabilities as targets: rows `(N, C)`, or the positive class' `(N,)` for binary."""
        probabilities = np.asarray(probabilities, dtype=np.float32)
        return probabilities[:, 1].copy() if self.kind == "binary" else probabilities

    def to_soft(self, targets):
        """Labelled targets (a tensor in the task's format) in the soft format, as float32."""
        import tensorflow as tf

        targets = tf.convert_to_tensor(targets)
        if self.kind == "sparse":
            return tf.one_hot(tf.reshape(tf.cast(targets, tf.int32), [-1]), self.num_classes)
        return tf.cast(targets, tf.float32)

    def classes_of(self, targets):
        """Class indices `(N,)` of targets in the task's format (for pseudo-label accuracy)."""
        targets = np.asarray(targets)
        if self.kind == "categorical":
            return targets.argmax(axis=1)
        if self.kind == "binary":
            return (targets.reshape(len(targets)) > 0.5).astype(np.int64)
        return targets.reshape(len(targets)).astype(np.int64)

    def soft_loss_and_metrics(self):
        """`(loss, metrics)` that train on soft targets (labelled ones converted by `to_soft`)."""
        import keras

        if self.kind == "binary":
            return (keras.losses.BinaryCrossentropy(from_logits=self.from_logits),
                    [keras.metrics.BinaryAccuracy(name="accuracy",
                                                  threshold=0.0 if self.from_logits else 0.5)])
        return (keras.losses.CategoricalCrossentropy(from_logits=self.from_logits),
                [keras.metrics.CategoricalAccuracy(name="accuracy")])

    def get_config(self):
        return {"kind": self.kind, "num_classes": self.num_classes,
                "from_logits": self.from_logits}

    def __repr__(self):
        return (f"TargetFormat(kind={self.kind!r}, num_classes={self.num_classes}, "
                f"from_logits={self.from_logits})")
