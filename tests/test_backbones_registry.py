"""create_backbone: names, argument checks, smoke builds, groups, weights."""

import re
import urllib.request

import keras
import numpy as np
import pytest

from dlkeras.backbones import (
    BACKBONES,
    Backbone,
    PretrainedWeightsUnavailableError,
    create_backbone,
    list_backbones,
)
from dlkeras.backbones.weights import download_failure_message
from dlkeras.layer_groups import LayerGroup, LayerGroups

REQUIRED = [
    "resnet50", "resnet101", "resnet50_v2", "mobilenet_v2", "mobilenet_v3_small",
    "mobilenet_v3_large", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2",
    "efficientnet_b3", "efficientnet_v2_b0", "efficientnet_v2_b1", "efficientnet_v2_b2",
    "efficientnet_v2_b3", "efficientnet_v2_s", "convnext_tiny", "densenet121", "xception",
    "efficientnet_lite0",
]


def test_registry_has_required_backbones():
    names = list_backbones()
    assert set(REQUIRED) <= set(names)
    assert names == sorted(names)
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in names)


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match=r"Unknown backbone 'resnet5'.*resnet50.*xception"):
        create_backbone("resnet5", weights=None)


@pytest.mark.parametrize("weights, message", [
    ("imagenett", r"weights='imagenett', which is not an existing file"),
    (1, r"weights=1 \(type int\)"),
    (True, r"weights=True"),
])
def test_bad_weights_value_is_rejected(weights, message):
    with pytest.raises(ValueError, match=message):
        create_backbone("mobilenet_v3_small", weights=weights)


def test_weights_file_with_wrong_suffix_is_rejected(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("not weights")
    with pytest.raises(ValueError, match=r"weights.txt' is not a Keras weights file"):
        create_backbone("mobilenet_v3_small", weights=path)


@pytest.mark.parametrize("name, shape, message", [
    ("resnet50", (32, 32), r"\(height, width, 3\).*input_shape=\(32, 32\)"),
    ("resnet50", (32, 32, 1), r"input_shape=\(32, 32, 1\)"),
    ("resnet50", (16, 16, 3), r"at least 32 pixels.*input_shape=\(16, 16, 3\)"),
    ("xception", (64, None, 3), r"'xception' needs height and width of at least 71"),
    ("resnet50", (64.0, 64, 3), r"input_shape=\(64.0, 64, 3\)"),
])
def test_bad_input_shape_is_rejected(name, shape, message):
    with pytest.raises(ValueError, match=message):
        create_backbone(name, weights=None, input_shape=shape)


# A representative subset (the preprocessing tests build resnet50, densenet121
# and mobilenet_v2): families with built-in preprocessing, the 71-pixel
# minimum of Xception, and our own Lite0.
SMOKE = ["mobilenet_v3_small", "efficientnet_v2_b0", "convnext_tiny", "xception",
         "efficientnet_lite0"]


@pytest.mark.parametrize("name", SMOKE)
def test_variable_size_backbone_builds_runs_and_splits(name):
    backbone = create_backbone(name, weights=None, input_shape=(None, None, 3))
    assert isinstance(backbone, Backbone) and backbone.name == name
    model = backbone.model
    small = np.asarray(model(np.full((1, 80, 80, 3), 128.0, "float32")))
    large = np.asarray(model(np.random.default_rng(0).uniform(0, 255, (2, 160, 128, 3))
                             .astype("float32")))
    assert small.shape[-1] == large.shape[-1] == backbone.feature_channels
    assert large.shape[0] == 2 and large.shape[1] > small.shape[1] and large.shape[1] > large.shape[2]
    assert np.isfinite(large).all()

    conv = model.get_layer(backbone.last_conv_layer_name)
    assert conv.output is model.output

    (early_name, early), (late_name, late) = [(g.name, g.layers) for g in backbone.body_groups]
    assert (early_name, late_name) == ("body_early", "body_late")
    body = [item for item in model.layers if not isinstance(item, keras.layers.InputLayer)]
    assert early + late == body  # every layer once, in model order
    assert re.match(BACKBONES[name].late_group_start, late[0].name)
    assert not any(re.match(BACKBONES[name].late_group_start, item.name) for item in early)
    assert sum(item.count_params() for item in late) > sum(item.count_params() for item in early) > 0

    groups = LayerGroups(backbone.body_groups)  # usable as core layer groups
    assert groups.names == ["body_early", "body_late"]
    assert all(isinstance(g, LayerGroup) for g in backbone.body_groups)


def test_split_body_explains_a_missing_boundary():
    from dlkeras.backbones.backbone import split_body

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="late_dense")(
        keras.layers.Dense(3, name="early_dense")(inputs)), name="tiny")
    early, late = split_body(model, r"late_")
    assert [item.name for item in early.layers] == ["early_dense"]
    assert [item.name for item in late.layers] == ["late_dense"]
    with pytest.raises(ValueError, match=r"'tiny'.*'block9_'"):
        split_body(model, r"block9_")
    with pytest.raises(ValueError, match="no layer after the first"):
        split_body(model, r"early_")


def test_fixed_size_backbone_has_static_output_shape():
    backbone = create_backbone("mobilenet_v3_small", weights=None,
                               input_shape=(np.int64(64), 64, 3))
    assert tuple(backbone.model.output.shape) == (None, 2, 2, 576)
    assert backbone.input_shape == (64, 64, 3) and backbone.preprocessing == "none"


def test_local_keras_weights_file_round_trips(tmp_path):
    keras.utils.set_random_seed(3)
    first = create_backbone("mobilenet_v3_small", weights=None, input_shape=(64, 64, 3))
    path = tmp_path / "mnv3.weights.h5"
    first.model.save_weights(path)
    other = create_backbone("mobilenet_v3_small", weights=None, input_shape=(64, 64, 3))
    loaded = create_backbone("mobilenet_v3_small", weights=str(path), input_shape=(None, None, 3))
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    kernel = "conv"  # the stem convolution
    np.testing.assert_array_equal(loaded.model.get_layer(kernel).kernel,
                                  first.model.get_layer(kernel).kernel)
    assert not np.allclose(other.model.get_layer(kernel).kernel, first.model.get_layer(kernel).kernel)
    np.testing.assert_allclose(loaded.model(pixels), first.model(pixels), rtol=1e-5, atol=1e-6)


def test_offline_imagenet_download_names_the_file_to_place(monkeypatch, tmp_path):
    from keras.src.backend import config

    # Real download path, made to fail fast and deterministically: a Keras
    # home without cached weights and a proxy on a closed local port.
    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))
    for variable in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    for variable in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(urllib.request, "_opener", None)
    with pytest.raises(PretrainedWeightsUnavailableError) as caught:
        create_backbone("resnet50", weights="imagenet", input_shape=(32, 32, 3))
    message = str(caught.value)
    file_name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert f"{tmp_path / 'models' / file_name}" in message
    assert "https://storage.googleapis.com/" in message and "weights=<path" in message


def test_corrupt_cached_weights_message():
    error = ValueError("Incomplete or corrupted file detected. The sha256 file hash does not "
                       "match the provided value of abc.")
    message = download_failure_message("xception", error)
    assert "'xception'" in message and "corrupted" in message and "Delete it" in message
    assert download_failure_message("xception", ValueError("shape mismatch")) is None
