"""Every docstring example in apps/ runs and gives the values it shows.

Examples that look inside a trained model use a tiny trained task provided
here as `task` (and its data as `frame` or `source`), so that each example
stays one line of reading.
"""

import doctest
import importlib
import pathlib

import numpy as np
import pandas as pd
import pytest

APPS = pathlib.Path(__file__).resolve().parent.parent / "apps"
MODULES = sorted(
    ".".join(path.relative_to(APPS.parent).with_suffix("").parts)
    for path in APPS.rglob("*.py") if path.name != "__main__.py")


def tabular_globals():
    from apps.tabular.task import TabularTask

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"shop": rng.choice(["a", "b"], 256), "x": rng.normal(size=256)})
    frame["y"] = ((frame["shop"] == "a") ^ (frame["x"] > 0)).astype(int)
    task = TabularTask.from_frame(frame, "y", layers=[8], batch_size=32)
    task.fit_one_cycle(frame, epochs=1, lr_max=1e-2, verbose=0)
    return {"task": task, "frame": frame}


def image_globals():
    from apps.image.data import from_arrays
    from apps.image.task import ImageTask

    from test_image_support import stripes, tiny_backbone

    images, labels = stripes(32, size=16)
    source = from_arrays(images, labels, class_names=["horizontal", "vertical"])
    task = ImageTask.from_source(source, tiny_backbone(), size=16, hidden_units=4, augment=False)
    return {"task": task, "source": source}


EXTRA_GLOBALS = {"apps.tabular.interpret": tabular_globals, "apps.image.report": image_globals}


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    module = importlib.import_module(name)
    extra = EXTRA_GLOBALS.get(name, dict)()
    result = doctest.testmod(module, extraglobs=extra, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_app_module_is_collected():
    assert {"apps.cli", "apps.tabular.task", "apps.image.task",
            "apps.recommender.task"} <= set(MODULES)
