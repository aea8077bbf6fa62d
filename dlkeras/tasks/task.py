"""`Task`: the one base every app builds on.

A task owns a trainable network (what `fit` trains), the model that takes
raw inputs (preprocessing in front of the network, what serving calls),
the network's `LayerGroups`, and the JSON-able metadata an app needs to
serve (class names, column specs, vocabularies). Written once here, for
every app: `compile`, `lr_find`, `fit_one_cycle`, `fine_tune`, `train`
(the app's recipe), `evaluate`, `predict`, `save`/`load` of a run folder,
and `export` of a SavedModel.

A subclass declares four things and writes no training or export loop:

- how its data becomes `tf.data`: `make_dataset(data, training, batch_size, seed)`;
- its loss and metrics: `loss_and_metrics()`;
- its serving signatures: `serving_endpoints()` (and `serving_examples()`
  for the reload check);
- how it rebuilds its preprocessing from `metadata` (in `__init__`) and the
  raw-input model (`build_inference_model()`, default: the network itself).

Example:

>>> import keras, numpy as np, tensorflow as tf
>>> from dlkeras.tasks import Task
>>> from dlkeras.data import index_batched_dataset, training_batches
>>> class Doubling(Task):
...     def make_dataset(self, data, *, training, batch_size, seed=None):
...         x = np.asarray(data, "float32")[:, None]
...         if training:
...             return training_batches(x, 2 * x, batch_size, seed=seed)
...         return index_batched_dataset(x, 2 * x, batch_size)
...     def loss_and_metrics(self):
...         return "mse", []
>>> network = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
>>> task = Doubling(network, metadata={"batch_size": 8})
>>> _ = task.fit_one_cycle(np.linspace(-1, 1, 64), epochs=2, lr_max=0.1, verbose=0)
>>> sorted(task.evaluate(np.linspace(-1, 1, 16)))
['loss']
"""

import contextlib
import numbers

import numpy as np

from dlkeras.layer_groups import LayerGroup, LayerGroups

# fastai's Adam constants; its one-cycle recipes for text and tables were tuned with them.
FASTAI_ADAM = {"beta_2": 0.99, "epsilon": 1e-5}


class Task:
    """Base class of an app: a network, its raw-input model, layer groups and metadata.

    Args:
        network: the `keras.Model` that training fits (features in, outputs
            out); compiled or not (a reloaded one keeps its optimizer state).
        layer_groups: `LayerGroups` of `network`, earliest first; default one
            group holding the whole network.
        metadata: JSON-able dict of what the app needs besides the weights
            (class names, vocabularies, preprocessing statistics). The keys
            `batch_size` and `name` are read by the base class.

    Class attributes a subclass may set:
        recipe: `"fit_one_cycle"` (default) or `"fine_tune"`: what `train` runs.
        default_lr_max: the documented peak rate used when none is given and
            the LR finder has no trustworthy suggestion.
        weight_decay: decoupled weight decay of the default optimizer when
            `metadata` has no `weight_decay`.
        adam_options: more `ScheduledAdamW` arguments of the default optimizer
            (`FASTAI_ADAM` for recipes tuned with fastai's constants).
    """

    recipe = "fit_one_cycle"
    default_lr_max = 1e-3
    weight_decay = 0.01
    adam_options = {}

    def __init__(self, network, layer_groups=None, metadata=None):
        import keras

        if not isinstance(network, keras.Model):
            raise TypeError(f"`network` must be a keras.Model. Received: {network!r}")
        self.network = network
        self.layer_groups = layer_groups or LayerGroups([LayerGroup("network", [network])])
        self.metadata = dict(metadata or {})
        self._inference_model = None
        self._prebuilt = False
        self._steps_per_execution = None  # what compile was asked for: an int or "auto"
        self._step_seconds = None  # one training step's wall time, as the LR finder measured it
        self._trace_seconds = None  # the most tracing its step cost, as the LR finder measured it

    # --- What a subclass declares -------------------------------------------

    def make_dataset(self, data, *, training, batch_size, seed=None):
        """Turns the app's data object into batches of `(features, targets)`.

        `training=True`: a `dlkeras.data.BatchStream` (endless, shuffled by
        `seed`, each epoch a pure function of its index, so training can
        resume at any batch; `dlkeras.data.training_batches` makes one from
        arrays). `training=False`: a `tf.data.Dataset` that keeps the order
        and every example.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_dataset().")

    def loss_and_metrics(self):
        """`(loss, metrics)` passed to `network.compile`."""
        raise NotImplementedError(f"{type(self).__name__} must implement loss_and_metrics().")

    def serving_endpoints(self):
        """`{signature name: tf.function with an input_signature}` to export.

        The functions call `self.inference_model`; the first one is also
        `serving_default` unless one is named so.
        """
        raise NotImplementedError(f"{type(self).__name__} declares no serving signature.")

    def serving_examples(self):
        """`{signature name: {input name: tensor}}` for the reload check of `export`."""
        return {}

    def build_inference_model(self):
        """The model from raw inputs to outputs; default: the network itself."""
        return self.network

    def prepare_inputs(self, inputs):
        """Raw inputs (the app's kind) to what `network.predict` takes; default: as is."""
        return inputs

    def postprocess(self, outputs):
        """`network` outputs to what `predict` returns; default: as is."""
        return outputs

    def default_optimizer(self):
        """A fresh optimizer: AdamW, one copy per layer group when there are several.

        Its weight decay is `metadata["weight_decay"]` (else `weight_decay`),
        its other arguments `adam_options`.
        """
        from dlkeras.discriminative import discriminative_optimizer
        from dlkeras.optimizers import ScheduledAdamW

        base = ScheduledAdamW(self.default_lr_max, **self.adam_options,
                              weight_decay=self.metadata.get("weight_decay", self.weight_decay))
        if len(self.layer_groups) == 1:
            return base
        return discriminative_optimizer(self.layer_groups, base)

    # --- Properties ---------------------------------------------------------

    @property
    def name(self):
        """The model name exports default to (`metadata["name"]`, else the class name)."""
        return self.metadata.get("name") or type(self).__name__.lower()

    @property
    def batch_size(self):
        return int(self.metadata.get("batch_size", 32))

    @property
    def inference_model(self):
        """The raw-input model (preprocessing + network); built once."""
        if self._inference_model is None:
            self._inference_model = self.build_inference_model()
        return self._inference_model

    # --- Compiling and data -------------------------------------------------

    def compile(self, optimizer=None, *, loss=None, metrics=None, **compile_kwargs):
        """Compiles the network with `optimizer` (default `default_optimizer()`) and the task's loss.

        Args:
            optimizer: a Keras optimizer, or None for the task's default.
            loss, metrics: replace `loss_and_metrics()` for this compile only
                (e.g. a soft-target loss while training on pseudo-labels);
                None keeps the task's own.
            **compile_kwargs: more `model.compile` arguments
                (`steps_per_execution`, `jit_compile`, ...).
                `steps_per_execution="auto"` sizes each compiled call from
                the step time `lr_find` measured (`dlkeras.steps_per_execution`:
                calls of about 0.1 s, at most an epoch); one step a call
                until a sweep has measured it.
        """
        from dlkeras.distribute import (
            prepare_for_fit,
            replica_count,
            strategy_scope,
            synchronize_batch_norm,
            uses_strategy,
        )
        from dlkeras.freezing import build_optimizer_for_unfreezing

        task_loss, task_metrics = self.loss_and_metrics()
        wanted = compile_kwargs.get("steps_per_execution", 1)
        if wanted != "auto" and (isinstance(wanted, bool)
                                 or not isinstance(wanted, numbers.Integral) or wanted < 1):
            raise ValueError("`steps_per_execution` must be an integer >= 1 or 'auto'. "
                             f"Received: steps_per_execution={wanted!r}")
        self._steps_per_execution = wanted if wanted == "auto" else int(wanted)
        if wanted == "auto":
            compile_kwargs["steps_per_execution"] = 1
        # Under a strategy, the optimizer (and its slots) must be created in
        # the scope the network was built in; BatchNorm uses the global batch.
        with strategy_scope(self.network):
            if replica_count(self.network) > 1:
                synchronize_batch_norm(self.network)
            if uses_strategy(self.network):  # keras-team/keras#19246: one step per call
                compile_kwargs["steps_per_execution"] = 1
            self.network.compile(optimizer=optimizer or self.default_optimizer(),
                                 loss=task_loss if loss is None else loss,
                                 metrics=task_metrics if metrics is None else metrics,
                                 **compile_kwargs)
        build_optimizer_for_unfreezing(self.network)
        prepare_for_fit(self.network)
        self._prebuilt = False
        return self

    def _require_compiled(self):
        if getattr(self.network, "optimizer", None) is None:
            self.compile()

    def dataset(self, data, *, training, batch_size=None, seed=None):
        """`data` as batches for the network (a `tf.data.Dataset` or `BatchStream` passes through)."""
        import tensorflow as tf

        from dlkeras.data import BatchStream

        if isinstance(data, (tf.data.Dataset, BatchStream)):
            return data
        if data is None:
            raise ValueError("No data given.")
        return self.make_dataset(data, training=training,
                                 batch_size=int(batch_size or self.batch_size), seed=seed)

    def _fit_data(self, data, validation_data, batch_size, seed, fit_kwargs, size_calls=True,
                  epochs=None):
        """The training stream and validation dataset, with `fit`'s keyword arguments."""
        self._require_compiled()
        train = self.dataset(data, training=True, batch_size=batch_size, seed=seed)
        if validation_data is not None:
            fit_kwargs["validation_data"] = self.dataset(validation_data, training=False,
                                                         batch_size=batch_size)
        fit_kwargs.setdefault("shuffle", False)  # the task's datasets shuffle themselves
        self._prebuild(train)
        if size_calls:  # (the LR finder takes one step a call whatever the setting)
            self._size_calls(train, fit_kwargs, epochs)
        return train, fit_kwargs

    def _size_calls(self, train, fit_kwargs, epochs=None):
        """Steps per compiled call for this data: `"auto"` from the measured step time (one
        step a call when a fit of `epochs` is too short to pay for tracing a new loop), then
        moved to a divisor of the epoch (Keras runs whole calls past the end of a repeated
        stream otherwise; `dlkeras.steps_per_execution`)."""
        from dlkeras.distribute import uses_strategy
        from dlkeras.phases import steps_per_epoch_of
        from dlkeras.steps_per_execution import (
            dividing_steps_per_execution,
            steps_per_execution_for,
        )

        wanted = self._steps_per_execution
        if wanted is None:  # compiled by Keras directly (e.g. a loaded run folder)
            wanted = self.network.steps_per_execution
        if uses_strategy(self.network):
            return
        epoch = steps_per_epoch_of(train, fit_kwargs)
        if wanted == "auto":
            planned = None
            if epoch and _are_ints(epochs):
                planned = epoch * max(0, epochs - int(fit_kwargs.get("initial_epoch") or 0))
            wanted = steps_per_execution_for(self._step_seconds, epoch, planned_steps=planned,
                                             trace_seconds=self._trace_seconds)
        steps = dividing_steps_per_execution(wanted, epoch)
        if steps != self.network.steps_per_execution:
            self.network.steps_per_execution = steps
            self.network.make_train_function(force=True)

    def _prebuild(self, train):
        """Creates metric variables before the first fit (halves its tracing).

        From the stream's element spec where every part is a plain tensor
        (no batch is read: starting an iterator costs ~15 ms), else from one
        batch.
        """
        import tensorflow as tf

        from dlkeras.data import BatchStream
        from dlkeras.distribute import strategy_scope
        from dlkeras.keras_internals import prebuild_training_state

        if self._prebuilt:
            return
        dataset = train.dataset() if isinstance(train, BatchStream) else train
        spec = dataset.element_spec
        if all(type(part) is tf.TensorSpec for part in tf.nest.flatten(spec)):
            batches = [spec]
        else:
            batches = dataset.take(1)
        for batch in batches:
            with strategy_scope(self.network):
                prebuild_training_state(self.network, batch)
        self._prebuilt = True

    # --- Training verbs -----------------------------------------------------

    def lr_find(self, data, *, batch_size=None, seed=None, phase=None, lr_mult=100, **kwargs):
        """The LR range test on the training data; the network is put back afterwards.

        The sweep measures the phase of the task's recipe that trains at the
        rate: its rates (`finder.lrs`) and `finder.suggestion` are the
        `lr_max` to give `train`. With the `fine_tune` recipe, `phase`
        picks which of its phases is swept (default `"unfrozen"`, where all
        but `freeze_epochs` of the epochs train): `"unfrozen"` sweeps the
        whole network with each group at `fine_tune`'s fraction of `lr_max`
        (`lr_max / 2 / lr_mult` for the first group up to `lr_max / 2` for
        the head); `"frozen"` sweeps the head with the body frozen. Either
        way the suggestion follows `fine_tune`'s settings of the `margin`
        rule (`dlkeras.lr_suggestions.RECIPE_SETTINGS`). Weights,
        optimizer state and which layers are trainable are put back.

        Args:
            data: the app's training data (or a `tf.data.Dataset`).
            batch_size, seed: as for `fit_one_cycle`.
            phase: `None` (the recipe's default), `"unfrozen"` or `"frozen"`
                (the last two only for the `fine_tune` recipe).
            lr_mult: `fine_tune`'s ratio of head to first-group rate.
            **kwargs: more `dlkeras.lr_find` arguments (`start_lr`,
                `end_lr`, `total_steps`, `log_dir`...).

        Returns:
            The `LRFinder` (`suggestion`, `suggestions`, `plot()`).
        """
        from dlkeras.recipes import fine_tune_group_ratios, lr_find, recipe_cycle

        phase = self._lr_find_phase(phase)
        fit_kwargs = {}
        train, fit_kwargs = self._fit_data(data, None, batch_size, seed, fit_kwargs,
                                           size_calls=False)
        kwargs.setdefault("shuffle", False)  # the task's datasets shuffle themselves
        train = train.dataset() if hasattr(train, "steps_per_epoch") else train
        if phase is None:
            finder = lr_find(self.network, train, **kwargs)
        else:
            ratios = fine_tune_group_ratios(phase, len(self.layer_groups), lr_mult=lr_mult)
            kwargs.setdefault("recipe", "fine_tune")  # the suggestion is fine_tune's lr_max
            # Sweeping through that phase's schedules lets its fit reuse the traced step.
            kwargs.setdefault("cycle", recipe_cycle("fine_tune", phase))
            with self._trainable_as_in(phase):
                finder = lr_find(self.network, train, group_ratios=ratios, **kwargs)
        self._step_seconds = finder.step_seconds or self._step_seconds
        if finder.trace_seconds is not None:
            self._trace_seconds = max(finder.trace_seconds, self._trace_seconds or 0.0)
        return finder

    def _lr_find_phase(self, phase):
        """The `fine_tune` phase to sweep, or None for a plain (one-cycle) sweep."""
        fine_tunes = self.recipe == "fine_tune" and len(self.layer_groups) > 1
        if phase is None:
            return "unfrozen" if fine_tunes else None
        if phase not in ("frozen", "unfrozen"):
            raise ValueError(f"`phase` must be None, 'frozen' or 'unfrozen'. Received: phase={phase!r}")
        if not fine_tunes:
            raise ValueError(f"`phase` applies to the fine_tune recipe with several layer groups; "
                             f"{type(self).__name__} trains with {self.recipe!r} over "
                             f"{self.layer_groups.names}. Received: phase={phase!r}")
        return phase

    @contextlib.contextmanager
    def _trainable_as_in(self, phase):
        """Freezes (or unfreezes) as `fine_tune`'s `phase` does, and puts the flags back after."""
        from dlkeras.freezing import freeze, unfreeze
        from dlkeras.keras_internals import sublayers

        layers = sublayers(self.network)
        before = [layer.trainable for layer in layers]
        (freeze if phase == "frozen" else unfreeze)(self.network, self.layer_groups)
        try:
            yield
        finally:
            if [layer.trainable for layer in layers] != before:
                for layer, trainable in zip(layers, before):
                    layer.trainable = trainable
                self.network.make_train_function(force=True)

    def fit_one_cycle(self, data, *, epochs, lr_max, validation_data=None, batch_size=None,
                      seed=None, **kwargs):
        """`dlkeras.fit_one_cycle` on the task's data.

        Args:
            data: the app's training data (or a `tf.data.Dataset`).
            epochs: epochs of the cycle.
            lr_max: peak rate (float, `(lo, hi)` over the groups, or a list).
            validation_data: the app's validation data, evaluated each epoch.
            batch_size: examples per step (default `self.batch_size`).
            seed: shuffle seed of the training batches.
            **kwargs: more `fit_one_cycle` / `model.fit` arguments (`log_dir`,
                `callbacks`, `verbose`, ...).

        Returns:
            The `History`.
        """
        from dlkeras.recipes import fit_one_cycle

        train, kwargs = self._fit_data(data, validation_data, batch_size, seed, kwargs,
                                       epochs=epochs)
        return fit_one_cycle(self.network, train, epochs=epochs, lr_max=lr_max, **kwargs)

    def fine_tune(self, data, *, epochs, lr_max=2e-3, freeze_epochs=1, validation_data=None,
                  batch_size=None, seed=None, **kwargs):
        """`dlkeras.fine_tune` over the task's layer groups (frozen head phase, then all).

        Returns:
            `[frozen_history, unfrozen_history]`.
        """
        from dlkeras.recipes import fine_tune

        if len(self.layer_groups) < 2:
            raise ValueError(f"fine_tune needs at least two layer groups; {type(self).__name__} "
                             f"has {self.layer_groups.names}. Use fit_one_cycle.")
        both = epochs + freeze_epochs if _are_ints(epochs, freeze_epochs) else None
        train, kwargs = self._fit_data(data, validation_data, batch_size, seed, kwargs,
                                       epochs=both)
        return fine_tune(self.network, train, epochs=epochs, layer_groups=self.layer_groups,
                         lr_max=lr_max, freeze_epochs=freeze_epochs, **kwargs)

    def train(self, data, *, epochs, lr_max=None, validation_data=None, **kwargs):
        """The app's recipe (`recipe`): `fit_one_cycle`, or `fine_tune` for pretrained bodies.

        Returns:
            A list of `History` objects, one per phase.
        """
        lr_max = self.recipe_lr_max(epochs, lr_max)
        if self.recipe == "fine_tune":
            histories = self.fine_tune(data, epochs=epochs, lr_max=lr_max,
                                       validation_data=validation_data, **kwargs)
            return [h for h in histories if h is not None]
        return [self.fit_one_cycle(data, epochs=epochs, lr_max=lr_max,
                                   validation_data=validation_data, **kwargs)]

    def recipe_lr_max(self, epochs, lr_max):
        """The peak rate of a `train` run (`lr_max`, else `default_lr_max`), once `epochs` is checked.

        For subclasses whose `train` runs a recipe of their own.
        """
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"`epochs` must be an integer >= 1. Received: epochs={epochs!r}")
        return self.default_lr_max if lr_max is None else lr_max

    def evaluate(self, data, batch_size=None):
        """Loss and metrics on labelled data, as a dict of floats."""
        self._require_compiled()
        dataset = self.dataset(data, training=False, batch_size=batch_size)
        results = self.network.evaluate(dataset, verbose=0, return_dict=True)
        return {name: float(value) for name, value in results.items()}

    def predict(self, inputs, batch_size=None):
        """Outputs for raw inputs of the app's kind (`prepare_inputs`, network, `postprocess`)."""
        features = self.prepare_inputs(inputs)
        outputs = self.network.predict(features, batch_size=batch_size or 1024, verbose=0)
        return self.postprocess(np.asarray(outputs) if not isinstance(outputs, dict) else outputs)

    # --- Saving, loading, exporting -----------------------------------------

    def save(self, run_dir):
        """Writes the run folder: `model.keras` (with optimizer state) and `task.json`."""
        from dlkeras.tasks.run_folder import save_task

        return save_task(self, run_dir)

    @classmethod
    def load(cls, run_dir, compile=True):
        """Reads a run folder written by `save`, whichever app wrote it.

        Args:
            run_dir: the folder.
            compile: restore the optimizer (state included) to train on;
                False loads faster for predicting and exporting.
        """
        from dlkeras.tasks.run_folder import load_task

        task = load_task(run_dir, compile=compile)
        if not isinstance(task, cls):
            raise TypeError(f"{str(run_dir)!r} holds a {type(task).__name__}, not a {cls.__name__}.")
        return task

    def export(self, name=None, root=None, version=None, check=True):
        """Writes the SavedModel to `<root>/<name>/<version>/` and checks the reload.

        Args:
            name: model name (default `self.name`).
            root: saved-models root (default `$DLKERAS_SAVED_MODELS` or `./saved_models`).
            version: version number (default: the next free one); a folder
                that already holds files is refused.
            check: reload the SavedModel and compare every signature that has a
                `serving_examples()` entry with the in-memory model.

        Returns:
            The version folder.
        """
        import shutil

        from dlkeras.export import check_saved_model, export_saved_model, version_dir

        path = version_dir(name or self.name, root=root, version=version)
        endpoints = self.serving_endpoints()
        export_saved_model(self.inference_model, endpoints, path,
                           metadata={"task": type(self).__name__, **self.metadata})
        if check:
            try:
                check_saved_model(path, endpoints, self.serving_examples())
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
        return path

    def __repr__(self):
        return (f"<{type(self).__name__} {self.name!r}: network {self.network.name!r}, "
                f"groups {self.layer_groups.names}>")


def _are_ints(*values):
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)
