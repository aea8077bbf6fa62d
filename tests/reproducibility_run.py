"""Trains a tiny model of each app from `keras.utils.set_random_seed(seed)`; prints weight digests.

Run by `test_reproducibility.py` in fresh processes (other hash seeds, other
thread timings): the same seed must give the same weights in every process.
Usage: `python tests/reproducibility_run.py SEED [APP ...]` prints one JSON
object `{app: sha1 of its weights}`.
"""

import hashlib
import json
import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path[:0] = [str(pathlib.Path(__file__).parent), str(pathlib.Path(__file__).parents[1])]

# Everything is imported before any seed is set, as in a user's script.
import argparse  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from test_pseudolabel_app import colour_images  # noqa: E402
from test_recommender_task import _low_rank_ratings  # noqa: E402
from test_tabular_task import rule_frame, split  # noqa: E402
from test_text_tasks import DATA, VOCABULARY  # noqa: E402

from apps.image import data  # noqa: E402
from apps.image.task import ImageTask  # noqa: E402
from apps.pseudolabel.sources import ImageAdapter  # noqa: E402
from apps.recommender.task import RecommenderTask  # noqa: E402
from apps.tabular.task import TabularTask  # noqa: E402
from apps.text.classifier_task import TextClassifierTask  # noqa: E402
from dlkeras.pseudo_labels import PseudoLabelTrainer  # noqa: E402

from test_image_support import tiny_backbone  # noqa: E402


def digest(model):
    sha = hashlib.sha1()
    for weight in model.weights:
        sha.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return sha.hexdigest()


def tabular(seed):
    train, _ = split(rule_frame(600))
    keras.utils.set_random_seed(seed)
    task = TabularTask.from_frame(train, "y", batch_size=64, layers=[16])
    task.fit_one_cycle(train, epochs=1, lr_max=2e-2, verbose=0)
    return digest(task.network)


def recommender(seed):
    train, _ = _low_rank_ratings()
    keras.utils.set_random_seed(seed)
    task = RecommenderTask.from_ratings(train, kind="neural", n_factors=4, jit_compile=False)
    task.fit_one_cycle(train, epochs=1, lr_max=1e-2, batch_size=32, seed=0, verbose=0)
    return digest(task.network)


def image(seed):
    # Augmented image batches, then a pseudo-labelling round with augmented pseudo-labels.
    folder = pathlib.Path(tempfile.mkdtemp())
    colour_images(folder / "labelled", 24, 0)
    colour_images(folder / "unlabelled", 16, 1, with_classes=False)
    source = data.from_folder(folder / "labelled")
    adapter, args = ImageAdapter(), argparse.Namespace(path_column="path", no_teacher_tta=True)
    unlabelled = adapter.read_unlabelled(folder / "unlabelled", args, source)
    backbone = tiny_backbone(seed=2)
    keras.utils.set_random_seed(seed)
    task = ImageTask.from_source(source, backbone, size=16, hidden_units=4, batch_size=8)
    PseudoLabelTrainer(rounds=1).fit(
        task, source, adapter.inputs(task, unlabelled), epochs=1, lr_max=1e-2,
        pseudo_transform=adapter.pseudo_transform(task, args), freeze_epochs=0, seed=0)
    return digest(task.network)


def text(seed):
    keras.utils.set_random_seed(seed)
    task = TextClassifierTask.create(VOCABULARY, ["neg", "pos"], embedding_dim=8,
                                     hidden_units=8, layers=2, batch_size=8)
    task.train(DATA, epochs=1, lr_max=3e-2, verbose=0)
    return digest(task.network)


APPS = {"tabular": tabular, "recommender": recommender, "image": image, "text": text}

if __name__ == "__main__":
    chosen = sys.argv[2:] or list(APPS)
    print(json.dumps({app: APPS[app](int(sys.argv[1])) for app in chosen}))
