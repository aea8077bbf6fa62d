"""Checking the `weights` argument and explaining failed ImageNet downloads."""

import os
import pathlib
import re
import urllib.parse

IMAGENET = "imagenet"
WEIGHT_FILE_SUFFIXES = (".h5", ".hdf5", ".keras")


class PretrainedWeightsUnavailableError(RuntimeError):
    """ImageNet weights could not be fetched (typically: no network)."""


def check_weights_argument(weights):
    """Validates `weights`: None, "imagenet", or an existing weights file.

    Args:
        weights: the value given to `create_backbone`.

    Returns:
        None, "imagenet", or the path as a string.

    Raises:
        ValueError: with the bad value quoted, for anything else.

    Example:

        >>> check_weights_argument("imagenet")
        'imagenet'
    """
    if weights is None or weights == IMAGENET:
        return weights
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "`weights` must be None, 'imagenet', or the path of a weights file. "
            f"Received: weights={weights!r} (type {type(weights).__name__})"
        )
    path = pathlib.Path(weights).expanduser()
    if not path.is_file():
        raise ValueError(
            "`weights` must be None, 'imagenet', or the path of an existing weights file. "
            f"Received: weights={str(weights)!r}, which is not an existing file."
        )
    if not path.name.endswith(WEIGHT_FILE_SUFFIXES):
        raise ValueError(
            f"`weights` file {str(weights)!r} is not a Keras weights file; expected a name "
            f"ending in {', '.join(WEIGHT_FILE_SUFFIXES)}."
        )
    return str(path)


def keras_models_dir():
    """The directory where Keras looks for downloaded application weights.

    Example:

        >>> keras_models_dir().name
        'models'
    """
    from dlkeras.keras_internals import keras_home

    return keras_home() / "models"


def download_failure_message(backbone_name, error):
    """Turns a Keras download error into instructions, or None if unrelated.

    Args:
        backbone_name: registry name of the backbone being built.
        error: the exception raised while Keras fetched the weights.

    Returns:
        A message naming the file to place in the Keras models directory
        (and where to download it from), or None if `error` is not about
        fetching or validating a weights file.

    Example:

        >>> msg = download_failure_message(
        ...     "resnet50", Exception("URL fetch failure on https://x/y/w_notop.h5: None -- no net"))
        >>> "w_notop.h5" in msg
        True
    """
    text = str(error)
    match = re.search(r"URL fetch failure on (\S+?):? ", text + " ")
    if match is None:
        if "file hash does not match" not in text:
            return None
        return (
            f"The ImageNet weights file for {backbone_name!r} in {keras_models_dir()} is "
            f"incomplete or corrupted ({text}). Delete it and place a good copy there, or "
            "pass weights=<path to a weights file>."
        )
    url = match.group(1)
    file_name = os.path.basename(urllib.parse.urlsplit(url).path)
    return (
        f"Could not download the ImageNet weights of {backbone_name!r} (no network?). "
        f"Download {url} elsewhere and place it as {keras_models_dir() / file_name} "
        f"(file name {file_name!r}), or pass weights=<path to a weights file>, or "
        f"weights=None to start from random weights. Original error: {text}"
    )
