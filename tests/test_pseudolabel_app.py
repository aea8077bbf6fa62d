"""Pseudo-labelling images: unlabelled folders, TTA teacher, pseudo-batch augmentation."""
import argparse

import numpy as np
from PIL import Image

from apps.image import data
from apps.image.task import ImageTask
from apps.image.tta import tta_predict
from apps.pseudolabel.sources import ImageAdapter, seeded_positions
from dlkeras.pseudo_labels import PseudoLabelTrainer

from test_image_support import tiny_backbone


def colour_images(folder, count, seed, with_classes=True, names=("red", "blue")):
    """Red or blue 20-px squares; in class folders, or all in one folder."""
    rng = np.random.default_rng(seed)
    channels = {"red": 0, "blue": 2}
    for index in range(count):
        name = names[index % len(names)]
        pixels = rng.integers(0, 60, (20, 20, 3), dtype=np.uint8)
        pixels[..., channels[name]] = rng.integers(150, 256, (20, 20))
        target = folder / name if with_classes else folder
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(target / f"{name}{index}.png")


def test_unlabelled_image_folders_flat_or_with_known_classes(tmp_path):
    colour_images(tmp_path / "labelled", 8, 0)
    colour_images(tmp_path / "flat", 6, 1, with_classes=False)
    colour_images(tmp_path / "reds", 3, 2, names=("red",))
    (tmp_path / "flat" / "broken.png").write_bytes(b"not a png")
    labelled = data.from_folder(tmp_path / "labelled")
    args = argparse.Namespace(path_column="path")
    flat = ImageAdapter().read_unlabelled(tmp_path / "flat", args, labelled)
    assert not flat.labelled and len(flat.data) == 6 and len(flat.data.skipped) == 1
    reds = ImageAdapter().read_unlabelled(tmp_path / "reds", args, labelled)
    assert reds.labelled and labelled.class_names == ["blue", "red"]
    assert reds.data.targets.tolist() == [1, 1, 1]  # "red" is class 1 of the labelled set
    kept, rest = seeded_positions(10, 0.3, seed=0)
    assert len(kept) == 3 and sorted(kept.tolist() + rest.tolist()) == list(range(10))


def test_image_rounds_use_the_tta_teacher_and_the_app_augmentation(tmp_path):
    colour_images(tmp_path / "labelled", 24, 0)
    colour_images(tmp_path / "unlabelled", 16, 1, with_classes=False)
    source = data.from_folder(tmp_path / "labelled")
    adapter = ImageAdapter()
    args = argparse.Namespace(path_column="path", no_teacher_tta=False)
    unlabelled = adapter.read_unlabelled(tmp_path / "unlabelled", args, source)
    task = ImageTask.from_source(source, tiny_backbone(), size=16, hidden_units=4, batch_size=8)
    teacher_outputs = []

    def remember_teacher(report):
        if report.round == 0:
            features = task.prepare_inputs(adapter.inputs(task, unlabelled))
            teacher_outputs.append(tta_predict(task.network, features))

    reports = PseudoLabelTrainer(rounds=1).fit(
        task, source, adapter.inputs(task, unlabelled), epochs=1, lr_max=1e-2,
        validation_data=source, teacher_predict=adapter.teacher_predict(task, args),
        pseudo_transform=adapter.pseudo_transform(task, args), freeze_epochs=0,
        on_round_end=remember_teacher)
    assert reports[1].num_pseudo == 16 and reports[1].pseudo_accuracy is None
    expected = np.bincount(teacher_outputs[0].argmax(1), minlength=2).tolist()
    assert reports[1].class_counts == expected  # the hard labels are the TTA teacher's
    augment = adapter.pseudo_transform(task, args)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    assert not np.allclose(augment(pixels).numpy(), pixels)
    assert adapter.teacher_predict(task, argparse.Namespace(no_teacher_tta=True)) is None
