"""The serving signatures of an image model: encoded image bytes, or decoded pixels.

`ImageTask.export` writes them into a SavedModel (neither needs dlkeras or
Keras custom objects to serve):

* `serving_default(image_bytes: string[B])`: PNG/JPEG/GIF/BMP/WebP bytes
  (a GIF's first frame) are decoded to RGB, resized to the training size and
  fed to the model.
* `serve_pixels(pixels: uint8[B, H, W, 3])`: already decoded images of any
  size, resized the same way.

Both return `outputs` (float32 `[B, C]`: class probabilities, tag
probabilities or regression values) and `class_names` (string `[B, C]`).

The contract, checked inside the graph (so it holds in a fresh process
without dlkeras), with `InvalidArgumentError`s that name the image:

* an image over `max_pixels` (height x width, default 40 megapixels) is
  refused from its header, before it is decoded (see `apps.image.headers`);
  images are decoded one at a time and resized from uint8, so a call never
  holds more than one full-size image;
* bytes that are no PNG/JPEG/GIF/BMP/WebP image, and images without pixels,
  are refused;
* an empty batch gives empty outputs (`[0, C]`);
* shapes are checked when the graph runs (`tf.ensure_shape`): a loaded
  signature checks the dtype of what it is given but not its shape, so a
  `[H, W, 3]` image would otherwise reach a graph traced for `[B, H, W, 3]`.

Input dtypes are exact: `image_bytes` is `string`, `pixels` is `uint8` (RGB
0..255). TensorFlow refuses a tensor of any other dtype before the graph
runs (a float32 tensor of 0..1 pixels is an error, not a black image). Only
its Python convenience conversion of NumPy arrays and lists, which happens
in the client before any graph, casts with C rules (0.7 -> 0, 300 -> 44):
call a loaded signature with `tf.constant(array)`, which keeps the array's
dtype, to get the check.
"""
import tensorflow as tf

from apps.image.headers import DEFAULT_MAX_PIXELS, budget_checks, header_info


def resized(images, size):
    """uint8 images `(B, H, W, 3)` or `(H, W, 3)` to float32 `size x size`, bilinear.

    The same numbers as `apps.image.pipeline.to_model_pixels` (which casts to
    float32 first), without a full-size float copy.
    """
    return tf.image.resize(images, (size, size), method="bilinear")


def serving_functions(model, size, class_names, max_pixels=DEFAULT_MAX_PIXELS):
    """Builds the two serving `tf.function`s.

    They are also the in-memory reference the exported model is checked against.

    Args:
        model: Keras model from float32 RGB 0..255 `(B, size, size, 3)`.
        size: side of the square the images are resized to.
        class_names: names of the model's outputs.
        max_pixels: the largest height x width served; larger images are
            refused before decoding.

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
    >>> from_bytes(tf.constant([], tf.string))["outputs"].shape
    TensorShape([0, 2])
    """
    names = tf.constant([str(n) for n in class_names], dtype=tf.string)
    if len(class_names) != model.output_shape[-1]:
        raise ValueError(f"{len(class_names)} class names for a model with "
                         f"{model.output_shape[-1]} outputs: {list(class_names)}")
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise ValueError(f"`max_pixels` must be an integer >= 1. "
                         f"Received: max_pixels={max_pixels!r}")

    def predict(pixels):
        batch = tf.shape(pixels)[0]
        outputs = tf.cond(
            batch > 0, lambda: tf.cast(model(pixels, training=False), tf.float32),
            lambda: tf.zeros([0, len(class_names)], tf.float32))
        return {"outputs": outputs, "class_names": tf.tile(names[None, :], [batch, 1])}

    def decode_one(indexed):
        index, data = indexed
        kind, height, width, decodable = header_info(data)
        checks = budget_checks(kind, height, width, max_pixels, "image_bytes[{}]", index)
        with tf.control_dependencies(checks):
            image = tf.io.decode_image(decodable, channels=3, expand_animations=False)
        return resized(image, size)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def from_bytes(image_bytes):
        image_bytes = tf.ensure_shape(image_bytes, [None])  # see the module docstring
        indices = tf.range(tf.size(image_bytes, out_type=tf.int64))
        # One image at a time: a call holds at most one decoded full-size image.
        pixels = tf.map_fn(decode_one, (indices, image_bytes), parallel_iterations=1,
                           fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        return predict(tf.reshape(pixels, [-1, size, size, 3]))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8,
                                                name="pixels")])
    def from_pixels(pixels):
        pixels = tf.ensure_shape(pixels, [None, None, None, 3])
        shape = tf.shape(pixels, out_type=tf.int64)
        batch = shape[0]
        checks = budget_checks(1, shape[1], shape[2], max_pixels, "pixels (each image)",
                               applies=batch > 0)
        with tf.control_dependencies(checks):
            images = tf.cond(batch > 0, lambda: resized(pixels, size),
                             lambda: tf.zeros([0, size, size, 3], tf.float32))
        return predict(images)

    return from_bytes, from_pixels
