"""Predicting with an exported SavedModel, the way a server would (no dlkeras needed)."""
import pathlib

import numpy as np
import tensorflow as tf


def resolve_saved_model(path):
    """Returns the version directory: ``path`` itself, or its highest numbered version.

    Example:
    >>> resolve_saved_model("saved_models/mnist5k_lite0")  # doctest: +SKIP
    PosixPath('saved_models/mnist5k_lite0/3')
    """
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    versions = sorted((int(p.name), p) for p in path.glob("*")
                      if p.name.isdigit() and (p / "saved_model.pb").is_file())
    if not versions:
        raise FileNotFoundError(
            f"No SavedModel at {str(path)!r}: expected saved_model.pb there or in a "
            "numbered version folder below it.")
    return versions[-1][1]


def predict_files(model_path, image_paths, top_k=3):
    """Sends the files' encoded bytes to the ``serving_default`` signature.

    Args:
        model_path: a SavedModel version directory or its parent.
        image_paths: JPEG/PNG/BMP/GIF files.
        top_k: how many (class, score) pairs to keep per image.

    Returns:
        A list of ``(path, [(class_name, score), ...])`` (best first) and, for
        a file that cannot be read or decoded, ``(path, "error: ...")``.

    Example:
    >>> predict_files("saved_models/digits", ["seven.png"])  # doctest: +SKIP
    [('seven.png', [('7', 0.98), ('1', 0.01), ('2', 0.004)])]
    """
    signature = tf.saved_model.load(str(resolve_saved_model(model_path))).signatures[
        "serving_default"]
    results = []
    for path in image_paths:
        try:
            data = pathlib.Path(path).read_bytes()
            outputs = signature(image_bytes=tf.constant([data]))
        except (OSError, tf.errors.InvalidArgumentError) as error:
            message = getattr(error, "message", None) or str(error)
            results.append((str(path), f"error: {message.strip().splitlines()[0]}"))
            continue
        scores = outputs["outputs"].numpy()[0]
        names = [n.decode() for n in outputs["class_names"].numpy()[0]]
        best = np.argsort(-scores, kind="stable")[:top_k]
        results.append((str(path), [(names[i], float(scores[i])) for i in best]))
    return results
