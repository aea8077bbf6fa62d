"""Image training data that must be refused or repaired, with one-line errors (issue 12)."""
import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from apps.cli import main as app_main
from apps.image import data
from apps.image.cli import APP
from dlkeras.data import random_split


def folder(root, counts):
    """`root/<class>/<i>.png` with `counts[class]` tiny images each."""
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for index in range(count):
            Image.fromarray(np.full((6, 6, 3), 10 * index, np.uint8)).save(
                root / name / f"{index}.png")
    return root


def test_empty_class_folders_are_not_classes(tmp_path, caplog):
    folder(tmp_path, {"cats": 2, "dogs": 2, "empty": 0, ".ipynb_checkpoints": 2})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "0.png").write_bytes(b"\x89PNG not really")
    with caplog.at_level(logging.WARNING, logger="apps.image"):
        source = data.from_folder(tmp_path)
    assert source.class_names == ["cats", "dogs"]
    assert source.targets.tolist() == [0, 0, 1, 1]
    assert "'empty'" in caplog.text and "'broken'" in caplog.text


@pytest.mark.parametrize("make, message", [
    (lambda root: data.from_folder(folder(root, {"only": 3})),
     r"at least 2 classes; '.*' hold\(s\) 1: \['only'\]"),
    (lambda root: data.from_folder(folder(root, {"only": 3, "empty": 0})),
     r"at least 2 classes; .* hold\(s\) 1: \['only'\]"),
    (lambda root: data.from_arrays(np.zeros((4, 6, 6), np.uint8), [0, 0, 0, 0]),
     r"at least 2 classes; the labels hold\(s\) 1: \['0'\]"),
    (lambda root: data.from_dataframe(pd.DataFrame({"path": ["a", "b"], "label": ["x", "x"]}),
                                      task="single_label", check_files=False),
     r"at least 2 classes; column 'label' hold\(s\) 1: \['x'\]"),
])
def test_a_single_class_is_refused(tmp_path, make, message):
    with pytest.raises(ValueError, match=message):
        make(tmp_path)


def test_a_class_with_one_image_is_refused_and_others_land_in_both_splits():
    labels = np.array([0] * 30 + [1] * 2 + [2] * 3)
    for seed in range(12):
        train, valid = random_split(len(labels), 0.2, seed, labels=labels)
        assert set(labels[train]) == set(labels[valid]) == {0, 1, 2}
        assert sorted(np.concatenate([train, valid]).tolist()) == list(range(len(labels)))
    with pytest.raises(ValueError, match=r"single example: 3 \(1 row\)"):
        random_split(6, 0.5, 0, labels=[0, 0, 1, 1, 1, 3])


def test_cli_refuses_a_lonely_class_and_an_empty_validation_split(tmp_path, capsys):
    root = folder(tmp_path / "images", {"cats": 4, "dogs": 4, "lonely": 1})
    common = ["train", "--data", str(root), "--weights", "none", "--backbone",
              "mobilenet_v3_small", "--size", "32", "--quiet", "--no-export"]
    assert app_main(APP, common) == 2
    assert "single example: 'lonely' (1 row)" in capsys.readouterr().err
    (root / "lonely" / "0.png").unlink()
    assert app_main(APP, common + ["--valid-pct", "0.05"]) == 2
    assert "valid_pct=0.05 of 8 rows leaves no validation row" in capsys.readouterr().err


def test_regression_targets_must_be_finite():
    frame = pd.DataFrame({"path": ["a.png", "b.png"], "age": [3.5, np.nan]})
    with pytest.raises(ValueError, match=r"'age' holds 1 missing or infinite value\(s\), e.g. "
                                         r"at row 1"):
        data.from_dataframe(frame, label_columns=["age"], check_files=False)


@pytest.mark.parametrize("images, message", [
    (np.full((2, 4, 4, 3), 0.5), r"0\.\.1 floats: multiply by 255"),
    (np.full((2, 4, 4, 3), 127.5), r"whole numbers in 0\.\.255"),
    (np.full((2, 4, 4, 3), np.nan), "NaN or infinite"),
    (np.full((2, 4, 4, 3), 256), r"range \[256, 256\]"),
    (np.full((2, 4, 4, 3), "7"), "numbers in 0..255"),
])
def test_pixels_that_a_cast_would_change_are_refused(images, message):
    with pytest.raises(ValueError, match=message):
        data.from_arrays(images, [0, 1])


def test_whole_float_pixels_are_taken():
    source = data.from_arrays(np.full((2, 4, 4, 3), 200.0), [0, 1])
    assert source.images.dtype == np.uint8 and source.images.max() == 200
