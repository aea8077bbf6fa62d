"""Where SavedModels go, and checking that they serve without dlkeras.

Exports follow the TensorFlow Serving layout `saved_models/<name>/<version>/`:
point a model server at `saved_models/<name>` and it serves the highest
version.

Example:

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> new_version_dir("mnist", root=root).name
'1'
"""

import os
import pathlib
import re
import subprocess
import sys

SAVED_MODELS_ENV = "DLKERAS_SAVED_MODELS"


def saved_models_root(root=None):
    """`root`, else `$DLKERAS_SAVED_MODELS`, else `./saved_models`."""
    return pathlib.Path(root or os.environ.get(SAVED_MODELS_ENV) or "saved_models")


def new_version_dir(name, root=None):
    """The next free `<root>/<name>/<version>/` path (not created).

    Args:
        name: model name; letters, digits, `-`, `_` and `.` only.
        root: folder holding all exported models.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(
            "A model name must start with a letter or digit and hold only letters, "
            f"digits, '-', '_' and '.'. Received: name={name!r}")
    folder = saved_models_root(root) / name
    versions = [int(p.name) for p in folder.glob("*") if p.is_dir() and p.name.isdigit()]
    return folder / str(max(versions, default=0) + 1)


def run_without_dlkeras(code, timeout=300):
    """Runs Python `code` in a fresh process and checks it never imported dlkeras.

    The code runs with the project folder removed from `sys.path`; after it
    finishes, the process fails if `dlkeras` or `apps` was imported.

    Returns:
        The `subprocess.CompletedProcess` (stdout and stderr as text).
    """
    guard = (
        "\nimport sys as _sys\n"
        "_bad = [m for m in _sys.modules if m.split('.')[0] in ('dlkeras', 'apps')]\n"
        "assert not _bad, f'imported {_bad}'\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-c", code + guard], capture_output=True, text=True,
        timeout=timeout, env=env, cwd="/")
