"""Image sources, seeded splits, the tf.data pipeline and the offline data sets."""
import gzip
import logging

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from apps.image import data, datasets
from apps.image.augmentation import ImageAugmentation, rotation_zoom_transforms
from apps.image.pipeline import default_augmentation, make_dataset


def _write_image(path, value, size=(10, 12)):
    Image.fromarray(np.full(size + (3,), value, np.uint8)).save(path)


@pytest.fixture()
def folder(tmp_path):
    for name, value in [("cats", 10), ("dogs", 200)]:
        (tmp_path / name).mkdir()
        for index in range(3):
            _write_image(tmp_path / name / f"{index}.png", value + index)
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    return tmp_path


def test_folder_source_labels_and_skips_corrupt_file_by_name(folder, caplog):
    with caplog.at_level(logging.WARNING, logger="apps.image"):
        source = data.from_folder(folder)
    assert source.class_names == ["cats", "dogs"]
    assert source.targets.tolist() == [0, 0, 0, 1, 1, 1]
    assert [p.split("/")[-1] for p in source.paths] == ["0.png", "1.png", "2.png"] * 2
    assert len(source.skipped) == 1 and source.skipped[0][0].endswith("broken.jpg")
    assert "broken.jpg" in caplog.text


def test_pipeline_decodes_resizes_and_survives_file_broken_later(folder):
    source = data.from_folder(folder)
    (folder / "cats" / "1.png").write_bytes(b"truncated")
    batches = list(make_dataset(source, size=8, batch_size=4))
    images = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert images.shape == (5, 8, 8, 3)
    assert labels.tolist() == [0, 0, 1, 1, 1]
    np.testing.assert_allclose(images[:, 0, 0, 0], [10, 12, 200, 201, 202])


def test_csv_multi_label_tags_become_multi_hot(tmp_path):
    for index in range(3):
        _write_image(tmp_path / f"{index}.png", 50 * index)
    pd.DataFrame({"file": ["0.png", "1.png", "2.png"],
                  "tags": ["sky", "sea sky", "tree sea"]}).to_csv(tmp_path / "labels.csv", index=False)
    source = data.from_csv(tmp_path / "labels.csv", path_column="file", label_columns="tags")
    assert source.task == "multi_label"
    assert source.class_names == ["sea", "sky", "tree"]
    np.testing.assert_array_equal(source.targets, [[0, 1, 0], [1, 1, 0], [1, 0, 1]])


def test_dataframe_regression_and_clear_errors(tmp_path):
    frame = pd.DataFrame({"path": ["a.png"], "x": [0.25], "y": [0.75]})
    source = data.from_dataframe(frame, label_columns=["x", "y"], check_files=False)
    assert source.task == "regression" and source.targets.tolist() == [[0.25, 0.75]]
    with pytest.raises(KeyError, match="'labels' not in the table"):
        data.from_dataframe(frame, label_columns="labels", check_files=False)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        data.from_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match=r"range \[-1, 3\]"):
        data.from_arrays(np.array([[[-1, 3]]]), [0])


def test_subset_keeps_images_and_targets_aligned():
    source = data.from_arrays(np.arange(20, dtype=np.uint8).reshape(20, 1, 1), [0, 1] * 10)
    part = source.subset([3, 4, 7])
    assert part.images.ravel().tolist() == [3, 4, 7] and part.targets.tolist() == [1, 0, 1]
    assert part.class_names == source.class_names


def test_augmentation_only_changes_training_batches():
    rng = np.random.default_rng(0)
    source = data.from_arrays(rng.integers(0, 256, (8, 16, 16, 3)), [0, 1] * 4)
    augment = default_augmentation(seed=1)
    valid = np.concatenate([x for x, _ in make_dataset(source, 16, 8, augmentation=augment)])
    stream = make_dataset(source, 16, 8, training=True, augmentation=augment, seed=3)
    train = np.concatenate([x for x, _ in stream.dataset().take(stream.steps_per_epoch)])
    np.testing.assert_allclose(valid, source.images.astype("float32"))
    assert not np.allclose(np.sort(train.ravel()), np.sort(valid.ravel()), atol=1.0)


def test_training_stream_is_a_resumable_function_of_seed_and_epoch():
    source = data.from_arrays(np.arange(10, dtype=np.uint8).reshape(10, 1, 1), list(range(10)),
                              class_names=[str(i) for i in range(10)])
    stream = make_dataset(source, 1, 4, training=True, seed=5)
    assert stream.steps_per_epoch == 2  # 10 images, batches of 4, the ragged rest dropped
    first_run = [y.numpy().tolist() for _, y in stream.dataset().take(6)]
    for epoch in range(3):
        seen = first_run[2 * epoch] + first_run[2 * epoch + 1]
        assert len(set(seen)) == 8  # no image twice within an epoch
    assert first_run[0:2] != first_run[2:4]  # epochs are shuffled differently
    resumed = [y.numpy().tolist() for _, y in stream.dataset(start_batch=3).take(3)]
    assert resumed == first_run[3:6]


def test_augmented_training_stream_repeats_and_resumes_exactly():
    # Keras' random image layers advanced one seed generator in whatever order tf.data's
    # parallel map ran: two runs with the same seeds saw different augmentations.
    rng = np.random.default_rng(0)
    source = data.from_arrays(rng.integers(0, 256, (12, 16, 16, 3)), [0, 1] * 6)

    def batches(seed, start_batch=0, take=6):
        stream = make_dataset(source, 16, 4, training=True, seed=3,
                              augmentation=default_augmentation(seed=seed))
        return [x.numpy() for x, _ in stream.dataset(start_batch).take(take)]

    first = batches(1)
    for a, b in zip(first, batches(1)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(first[4:], batches(1, start_batch=4, take=2)):
        np.testing.assert_array_equal(a, b)  # a resumed run sees the same augmented batches
    assert not any(np.allclose(a, b) for a, b in zip(first, batches(2)))
    assert not np.allclose(first[0], first[3])  # batch 3 = epoch 1's batch 0: other draws


def test_augmentation_draws_depend_on_seed_and_position_only():
    images = np.random.default_rng(1).uniform(0, 255, (4, 10, 10, 3)).astype("float32")
    augment = ImageAugmentation(seed=5)
    a = augment(images, training=True, position=3).numpy()
    np.testing.assert_array_equal(a, ImageAugmentation(seed=5)(images, training=True,
                                                                position=3).numpy())
    assert not np.allclose(a, augment(images, training=True, position=4).numpy())
    assert a.min() >= 0.0 and a.max() <= 255.0
    np.testing.assert_array_equal(augment(images, training=False, position=3), images)
    config = ImageAugmentation.from_config(augment.get_config())
    np.testing.assert_array_equal(config(images, training=True, position=3).numpy(), a)
    with pytest.raises(ValueError, match="rotation"):
        ImageAugmentation(rotation=0.7)
    with pytest.raises(ValueError, match=r"batch of images .*\(10, 10, 3\)"):
        augment(images[0], training=True, position=0)
    stream = make_dataset(data.from_arrays(images.astype("uint8"), [0, 1, 0, 1]), 10, 2,
                          training=True)
    with pytest.raises(TypeError, match="callable"):
        stream.map_with_position("flip")


def test_rotation_and_zoom_transforms_against_hand_computation():
    image = np.arange(25, dtype="float32").reshape(1, 5, 5, 1)

    def warp(angle, scale):
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=image, transforms=rotation_zoom_transforms([angle], [scale], 5, 5),
            output_shape=[5, 5], fill_value=0.0, interpolation="BILINEAR",
            fill_mode="REFLECT").numpy()[0, ..., 0]

    np.testing.assert_allclose(warp(0.0, 1.0), image[0, ..., 0])
    np.testing.assert_allclose(warp(np.pi / 2, 1.0), np.rot90(image[0, ..., 0]), atol=1e-4)
    zoomed = warp(0.0, 0.5)  # zoom in 2x about the centre: (x, y) reads 2 + (x - 2) / 2
    assert zoomed[2, 2] == image[0, 2, 2, 0]
    np.testing.assert_allclose(zoomed[2, 0], image[0, 2, 1, 0])
    np.testing.assert_allclose(zoomed[0, 2], image[0, 1, 2, 0])
    np.testing.assert_allclose(zoomed[2, 1], (image[0, 2, 1, 0] + image[0, 2, 2, 0]) / 2)


def test_flip_and_contrast_are_whole_image_changes():
    images = np.random.default_rng(2).uniform(40, 200, (16, 6, 7, 3)).astype("float32")
    flips = ImageAugmentation(rotation=0, zoom=0, contrast=0, seed=0)(
        images, training=True, position=0).numpy()
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(flips, images)]
    kept = [np.array_equal(o, i) for o, i in zip(flips, images)]
    assert all(f or k for f, k in zip(flipped, kept)) and 0 < sum(flipped) < 16
    contrast = ImageAugmentation(flip=False, rotation=0, zoom=0, contrast=0.1, seed=0)(
        images, training=True, position=0).numpy()
    mean = images.mean(axis=(1, 2), keepdims=True)
    factors = (contrast - mean) / (images - mean)
    for factor in factors:  # one factor per image, in [0.9, 1.1]
        np.testing.assert_allclose(factor, np.median(factor), rtol=1e-3)
        assert 0.9 <= np.median(factor) <= 1.1
    assert np.ptp([np.median(f) for f in factors]) > 0.01


def test_grayscale_arrays_become_rgb_at_requested_size():
    source = data.from_arrays(np.full((2, 28, 28), 77, np.uint8), [3, 1])
    (images, labels), = list(make_dataset(source, size=40, batch_size=2))
    assert images.shape == (2, 40, 40, 3)
    np.testing.assert_allclose(images.numpy(), 77.0, atol=1e-4)
    assert labels.numpy().tolist() == [3, 1] and source.class_names == list("0123")


def test_mnist_5k_is_real_and_balanced():
    images, labels, names = datasets.load_mnist_5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert names == [str(d) for d in range(10)]
    assert np.bincount(labels, minlength=10).min() >= 400
    assert images.max() == 255 and 0.05 < (images > 0).mean() < 0.4


def test_fashion_mnist_reads_idx_files_and_names_missing_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.gz"):
        datasets.load_fashion_mnist("test", root=tmp_path)
    pixels = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(b"\x00" * 16 + pixels.tobytes())
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(b"\x00" * 8 + bytes([9, 4]))
    images, labels, names = datasets.load_fashion_mnist("test", root=tmp_path)
    np.testing.assert_array_equal(images.ravel(), pixels)
    assert labels.tolist() == [9, 4] and names[9] == "Ankle boot"
    with pytest.raises(ValueError, match="split='valid'"):
        datasets.load_fashion_mnist("valid", root=tmp_path)


def test_training_stream_and_evaluation_batches_run_without_a_tuning_thread():
    # Deleting an iterator waits for tf.data's tuning thread: up to 19 s at the end of an
    # image fit at 224 px, ~1.2 s after some validations (dlkeras.data.without_autotune).
    rng = np.random.default_rng(0)
    source = data.from_arrays(rng.integers(0, 256, (12, 20, 20, 3), dtype=np.uint8),
                         np.arange(12) % 3, class_names=list("abc"))
    augmentation = ImageAugmentation(rotation=0.1, seed=3)
    stream = make_dataset(source, 16, 4, training=True, augmentation=augmentation, seed=5)
    evaluation = make_dataset(source, 16, 4)
    assert stream.dataset().options().autotune.enabled is False
    assert stream.dataset(start_batch=5).options().autotune.enabled is False
    assert evaluation.options().autotune.enabled is False
    # The same batches as a tuned pipeline would serve.
    tuned = make_dataset(source, 16, 4, training=True, augmentation=augmentation, seed=5)
    options = tf.data.Options()
    options.autotune.enabled = True
    for (a, y_a), (b, y_b) in zip(stream.dataset().take(6),
                                  tuned.dataset().with_options(options).take(6)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(y_a.numpy(), y_b.numpy())
