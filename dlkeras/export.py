"""SavedModels for serving: where they go, how they are written, and the reload check.

Exports follow the TensorFlow Serving layout `saved_models/<name>/<version>/`:
point a model server at `saved_models/<name>` and it serves the highest
version. A version folder is written once: an existing, non-empty one is
refused, never overwritten.

Example:

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> version_dir("mnist", root=root).name
'1'
"""

import json
import os
import pathlib
import re
import shutil

SAVED_MODELS_ENV = "DLKERAS_SAVED_MODELS"


def saved_models_root(root=None):
    """`root`, else `$DLKERAS_SAVED_MODELS`, else `./saved_models`."""
    return pathlib.Path(root or os.environ.get(SAVED_MODELS_ENV) or "saved_models")


def _check_name(name):
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(
            "A model name must start with a letter or digit and hold only letters, "
            f"digits, '-', '_' and '.'. Received: name={name!r}")


def new_version_dir(name, root=None):
    """The next free `<root>/<name>/<version>/` path (not created).

    Args:
        name: model name; letters, digits, `-`, `_` and `.` only.
        root: folder holding all exported models.
    """
    _check_name(name)
    folder = saved_models_root(root) / name
    versions = [int(p.name) for p in folder.glob("*") if p.is_dir() and p.name.isdigit()]
    return folder / str(max(versions, default=0) + 1)


def version_dir(name, root=None, version=None):
    """`<root>/<name>/<version>/`: the next free version, or `version` if its folder is empty.

    Raises:
        FileExistsError: `version` names a folder that already holds files.

    Example:

    >>> import tempfile
    >>> version_dir("pets", root=tempfile.mkdtemp(), version=7).name
    '7'
    """
    if version is None:
        return new_version_dir(name, root)
    _check_name(name)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"`version` must be an integer >= 1. Received: version={version!r}")
    path = saved_models_root(root) / name / str(version)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"Export folder {str(path)!r} already holds files; choose another "
                              "version or leave `version` out for the next free one.")
    return path


def export_saved_model(model, endpoints, path, metadata=None):
    """Writes `model`'s serving `endpoints` as a SavedModel in the empty folder `path`.

    Args:
        model: the Keras model whose variables the endpoints use.
        endpoints: `{signature name: tf.function with an input_signature}`;
            the first one is also `serving_default` unless one is named so.
        path: the version folder (created; must not hold files).
        metadata: JSON-able dict written to `assets.extra/task.json`.

    Returns:
        `path` as a `pathlib.Path`.
    """
    import keras

    path = pathlib.Path(path)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"Export folder {str(path)!r} already holds files.")
    if not endpoints:
        raise ValueError("Nothing to export: no serving endpoint was declared.")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, function in endpoints.items():
        archive.add_endpoint(name, function)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        archive.write_out(str(path), verbose=False)
        if metadata is not None:
            extra = path / "assets.extra"
            extra.mkdir(exist_ok=True)
            (extra / "task.json").write_text(json.dumps(metadata, indent=1, default=str))
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # never leave half an export behind
        raise
    return path


def check_saved_model(path, endpoints, examples, atol=1e-5):
    """Reloads the SavedModel at `path` and compares each signature with its endpoint.

    Args:
        path: the SavedModel folder.
        endpoints: the in-memory `{name: tf.function}` that were exported.
        examples: `{name: dict of input tensors}` to call both with; names
            without an example are only checked for presence.
        atol: tolerance for float outputs (other dtypes must be equal).

    Raises:
        AssertionError: a signature is missing or gives other outputs.
    """
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    for name, function in endpoints.items():
        if name not in loaded.signatures:
            raise AssertionError(f"Signature {name!r} is missing from the SavedModel at {path}.")
        if name not in examples:
            continue
        served = loaded.signatures[name](**examples[name])
        expected = function(**examples[name])
        for key, value in expected.items():
            got, want = np.asarray(served[key]), np.asarray(value)
            same = (np.allclose(got, want, atol=atol, equal_nan=True)
                    if want.dtype.kind == "f" else np.array_equal(got, want))
            if got.shape != want.shape or not same:
                raise AssertionError(f"Signature {name!r}, output {key!r}: the reloaded SavedModel "
                                     f"differs from the in-memory model.")
