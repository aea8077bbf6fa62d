"""Each family's in-model preprocessing equals Keras' own `preprocess_input`."""

import h5py
import keras
import numpy as np
import pytest
from keras import applications
from keras.src.legacy.saving import legacy_h5_format

from dlkeras.backbones import BACKBONES, ChannelNormalization, create_backbone, preprocessing_layer

RNG = np.random.default_rng(0)
PIXELS = RNG.uniform(0.0, 255.0, size=(2, 5, 7, 3)).astype("float32")
PIXELS[0, 0, 0] = (0.0, 127.0, 255.0)  # exact edge values


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_preprocessing_matches_keras_preprocess_input(name):
    spec = BACKBONES[name]
    layer = preprocessing_layer(spec.preprocessing)
    ours = PIXELS if layer is None else np.asarray(layer(PIXELS))
    reference = np.asarray(spec.reference_preprocess(PIXELS.copy()))
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-4)


def test_modes_by_hand():
    pixel = np.array([[[[10.0, 20.0, 30.0]]]], "float32")
    expected = {
        "caffe": [30 - 103.939, 20 - 116.779, 10 - 123.68],
        "torch": [(10 / 255 - 0.485) / 0.229, (20 / 255 - 0.456) / 0.224, (30 / 255 - 0.406) / 0.225],
        "tf": [10 / 127.5 - 1, 20 / 127.5 - 1, 30 / 127.5 - 1],
        "lite": [(10 - 127) / 128, (20 - 127) / 128, (30 - 127) / 128],
    }
    for mode, values in expected.items():
        out = np.asarray(preprocessing_layer(mode)(pixel)).ravel()
        np.testing.assert_allclose(out, values, rtol=1e-6, err_msg=mode)
    assert preprocessing_layer("none") is None
    with pytest.raises(ValueError, match="'bgr_mean'.*known modes"):
        preprocessing_layer("bgr_mean")


def test_channel_normalization_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"mean=\(1.0, 2.0\)"):
        ChannelNormalization(mean=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"std=\(1.0, 0.0, 1.0\)"):
        ChannelNormalization(std=(1.0, 0.0, 1.0))


def test_channel_normalization_saves_and_reloads(tmp_path):
    inputs = keras.Input((None, None, 3))
    outputs = preprocessing_layer("caffe")(inputs)
    model = keras.Model(inputs, outputs)
    assert "ChannelNormalization" in keras.saving.get_registered_name(ChannelNormalization)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(PIXELS), model(PIXELS), atol=1e-6)
    assert reloaded.layers[1].get_config()["bgr"] is True


# One family per mode with a layer of ours ("none" families are Keras' own
# model, checked by the identity of their preprocess_input above): the backbone on raw pixels must equal Keras' own
# application on `preprocess_input(pixels)`, with the weights loaded from a
# legacy .h5 file written like the ImageNet downloads (order-based loading).
# Each entry names the family's first convolution, whose output depends
# directly on the preprocessing (the final maps of random nets can be ~0).
END_TO_END = [
    ("resnet50", applications.ResNet50, applications.resnet, "conv1_conv"),  # caffe
    ("densenet121", applications.DenseNet121, applications.densenet, "conv1_conv"),  # torch
    ("mobilenet_v2", applications.MobileNetV2, applications.mobilenet_v2, "Conv1"),  # tf
]


def _outputs(model, layer_name, x):
    probe = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.outputs[0]])
    return [np.asarray(t) for t in probe(x, training=False)]


@pytest.mark.parametrize("name, constructor, module, first_conv", END_TO_END,
                         ids=[e[0] for e in END_TO_END])
def test_backbone_on_raw_pixels_equals_keras_application(tmp_path, name, constructor, module,
                                                         first_conv):
    keras.utils.set_random_seed(1)
    reference = constructor(include_top=False, weights=None, input_shape=(32, 32, 3))
    weights_file = tmp_path / f"{name}_notop.h5"
    with h5py.File(weights_file, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, reference)
    backbone = create_backbone(name, weights=str(weights_file), input_shape=(32, 32, 3))
    pixels = RNG.uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    expected = _outputs(reference, first_conv, module.preprocess_input(pixels.copy()))
    ours = _outputs(backbone.model, first_conv, pixels)
    for got, want in zip(ours, expected):
        scale = max(float(np.abs(want).max()), 1e-30)
        np.testing.assert_allclose(got / scale, want / scale, atol=1e-4)
    assert np.abs(expected[0]).max() > 0.1  # the first conv sees the preprocessed pixels


def _normalization_output(model, pixels):
    layer = next(item for item in model.layers if isinstance(item, keras.layers.Normalization))
    return np.asarray(keras.Model(model.inputs, layer.output)(pixels))


def test_local_imagenet_efficientnet_file_normalizes_like_the_download(tmp_path):
    # Keras' EfficientNet ImageNet file stores mean and std**2 in its
    # Normalization layer; built with weights="imagenet", Keras divides the
    # result by sqrt(std) once more. A local copy must give the same inputs.
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    reference = applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3))
    norm = next(item for item in reference.layers if isinstance(item, keras.layers.Normalization))
    norm.set_weights([mean, std**2, np.array(0)])
    official_like = tmp_path / "efficientnetb0_notop.h5"
    with h5py.File(official_like, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, reference)

    pixels = RNG.uniform(0, 255, size=(1, 32, 32, 3)).astype("float32")
    expected = (pixels / 255.0 - mean) / std / np.sqrt(std)
    backbone = create_backbone("efficientnet_b0", weights=str(official_like), input_shape=(32, 32, 3))
    np.testing.assert_allclose(_normalization_output(backbone.model, pixels), expected, atol=1e-5)

    # Saving that backbone and loading it again must not adjust twice.
    ours = tmp_path / "ours.weights.h5"
    backbone.model.save_weights(ours)
    again = create_backbone("efficientnet_b0", weights=str(ours), input_shape=(None, None, 3))
    np.testing.assert_allclose(_normalization_output(again.model, pixels), expected, atol=1e-5)
