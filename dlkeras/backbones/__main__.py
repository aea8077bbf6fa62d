"""Command line for backbones: list them, pre-convert Lite0, classify photos.

Usage::

    python -m dlkeras.backbones list
    python -m dlkeras.backbones convert-lite0
    python -m dlkeras.backbones classify-lite0 cat.jpg coffee.png --top 5
"""

import argparse
import sys
import time

import numpy as np


def center_crop(image, size=224):
    """Resizes the shorter side to `size` (bilinear) and center-crops it.

    This is the evaluation transform the Lite0 classifier expects.

    Args:
        image: a `PIL.Image`.
        size: output height and width.

    Returns:
        float32 array (size, size, 3) of RGB pixels in [0, 255].

    Example:

        >>> from PIL import Image
        >>> center_crop(Image.new("RGB", (300, 200)), 224).shape
        (224, 224, 3)
    """
    from PIL import Image

    image = image.convert("RGB")
    scale = size / min(image.size)
    width, height = (max(size, round(side * scale)) for side in image.size)
    image = image.resize((width, height), Image.BILINEAR)
    left, top = (width - size) // 2, (height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype="float32")


def _list(args):
    from dlkeras.backbones.registry import BACKBONES

    for name, spec in sorted(BACKBONES.items()):
        print(f"{name:22s} family={spec.family:18s} preprocessing={spec.preprocessing:6s} "
              f"min_size={spec.min_size}")
    return 0


def _convert(args):
    from dlkeras.backbones.efficientnet_lite import lite0_imagenet_weights_path

    start = time.perf_counter()
    path = lite0_imagenet_weights_path()
    print(f"{path} ({time.perf_counter() - start:.1f} s)")
    return 0


def _classify(args):
    from PIL import Image, UnidentifiedImageError

    from dlkeras.backbones.efficientnet_lite import efficientnet_lite0

    pixels = []
    for path in args.images:
        try:
            with Image.open(path) as image:
                pixels.append(center_crop(image))
        except (OSError, UnidentifiedImageError) as error:
            print(f"error: cannot read image {path!r}: {error}", file=sys.stderr)
            return 2
    model = efficientnet_lite0(weights="imagenet", input_shape=(224, 224, 3))
    batch = np.stack(pixels)
    model.predict(batch, verbose=0)  # warm-up: tracing is not inference time
    start = time.perf_counter()
    probabilities = model.predict(batch, verbose=0)
    elapsed = time.perf_counter() - start
    for path, row in zip(args.images, probabilities):
        top = np.argsort(row)[::-1][: args.top]
        print(path, " ".join(f"{i}:{row[i]:.3f}" for i in top))
    print(f"{len(batch)} images in {elapsed:.3f} s ({1000 * elapsed / len(batch):.1f} ms/image)")
    return 0


def main(argv=None):
    """Runs the command line; returns the exit status.

    Args:
        argv: arguments without the program name (default: `sys.argv[1:]`).

    Example:

        >>> main(["list"]) == 0  # doctest: +ELLIPSIS
        convnext_small ...
        True
    """
    parser = argparse.ArgumentParser(prog="python -m dlkeras.backbones", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="registered backbones and their preprocessing").set_defaults(run=_list)
    commands.add_parser(
        "convert-lite0", help="convert the EfficientNet-Lite0 ImageNet weights into the cache now"
    ).set_defaults(run=_convert)
    classify = commands.add_parser(
        "classify-lite0", help="top ImageNet class ids of photos (shorter side to 224, center crop)"
    )
    classify.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    classify.add_argument("--top", type=int, default=5, help="how many classes to print (default 5)")
    classify.set_defaults(run=_classify)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
