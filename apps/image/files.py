"""Finding image files and weeding out the ones TensorFlow cannot decode."""
import logging
import re

import tensorflow as tf

from apps.image.headers import header_info

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
MAX_FILE_PIXELS = 178_956_970  # PIL's decompression-bomb limit (Image.MAX_IMAGE_PIXELS * 2)
logger = logging.getLogger("apps.image")
_header = tf.function(header_info, input_signature=[tf.TensorSpec([], tf.string)])


def read_error(path, max_pixels=MAX_FILE_PIXELS):
    """Returns why `path` cannot be decoded as an image, or None if it can.

    Uses the same decoder as the training pipeline (`tf.io.decode_image`), so
    a file that passes here does not break an epoch later. The size is read
    from the header first: an image over `max_pixels` is refused before it
    is decoded (a 0.3 MB PNG can hold 10000x10000 pixels).

    Args:
        path: the image file.
        max_pixels: the largest height x width accepted (default: PIL's
            decompression-bomb limit; serving uses its own, smaller budget).

    Example:

    >>> read_error("/no/such/file.png")
    'cannot read: /no/such/file.png; No such file or directory [Op:ReadFile]'
    """
    try:
        data = tf.io.read_file(path)
    except (tf.errors.OpError, OSError) as error:
        return f"cannot read: {_first_line(error)}"
    try:
        kind, height, width, decodable = _header(data)
    except (tf.errors.OpError, ValueError) as error:
        return f"cannot decode: {_first_line(error)}"
    if int(kind) == 0:
        return "cannot decode: not a PNG, JPEG, GIF, BMP or WebP image"
    if int(height) * int(width) > max_pixels:
        return (f"{int(width)}x{int(height)} pixels, over the limit of {max_pixels} pixels "
                "(not decoded)")
    try:
        image = tf.io.decode_image(decodable, channels=3, expand_animations=False)
    except (tf.errors.OpError, ValueError) as error:
        return f"cannot decode: {_first_line(error)}"
    if image.shape[0] == 0 or image.shape[1] == 0:
        return f"empty image of shape {tuple(image.shape)}"
    return None


def drop_unreadable(paths):
    """Splits `paths` into readable indices and `(path, reason)` of the rest.

    Each unreadable file is logged as a warning by name.

    Example:

    >>> drop_unreadable(["/no/such/file.png"])[0]
    []
    """
    keep, skipped = [], []
    for index, path in enumerate(paths):
        reason = read_error(path)
        if reason is None:
            keep.append(index)
        else:
            skipped.append((path, reason))
            logger.warning("Skipping unreadable image %r: %s", path, reason)
    return keep, skipped


def _first_line(error):
    message = getattr(error, "message", None) or str(error)
    # TensorFlow prefixes eager errors with "{{function_node ...}} "; drop it.
    message = re.sub(r"^\{\{[^}]*\}\}\s*", "", message.strip())
    return message.splitlines()[0] if message else type(error).__name__
