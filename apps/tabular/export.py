"""Export a tabular model as a SavedModel that takes raw columns.

The `serving_default` signature has one 1-D input per column, named after it:
strings for categorical columns (missing = "", unseen values allowed) and
float32 for continuous ones (NaN allowed). It returns `probabilities` (one
column per class) and `label` for classification, or `values` for regression.
Serving needs TensorFlow only; a missing, extra or wrongly typed column is
rejected by TensorFlow with the column's name in the message when called as
`loaded.serve(**columns)`; through `signatures["serving_default"]` missing and
extra columns are named, a wrong dtype is reported by input position (inputs
are ordered by column name).
"""
from __future__ import annotations

import inspect
import json
import os
import pathlib

import keras
import tensorflow as tf

from apps.tabular.roles import ColumnRoles


def next_version_dir(name: str, root=None) -> pathlib.Path:
    """`<root>/<name>/<n+1>/` (TF Serving layout), via dlkeras when available.

    Example:
        >>> # next_version_dir("gss_wages")  -> saved_models/gss_wages/1
    """
    try:
        from dlkeras.export import new_version_dir
    except ImportError:  # core module not there yet: same contract, local version
        base = pathlib.Path(root or os.environ.get("DLKERAS_SAVED_MODELS", "saved_models"))
        taken = [int(p.name) for p in (base / name).glob("*") if p.name.isdigit()]
        return base / name / str(max(taken, default=0) + 1)
    return new_version_dir(name, root=root)


def serving_signature(roles: ColumnRoles) -> list:
    """`tf.TensorSpec([None], dtype, name=column)` per raw input, in `input_names` order.

    Example:
        >>> specs = serving_signature(ColumnRoles(["c"], ["x"], ["y"], "binary", ["0", "1"]))
        >>> [(s.name, s.dtype.name) for s in specs]
        [('c', 'string'), ('x', 'float32')]
    """
    dtypes = {**{n: tf.string for n in roles.cat_names}, **{n: tf.float32 for n in roles.cont_names}}
    return [tf.TensorSpec([None], dtypes[name], name=name) for name in roles.input_names]


def serving_function(model: keras.Model, roles: ColumnRoles):
    """The function behind the signature: one argument per column -> named outputs.

    Its Python signature names every column, so TensorFlow's own binding errors
    (missing / unexpected argument, "Can not cast TensorSpec(... name='age')")
    name the offending column even when served without dlkeras.
    """
    classes = tf.constant(roles.classes or [""])
    signature = inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                   for name in roles.input_names])

    @tf.autograph.experimental.do_not_convert
    def serve(*args, **kwargs):
        columns = dict(signature.bind(*args, **kwargs).arguments)
        outputs = model(columns, training=False)
        if roles.task == "regression":
            return {"values": outputs}
        if roles.task == "binary":
            outputs = tf.concat([1.0 - outputs, outputs], axis=1)
        return {"probabilities": outputs,
                "label": tf.gather(classes, tf.argmax(outputs, axis=1))}

    serve.__signature__ = signature
    return serve


def export_saved_model(model: keras.Model, roles: ColumnRoles, name: str, root=None,
                       path=None) -> pathlib.Path:
    """Write the model under `saved_models/<name>/<version>/` (or `path`).

    Args:
        model: the full model (raw columns in).
        roles: its column roles (also written as `assets.extra/roles.json`).
        name: model name, the folder under the saved-models root.
        root: saved-models root; `$DLKERAS_SAVED_MODELS` or `./saved_models` when None.
        path: explicit target directory (skips versioning).

    Returns:
        The directory written.

    Example:
        >>> # path = export_saved_model(learn.model, learn.roles, "gss_wages")
        >>> # tf.saved_model.load(str(path)).signatures["serving_default"](age=..., ...)
    """
    target = pathlib.Path(path) if path else next_version_dir(name, root)
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"Export target {target} already holds files.")
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serving_function(model, roles),
                         input_signature=serving_signature(roles))
    archive.write_out(str(target), verbose=False)
    extra = target / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "roles.json").write_text(json.dumps(roles.to_dict(), indent=1))
    return target
