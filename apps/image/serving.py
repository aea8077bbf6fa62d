"""The serving signatures of an image model: encoded image bytes, or decoded pixels.

`ImageTask.export` writes them into a SavedModel (neither needs dlkeras or
Keras custom objects to serve):

* `serving_default(image_bytes: string[B])`: JPEG/PNG/BMP/GIF bytes are
  decoded to RGB, resized to the training size and fed to the model.
* `serve_pixels(pixels: uint8[B, H, W, 3])`: already decoded images of any
  size, resized the same way.

Both return `outputs` (float32 `[B, C]`: class probabilities, tag
probabilities or regression values) and `class_names` (string `[B, C]`).
"""
import tensorflow as tf

from apps.image.pipeline import to_model_pixels


def serving_functions(model, size, class_names):
    """Builds the two serving `tf.function`s.

    They are also the in-memory reference the exported model is checked against.

    Args:
        model: Keras model from float32 RGB 0..255 `(B, size, size, 3)`.
        size: side of the square the images are resized to.
        class_names: names of the model's outputs.

    Returns:
        `(from_bytes, from_pixels)` tf.functions returning
        `{"outputs", "class_names"}`.

    Example:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2, activation="softmax")])
    >>> from_bytes, from_pixels = serving_functions(model, 8, ["cat", "dog"])
    >>> from_pixels(tf.zeros((1, 20, 10, 3), tf.uint8))["outputs"].shape
    TensorShape([1, 2])
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
