"""Export an image model as a TF Serving SavedModel that takes encoded images.

Signatures (neither needs dlkeras or Keras custom objects to serve):

* ``serving_default(image_bytes: string[B])``: JPEG/PNG/BMP/GIF bytes are
  decoded to RGB, resized to the training size and fed to the model.
* ``serve_pixels(pixels: uint8[B, H, W, 3])``: already decoded images of any
  size, resized the same way.

Both return ``outputs`` (float32 ``[B, C]``: class probabilities, tag
probabilities or regression values) and ``class_names`` (string ``[B, C]``).
"""
import pathlib

import keras
import tensorflow as tf
from dlkeras.export import new_version_dir

from apps.image.pipeline import to_model_pixels

__all__ = ["export_image_model", "new_version_dir", "serving_functions"]


def serving_functions(model, size, class_names):
    """Builds the two serving ``tf.function``s of :func:`export_image_model`.

    They are also the in-memory reference the exported model is tested against.

    Args:
        model: Keras model from float32 RGB 0..255 ``(B, size, size, 3)``.
        size: side of the square the images are resized to.
        class_names: names of the model's outputs.

    Returns:
        ``(from_bytes, from_pixels)`` tf.functions returning
        ``{"outputs", "class_names"}``.
    """
    names = tf.constant([str(n) for n in class_names], dtype=tf.string)
    if len(class_names) != model.output_shape[-1]:
        raise ValueError(f"{len(class_names)} class names for a model with "
                         f"{model.output_shape[-1]} outputs: {list(class_names)}")

    def predict(pixels):
        outputs = tf.cast(model(pixels, training=False), tf.float32)
        batch = tf.shape(outputs)[0]
        return {"outputs": outputs, "class_names": tf.tile(names[None, :], [batch, 1])}

    def decode_one(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        return to_model_pixels(image, size)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def from_bytes(image_bytes):
        pixels = tf.map_fn(decode_one, image_bytes,
                           fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        return predict(tf.reshape(pixels, [-1, size, size, 3]))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8,
                                                name="pixels")])
    def from_pixels(pixels):
        return predict(to_model_pixels(pixels, size))

    return from_bytes, from_pixels


def export_image_model(model, size, class_names, name, root=None, export_dir=None):
    """Writes the SavedModel to ``saved_models/<name>/<version>/``.

    Args:
        model: the trained Keras model (raw 0..255 pixels in).
        size: image side the model was trained at; inputs are resized to it.
        class_names: names of the outputs, returned with every prediction.
        name: model name (the ``<name>`` directory).
        root: directory holding the model names (default ``$DLKERAS_SAVED_MODELS``
            or ``./saved_models``).
        export_dir: exact directory to write instead of a new version directory.

    Returns:
        The ``pathlib.Path`` of the written version directory.

    Example:
    >>> path = export_image_model(model, 64, ["cat", "dog"], "pets")  # doctest: +SKIP
    >>> tf.saved_model.load(str(path)).signatures["serving_default"]  # doctest: +SKIP
    """
    path = pathlib.Path(export_dir) if export_dir else new_version_dir(name, root=root)
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"Export directory {str(path)!r} exists and is not empty.")
    from_bytes, from_pixels = serving_functions(model, int(size), class_names)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", from_bytes)
    archive.add_endpoint("serve_pixels", from_pixels)
    archive.write_out(str(path), verbose=False)
    return path
