"""Running code in a fresh Python process that must not import dlkeras or apps.

The exported SavedModels promise to serve with TensorFlow alone; these tests
check it the way a server would run: a new process, the project folder off
`sys.path`, and a guard that fails if `dlkeras` or `apps` got imported.
"""

import os
import subprocess
import sys


def run_without_dlkeras(code, timeout=300):
    """Runs Python `code` in a fresh process and checks it never imported dlkeras.

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
