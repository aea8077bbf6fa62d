"""`TabularTask`: entity-embedding MLP on a DataFrame, served on raw columns.

Training runs on the network half with preprocessed tensors (the
preprocessor runs once over each frame, column-wise); the raw-column model
(preprocessor then network) is what serving calls. Everything about
training, saving and exporting comes from `dlkeras.tasks.Task`.

The SavedModel's `serving_default` signature takes one 1-D tensor per
column, named after it: `string` for categorical columns (missing = "",
unseen values allowed) and `float32` for continuous ones (NaN = missing).
It returns `probabilities` (one column per class) and `label` for
classification, or `values` for regression. The contract, checked in the
graph (it holds served without dlkeras): a missing, extra or wrongly typed
column is refused by TensorFlow with the column's name, a column that is
not 1-D by `tf.ensure_shape` (with its name); columns of
different lengths and +-inf values are refused naming the column; a row
whose outputs would not be finite is refused, never labelled; an empty
batch gives empty outputs. (TensorFlow's Python binding casts NumPy arrays
to the declared dtype before the graph runs, e.g. float64 1e300 to inf,
which is then refused; pass `tf.constant(array)` to have a wrong dtype
refused too.)

Example:

>>> import numpy as np, pandas as pd
>>> frame = pd.DataFrame({"shop": list("abab") * 16, "x": np.arange(64.0), "y": [0, 1] * 32})
>>> task = TabularTask.from_frame(frame, "y", layers=[8], batch_size=16)
>>> task.roles.cat_names, task.roles.cont_names, task.roles.task
(['shop'], ['x'], 'binary')
>>> _ = task.fit_one_cycle(frame, epochs=1, lr_max=1e-2, verbose=0)
>>> task.predict(frame.iloc[:2]).shape
(2, 2)
"""
from __future__ import annotations

__all__ = ["TabularTask"]

import inspect

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from apps.tabular.data import preprocess_frame
from apps.tabular.frames import check_y_range, encode_target
from apps.tabular.network import build_network
from apps.tabular.preprocessor import (
    build_preprocessor,
    cardinalities,
    continuous_width,
    fit_preprocessing,
    raw_input_layers,
)
from apps.tabular.roles import ColumnRoles, infer_roles
from apps.tabular.shards import shard_batches
from dlkeras.data import default_batch_size, index_batched_dataset, training_batches
from dlkeras.shards import ShardedTable
from dlkeras.tasks import FASTAI_ADAM, Task

_LOSSES = {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy",
           "regression": "mean_squared_error"}


class TabularTask(Task):
    """A tabular model: preprocessing layers learnt from the training rows, then the network.

    Build one with `TabularTask.from_frame`; a run folder reloads it with
    `Task.load`. Metadata: `roles` (column roles, classes), `preprocessing`
    (vocabularies, medians, normalization statistics), `batch_size`, `name`.

    Args:
        network: the entity-embedding network (`apps.tabular.network.build_network`).
        layer_groups: as for `Task` (default: one group).
        metadata: see above.
    """

    default_lr_max = 1e-2  # fastai's tabular default, measured on gss_wages (benchmarks/)
    adam_options = FASTAI_ADAM

    def __init__(self, network, layer_groups=None, metadata=None):
        super().__init__(network, layer_groups, metadata)
        self.roles = ColumnRoles.from_dict(self.metadata["roles"])
        self.preprocessor = build_preprocessor(self.roles, self.metadata["preprocessing"])
        self._prepared = []  # (frame, features, targets) of recently used frames

    @classmethod
    def from_frame(cls, train_df, y_name, cat_names=None, cont_names=None, *, task=None,
                   layers=(200, 100), batch_size=None, weight_decay=0.01, name="tabular",
                   argument_names=None, steps_per_execution="auto", jit_compile=False,
                   **network_kwargs):
        """Infers column roles, fits the preprocessing on `train_df`, builds and compiles.

        Args:
            train_df: the training rows only (validation must not leak into
                vocabularies, medians or normalization statistics).
            y_name: target column (a list for multi-target regression).
            cat_names, cont_names: column roles; inferred from dtypes when None.
            task: "binary", "multiclass" or "regression"; inferred when None.
            layers: hidden widths of the MLP.
            batch_size: rows per step; default from the number of rows
                (`dlkeras.data.default_batch_size`).
            weight_decay: decoupled weight decay of AdamW.
            name: model name for exports.
            argument_names: how the caller names the role arguments, for messages.
            steps_per_execution: steps per compiled call; `"auto"` (default)
                sizes the calls from the step time `lr_find` measured (one
                step a call before any sweep): a gss_wages epoch at batch
                1024 then runs in one call instead of 30.
            jit_compile: XLA (it trains faster but compiles for about 2 s
                on 2 cores, more than a short fit gains; `benchmarks/fixed_costs.py`).
            **network_kwargs: `build_network` options (`ps`, `embed_p`,
                `y_range`, `emb_szs`, ...).
        """
        roles = infer_roles(train_df, y_name, cat_names, cont_names, task=task,
                            argument_names=argument_names)
        if roles.task == "regression":
            check_y_range(encode_target(train_df, roles), network_kwargs.get("y_range"),
                          roles.y_names)
        state = fit_preprocessing(train_df, roles)
        n_out = len(roles.classes) if roles.task == "multiclass" else len(roles.y_names)
        network = build_network(roles.cat_names, cardinalities(roles, state),
                                continuous_width(state), task=roles.task, n_outputs=n_out,
                                layers=layers, **network_kwargs)
        metadata = {"name": name, "roles": roles.to_dict(), "preprocessing": state,
                    "batch_size": int(batch_size or default_batch_size(len(train_df))),
                    "weight_decay": float(weight_decay)}
        result = cls(network, metadata=metadata)
        result.compile(steps_per_execution=steps_per_execution, jit_compile=jit_compile)
        return result

    # --- Declarations ---------------------------------------------------------

    def loss_and_metrics(self):
        metrics = ([keras.metrics.RootMeanSquaredError(name="rmse")]
                   if self.roles.task == "regression" else ["accuracy"])
        return _LOSSES[self.roles.task], metrics

    def _prepare(self, df, with_targets):
        """Preprocessed features (and targets) of `df`, computed once per frame object."""
        for frame, features, targets in self._prepared:
            if frame is df and (targets is not None or not with_targets):
                return features, targets
        features = preprocess_frame(self.preprocessor, df, self.roles)
        targets = encode_target(df, self.roles) if with_targets else None
        self._prepared = [(df, features, targets)] + self._prepared[:1]
        return features, targets

    def make_dataset(self, data, *, training, batch_size, seed=None):
        if isinstance(data, ShardedTable):  # larger than memory: apps.tabular.shards
            return shard_batches(self, data, training=training, batch_size=batch_size, seed=seed)
        if not isinstance(data, pd.DataFrame):
            raise TypeError("TabularTask takes pandas DataFrames or a dlkeras.shards.ShardedTable. "
                            f"Received: {type(data).__name__}")
        features, targets = self._prepare(data, with_targets=True)
        if training:
            return training_batches(features, targets, batch_size, seed=seed)
        # Large validation batches: one or two steps, no retrace for a ragged last batch.
        return index_batched_dataset(features, targets, max(batch_size, 16384))

    def prepare_inputs(self, inputs):
        return self._prepare(inputs, with_targets=False)[0]

    def postprocess(self, outputs):
        if self.roles.task == "binary":
            return np.concatenate([1.0 - outputs, outputs], axis=1)
        return outputs

    def build_inference_model(self):
        inputs = raw_input_layers(self.roles)
        return keras.Model(inputs, self.network(self.preprocessor(inputs)), name="tabular_model")

    def serving_endpoints(self):
        return {"serve": tf.function(_serving_function(self.inference_model, self.roles),
                                     input_signature=serving_signature(self.roles))}

    def serving_examples(self):
        """Two rows built from the training state: known values, then unknown/missing ones."""
        state = self.metadata["preprocessing"]
        columns = {}
        for name in self.roles.cat_names:
            vocabulary = state["vocabularies"][name]
            columns[name] = tf.constant([vocabulary[0] if vocabulary else "", "#unseen#"])
        for position, name in enumerate(self.roles.cont_names):
            columns[name] = tf.constant([state["continuous"]["medians"][position], np.nan],
                                        tf.float32)
        return {"serve": columns}

    # --- Friendly outputs -----------------------------------------------------

    def predict_frame(self, df, id_column=None):
        """Predictions as a DataFrame: `p_<class>` columns and the label, or the target values.

        Args:
            df: rows with the model's input columns.
            id_column: a column of `df` copied first into the result, to tell
                rows apart; default a `row` column (0-based position in `df`).
        """
        outputs = self.predict(df)
        if id_column is not None and id_column not in df.columns:
            raise KeyError(f"Id column {id_column!r} is not in the table; its columns: "
                           f"{list(df.columns)}")
        ids = (df[id_column].to_numpy() if id_column is not None else np.arange(len(df)))
        frame = pd.DataFrame({id_column or "row": ids})
        if self.roles.task == "regression":
            for position, name in enumerate(self.roles.y_names):
                frame[name] = outputs[:, position]
            return frame
        for position, label in enumerate(self.roles.classes):
            frame[f"p_{label}"] = outputs[:, position]
        frame[self.roles.y_names[0]] = np.asarray(self.roles.classes)[outputs.argmax(axis=1)]
        return frame


def serving_signature(roles):
    """`tf.TensorSpec([None], dtype, name=column)` per raw input, in `input_names` order.

    Example:

    >>> specs = serving_signature(ColumnRoles(["c"], ["x"], ["y"], "binary", ["0", "1"]))
    >>> [(s.name, s.dtype.name) for s in specs]
    [('c', 'string'), ('x', 'float32')]
    """
    dtypes = {**{n: tf.string for n in roles.cat_names}, **{n: tf.float32 for n in roles.cont_names}}
    return [tf.TensorSpec([None], dtypes[name], name=name) for name in roles.input_names]


def _serving_function(model, roles):
    """One argument per column -> named outputs, with the serving contract checked in-graph.

    Its Python signature names every column, so TensorFlow's own binding
    errors (missing or unexpected argument, "Can not cast TensorSpec(...
    name='age')") name the offending column even when served without dlkeras.
    Inside the graph (see `serving_checks`): columns of different lengths and
    infinite numbers are refused naming the column, and outputs that are not
    finite (an input far outside the training range) are refused rather than
    answered with a label.
    """
    classes = tf.constant(roles.classes or [""])
    signature = inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                   for name in roles.input_names])

    @tf.autograph.experimental.do_not_convert
    def serve(*args, **kwargs):
        columns = dict(signature.bind(*args, **kwargs).arguments)
        # A loaded signature checks dtypes, not shapes: a [n, 1] column would get through.
        columns = {name: tf.ensure_shape(values, [None]) for name, values in columns.items()}
        with tf.control_dependencies(serving_checks(columns, roles)):
            columns = {name: tf.identity(values) for name, values in columns.items()}
        outputs = model(columns, training=False)
        finite = tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(outputs)), [
            "serve: the outputs are not finite for some rows (an input value far outside "
            "the training range?); no prediction is given for such rows"])
        with tf.control_dependencies([finite]):
            outputs = tf.identity(outputs)
        if roles.task == "regression":
            return {"values": outputs}
        if roles.task == "binary":
            outputs = tf.concat([1.0 - outputs, outputs], axis=1)
        return {"probabilities": outputs, "label": tf.gather(classes, tf.argmax(outputs, axis=1))}

    serve.__signature__ = signature
    return serve


def serving_checks(columns, roles):
    """Graph assertions on raw columns: one length for all, no infinite number.

    NaN is a continuous column's missing value (filled with the training
    median, flagged when training had gaps); +-inf is refused, naming the
    column, the count and the first row.

    Example:


    >>> roles = ColumnRoles([], ["x"], ["y"], "regression")
    >>> try:
    ...     serving_checks({"x": tf.constant([1.0, float("inf")])}, roles)
    ... except tf.errors.InvalidArgumentError as error:
    ...     print(error.message)
    Expected ... b'serve: column x holds 1 infinite value(s), the first at row 1; ...
    """
    names = roles.input_names
    first = names[0]
    rows = tf.size(columns[first])
    checks = []
    # Quotes in an assertion's message come out backslash-escaped: names go bare.
    for name in names[1:]:
        size = tf.size(columns[name])
        checks.append(tf.debugging.Assert(tf.equal(size, rows), [tf.strings.format(
            f"serve: column {name} has {{}} rows but column {first} has {{}}; send one value "
            "per row in every column", (size, rows))]))
    for name in roles.cont_names:
        infinite = tf.math.is_inf(columns[name])
        flags = tf.concat([tf.cast(infinite, tf.int32), [1]], axis=0)  # argmax of [] fails
        checks.append(tf.debugging.Assert(tf.logical_not(tf.reduce_any(infinite)), [
            tf.strings.format(f"serve: column {name} holds {{}} infinite value(s), the first at "
                              "row {}; send NaN for a missing value",
                              (tf.math.count_nonzero(infinite), tf.argmax(flags)))]))
    return checks
