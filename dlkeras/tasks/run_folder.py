"""The run folder: one Keras model file plus one JSON of metadata, for every app.

    <run_dir>/model.keras   the trained network, with its optimizer state
    <run_dir>/task.json     which Task class wrote it, its metadata, its layer groups

`load_task` rebuilds the right `Task` subclass without knowing which app
wrote the folder: `task.json` names the class by module path, and importing
that module registers the app's Keras objects before the model is read.

Example:

>>> import tempfile
>>> read_task_description(tempfile.mkdtemp())
Traceback (most recent call last):
...
FileNotFoundError: ... is not a run folder (no task.json): train a model first, or pass the folder that training wrote.
"""

import importlib
import pathlib

from dlkeras.folders import read_folder_description, write_described_folder

FORMAT_VERSION = 1
MODEL_FILE = "model.keras"
DESCRIPTION_FILE = "task.json"


def save_task(task, run_dir):
    """Writes `task` into `run_dir` (created); returns the folder as a `pathlib.Path`."""
    import dlkeras

    cls = type(task)
    description = {
        "format": FORMAT_VERSION,
        "task": f"{cls.__module__}:{cls.__qualname__}",
        "dlkeras_version": dlkeras.__version__,
        "layer_groups": task.layer_groups.to_config(task.network),
        "metadata": task.metadata,
    }
    return write_described_folder(run_dir, DESCRIPTION_FILE, description,
                                  lambda folder: task.network.save(folder / MODEL_FILE))


def read_task_description(run_dir):
    """The parsed `task.json` of a run folder, with a clear error when there is none."""
    return read_folder_description(
        run_dir, DESCRIPTION_FILE, MODEL_FILE, kind="run-folder", version=FORMAT_VERSION,
        missing=f"is not a run folder (no {DESCRIPTION_FILE}): train a model first, or pass the "
                "folder that training wrote.")


def task_class(description):
    """Imports and returns the `Task` subclass a description names."""
    from dlkeras.tasks.task import Task

    module_name, _, qualname = description["task"].partition(":")
    try:
        found = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"The run folder was written by {description['task']!r}, which cannot "
                         f"be imported here: {error}") from None
    if not (isinstance(found, type) and issubclass(found, Task)):
        raise ValueError(f"{description['task']!r} is not a dlkeras Task.")
    return found


def load_task(run_dir, compile=True):
    """The `Task` saved in `run_dir` (see `Task.load`)."""
    import keras

    from dlkeras.layer_groups import LayerGroups

    run_dir = pathlib.Path(run_dir)
    description = read_task_description(run_dir)
    cls = task_class(description)
    network = keras.saving.load_model(run_dir / MODEL_FILE, compile=compile)
    groups = LayerGroups.from_config(network, description["layer_groups"])
    return cls(network, layer_groups=groups, metadata=description["metadata"])
