"""TensorFlow's CPU thread pools, set once before TensorFlow starts.

TensorFlow runs each op on up to `intra_op` threads and up to `inter_op`
independent ops at once; both default to one per core. On this project's
2-core machine one intra-op thread made small models' steady epochs
faster at large batches: the tabular app's MLP at batch 512-1024 took
0.73-0.82x the time, the recommender's dot model at batch 1024 0.73-0.80x;
at batch 64 neither changed (0.97-1.07x), and the text classifier took 1.37x
(`benchmarks/threads.py`,
`benchmarks/fixed_costs.py`; `docs/core-api.md`). The pools exist once per
process and cannot change after TensorFlow's first op, so these are
settings for the start of a script; the tabular and recommender command
lines default to one intra-op thread (`--intra-op-threads`).
"""
from __future__ import annotations

__all__ = ["set_cpu_threads", "cpu_threads"]


def _check(name, value):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{name}` must be a whole number of threads >= 0 (0: one per core) "
                         f"or None (leave it). Received: {name}={value!r}")


_VARIABLES = {"intra_op": "TF_NUM_INTRAOP_THREADS", "inter_op": "TF_NUM_INTEROP_THREADS"}


def cpu_threads() -> dict:
    """TensorFlow's thread settings in force, `{"intra_op": n, "inter_op": n}` (0: one per core).

    A pool left at 0 in TensorFlow's configuration reports the environment
    variable TensorFlow reads instead (`TF_NUM_INTRAOP_THREADS`,
    `TF_NUM_INTEROP_THREADS`) where that is set.

    Example:

    >>> sorted(cpu_threads())
    ['inter_op', 'intra_op']
    """
    import os

    import tensorflow as tf

    settings = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    for name, value in settings.items():
        variable = os.environ.get(_VARIABLES[name], "").strip()
        if value == 0 and variable.isdigit():
            settings[name] = int(variable)
    return settings


def set_cpu_threads(intra_op: int | None = None, inter_op: int | None = None) -> dict:
    """Sets TensorFlow's CPU thread pools; call it before TensorFlow runs anything.

    Asking for what is already set is always allowed; changing a pool after
    TensorFlow's first op is refused with a `RuntimeError` that says how to
    set it instead (TensorFlow creates its pools once per process).

    Args:
        intra_op: threads one op may use (1 for small models on few cores;
            0 for one per core, TensorFlow's default; None leaves it).
        inter_op: ops that may run at once (0 for one per core; None leaves it).

    Returns:
        The settings now in force (`cpu_threads()`).

    Example:

    >>> from dlkeras.cpu_threads import cpu_threads, set_cpu_threads
    >>> set_cpu_threads(intra_op=cpu_threads()["intra_op"])["intra_op"] >= 0
    True
    """
    import tensorflow as tf

    _check("intra_op", intra_op)
    _check("inter_op", inter_op)
    current = cpu_threads()
    wanted = {"intra_op": intra_op, "inter_op": inter_op}
    setters = {"intra_op": tf.config.threading.set_intra_op_parallelism_threads,
               "inter_op": tf.config.threading.set_inter_op_parallelism_threads}
    for name, value in wanted.items():
        if value is None or value == current[name]:
            continue
        try:
            setters[name](value)
        except RuntimeError as error:  # TensorFlow's context exists already
            raise RuntimeError(
                f"TensorFlow has already started, with {name}={current[name]}: its thread "
                f"pools cannot change now. Call `set_cpu_threads({name}={value})` before "
                f"anything runs a TensorFlow op (building a model or dataset does), or set "
                f"the environment variable {_VARIABLES[name]}={value} before Python starts."
            ) from error
    return cpu_threads()
