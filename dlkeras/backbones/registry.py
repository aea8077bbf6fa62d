"""Registry of pretrained backbones: constructor, preprocessing, layer groups.

Each `BackboneSpec` says how to build a headless convolutional body,
how its inputs must be prepared (see
`dlkeras.backbones.preprocessing`), which Keras function is the
family's reference `preprocess_input`, and where its body is split into
two layer groups. Following fastai, the split puts the stem and the early,
high-resolution stages (generic edges and textures, which need little
change) in the first group and the stages from stride 16 on in the second;
an app adds its head as a third group.
"""

import dataclasses
import functools
import re
from typing import Callable, Optional

import keras
import numpy as np
from keras import applications

from dlkeras.backbones import efficientnet_lite
from dlkeras.backbones.preprocessing import preprocessing_layer


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """How to build and prepare one backbone.

    Args:
        name: registry name (snake_case).
        build: `build(name, input_shape, weights) -> keras.Model`: the
            headless model taking raw RGB pixels (preprocessing inside);
            `weights` is "imagenet", None or a weights file path.
        preprocessing: the mode of `PREPROCESSING_MODES` the model applies
            ("none" when the Keras model already contains it).
        reference_preprocess: the family's `preprocess_input` from Keras
            (or our own for families Keras does not ship), for tests.
        late_group_start: regex matched (`re.match`) against layer names;
            the first match starts the second body group.
        min_size: smallest height/width the architecture accepts.
        family: human-readable family name for messages.

    Example:

        >>> BACKBONES["resnet50"].preprocessing
        'caffe'
    """

    name: str
    build: Callable
    preprocessing: str
    reference_preprocess: Callable
    late_group_start: str
    min_size: int = 32
    family: Optional[str] = None


IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


def match_efficientnet_imagenet_normalization(model):
    """Makes an EfficientNet (v1) loaded from a file normalize like "imagenet".

    Built with `weights="imagenet"`, Keras' EfficientNet divides its
    normalized input once more by `sqrt(std)` (a layer it adds only in that
    case, to match the checkpoint's convention), but not when built for a
    weights file. When the loaded Normalization layer holds ImageNet's
    (mean, std**2), that extra division is folded into its variance, so a
    local copy of the ImageNet file behaves exactly like the download.

    Args:
        model: a headless EfficientNet B0-B7 whose weights were just loaded.

    Returns:
        True if the variance was adjusted.

    Example:

        >>> import keras
        >>> model = keras.applications.EfficientNetB0(include_top=False, weights=None)
        >>> match_efficientnet_imagenet_normalization(model)  # random init: untouched
        False
    """
    std = np.array(IMAGENET_STD_RGB, "float32")
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and hasattr(layer, "adapt_variance"):
            mean, variance = np.asarray(layer.adapt_mean), np.asarray(layer.adapt_variance)
            if np.allclose(mean, IMAGENET_MEAN_RGB, rtol=1e-4) and np.allclose(variance, std**2, rtol=1e-4):
                layer.adapt_variance.assign(variance * std)
                layer.finalize_state()
                return True
    return False


def _keras_application(constructor, preprocessing, name, input_shape, weights, after_load=None):
    """Builds a headless `keras.applications` model with preprocessing in front.

    The application is called on the preprocessed tensor, so its layers sit
    flat in one functional model (no nested sub-model) that takes raw pixels.
    """
    inputs = keras.Input(shape=input_shape, name="pixels")
    layer = preprocessing_layer(preprocessing)
    x = inputs if layer is None else layer(inputs)
    application = constructor(
        include_top=False,
        weights="imagenet" if weights == "imagenet" else None,
        input_tensor=x,
        input_shape=input_shape,
    )
    # Re-wrap: the application lists its inputs as a 1-element list, which
    # makes Keras warn on every call with a plain tensor.
    model = keras.Model(inputs, application.output, name=name)
    if weights not in (None, "imagenet"):
        model.load_weights(weights)
        if after_load is not None:
            after_load(model)
    return model


def _lite0(name, input_shape, weights):
    return efficientnet_lite.efficientnet_lite0(weights=weights, input_shape=input_shape, include_top=False)


def _lite_preprocess_input(x):
    """Reference preprocessing of EfficientNet-Lite: `(x - 127) / 128`."""
    return (x - 127.0) / 128.0


def _spec(name, constructor, module, preprocessing, late_group_start, after_load=None, **kwargs):
    build = functools.partial(_keras_application, constructor, preprocessing, after_load=after_load)
    return BackboneSpec(
        name=name,
        build=build,
        preprocessing=preprocessing,
        reference_preprocess=module.preprocess_input,
        late_group_start=late_group_start,
        family=module.__name__.rsplit(".", 1)[-1],
        **kwargs,
    )


_apps = applications
_SPECS = [
    _spec("resnet50", _apps.ResNet50, _apps.resnet, "caffe", r"conv4_block1_"),
    _spec("resnet101", _apps.ResNet101, _apps.resnet, "caffe", r"conv4_block1_"),
    _spec("resnet152", _apps.ResNet152, _apps.resnet, "caffe", r"conv4_block1_"),
    _spec("resnet50_v2", _apps.ResNet50V2, _apps.resnet_v2, "tf", r"conv4_block1_"),
    _spec("resnet101_v2", _apps.ResNet101V2, _apps.resnet_v2, "tf", r"conv4_block1_"),
    _spec("mobilenet_v2", _apps.MobileNetV2, _apps.mobilenet_v2, "tf", r"block_6_"),
    _spec("mobilenet_v3_small", _apps.MobileNetV3Small, _apps.mobilenet_v3, "none", r"expanded_conv_3_"),
    _spec("mobilenet_v3_large", _apps.MobileNetV3Large, _apps.mobilenet_v3, "none", r"expanded_conv_6_"),
    *[
        _spec(f"efficientnet_b{i}", getattr(_apps, f"EfficientNetB{i}"), _apps.efficientnet, "none", r"block4a_",
              after_load=match_efficientnet_imagenet_normalization)
        for i in range(8)
    ],
    *[
        _spec(f"efficientnet_v2_{s.lower()}", getattr(_apps, f"EfficientNetV2{s}"), _apps.efficientnet_v2,
              "none", r"block4a_")
        for s in ("B0", "B1", "B2", "B3", "S", "M", "L")
    ],
    _spec("convnext_tiny", _apps.ConvNeXtTiny, _apps.convnext, "none", r"convnext_tiny_downsampling_block_1"),
    _spec("convnext_small", _apps.ConvNeXtSmall, _apps.convnext, "none", r"convnext_small_downsampling_block_1"),
    _spec("densenet121", _apps.DenseNet121, _apps.densenet, "torch", r"pool3_"),
    _spec("densenet169", _apps.DenseNet169, _apps.densenet, "torch", r"pool3_"),
    _spec("xception", _apps.Xception, _apps.xception, "tf", r"block4_", min_size=71),
    BackboneSpec(
        name="efficientnet_lite0",
        build=_lite0,
        preprocessing="lite",
        reference_preprocess=_lite_preprocess_input,
        late_group_start=r"block5_",
        family="efficientnet_lite",
    ),
]
BACKBONES = {spec.name: spec for spec in _SPECS}


def list_backbones():
    """Names of all registered backbones, sorted.

    Example:

        >>> "efficientnet_lite0" in list_backbones()
        True
    """
    return sorted(BACKBONES)


def get_backbone_spec(name):
    """Looks up a backbone by name.

    Args:
        name: a registry name such as "resnet50" (case-insensitive; dashes
            are accepted for underscores).

    Returns:
        The `BackboneSpec`.

    Raises:
        ValueError: for an unknown name; the message lists the known names.

    Example:

        >>> get_backbone_spec("MobileNet-V2").name
        'mobilenet_v2'
    """
    key = re.sub(r"[-\s]", "_", str(name).strip().lower())
    if key not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}. Known backbones: {', '.join(list_backbones())}")
    return BACKBONES[key]
