"""`ModelTask`: any compiled Keras classifier as a `dlkeras.tasks.Task`, on arrays or `tf.data`;
`as_task` (a task as is, a model wrapped) and `count_examples` (the size of a task's data).

The pseudo-labelling trainer speaks to tasks; this adapter gives a plain
compiled model that interface. Its data are `(x, y)` tuples of arrays (`x`
an array or a dict of arrays), batched by `dlkeras.data.training_batches`
(a reshuffling `BatchStream`) for training and `index_batched_dataset` else,
or `tf.data` datasets of `(x, y)` batches, used as they are. Its loss, metrics
and optimizer are the ones the model was compiled with (each recompile gets
a fresh copy of that optimizer).

Example:


>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
>>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
>>> task = ModelTask.from_model(model, batch_size=8)
>>> task.loss_and_metrics()
('sparse_categorical_crossentropy', ['accuracy'])
>>> x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
>>> _ = task.fit_one_cycle((x, (x[:, 0] > 0).astype("int32")), epochs=1, lr_max=1e-2, verbose=0)
>>> task.predict(x[:3]).shape
(3, 2)
"""

import numpy as np

from dlkeras.data import index_batched_dataset, training_batches
from dlkeras.tasks import Task


class ModelTask(Task):
    """A compiled Keras model behind the `Task` interface.

    Build one with `ModelTask.from_model`. Metadata: `loss` (the serialized
    compile-time loss), `metrics` (metric names), `batch_size`, `name`.
    """

    def __init__(self, network, layer_groups=None, metadata=None):
        import keras

        super().__init__(network, layer_groups, metadata)
        if "loss" not in self.metadata:
            raise ValueError("ModelTask metadata must hold the model's `loss`; build it with "
                             "ModelTask.from_model(compiled_model).")
        optimizer = getattr(network, "optimizer", None)
        self._optimizer_config = (keras.optimizers.serialize(optimizer)
                                  if optimizer is not None else None)

    @classmethod
    def from_model(cls, model, batch_size=32, metrics=("accuracy",), name=None):
        """Wraps a compiled `keras.Model`.

        Args:
            model: compiled with an optimizer and a loss.
            batch_size: examples per step of array data.
            metrics: metric names compiled with the loss (JSON-able).
            name: model name for exports (default: the model's name).
        """
        import keras

        if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
            raise ValueError(f"Model {model.name!r} is not compiled: call model.compile("
                             "optimizer=..., loss=...) first.")
        loss = model.loss if isinstance(model.loss, str) else keras.losses.serialize(model.loss)
        metadata = {"name": name or model.name, "loss": loss, "metrics": list(metrics),
                    "batch_size": int(batch_size)}
        return cls(model, metadata=metadata)

    def default_optimizer(self):
        """A fresh copy of the optimizer the model was compiled with (else the base's AdamW)."""
        import keras

        if self._optimizer_config is None:
            return super().default_optimizer()
        return keras.optimizers.deserialize(self._optimizer_config)

    def loss_and_metrics(self):
        import keras

        loss = self.metadata["loss"]
        return (loss if isinstance(loss, str) else keras.losses.deserialize(loss),
                list(self.metadata.get("metrics", [])))

    def make_dataset(self, data, *, training, batch_size, seed=None):
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise TypeError("ModelTask data must be an `(x, y)` tuple of arrays or a tf.data "
                            f"Dataset. Received: {type(data).__name__}")
        x, y = data
        if training:  # full batches (a set smaller than a batch is one batch)
            return training_batches(x, y, min(batch_size, len(y)), seed=seed)
        return index_batched_dataset(x, y, batch_size)


def as_task(task_or_model, batch_size=None):
    """A `Task` as is; a compiled `keras.Model` wrapped as a `ModelTask`."""
    import keras

    if isinstance(task_or_model, Task):
        return task_or_model
    if isinstance(task_or_model, keras.Model):
        return ModelTask.from_model(task_or_model, batch_size=batch_size or 32)
    raise TypeError(f"Expected a dlkeras Task or a compiled keras.Model. Received: "
                    f"{type(task_or_model).__name__}")


def count_examples(task, data):
    """Number of examples in the app's data (`len`), or counted through the task's pipeline."""
    import tensorflow as tf

    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], str):
        return len(tf.nest.flatten(data[1])[0])
    if not isinstance(data, tf.data.Dataset) and hasattr(data, "__len__"):
        return len(data)
    batches = task.dataset(data, training=False)
    return int(batches.reduce(np.int64(0), lambda count, batch: count + tf.cast(
        tf.shape(tf.nest.flatten(batch)[0])[0], tf.int64)))
