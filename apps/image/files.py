"""Finding image files and weeding out the ones TensorFlow cannot decode."""
import logging
import re

import tensorflow as tf

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
logger = logging.getLogger("apps.image")


def read_error(path):
    """Returns why `path` cannot be decoded as an image, or None if it can.

    Uses the same decoder as the training pipeline (`tf.io.decode_image`), so
    a file that passes here does not break an epoch later.

    Example:

    >>> read_error("/no/such/file.png")
    'cannot read: /no/such/file.png; No such file or directory [Op:ReadFile]'
    """
    try:
        data = tf.io.read_file(path)
    except (tf.errors.OpError, OSError) as error:
        return f"cannot read: {_first_line(error)}"
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
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
