"""The few `keras.ops` schedules use, in NumPy float32, for evaluating them on the host.

A callback that reports a schedule's value (the hyper-parameter logger)
needs one number, not a tensor: evaluated with eager TensorFlow ops, the
six schedules of three layer groups under one-cycle cost about 2 ms of CPU
per call (some forty ops at ~50 us each), as much as a few train steps of a
small model. With these functions the same code costs a few microseconds
an op. They keep float32 throughout, as the traced step does; a value
differs from the step's by float32 roundings only (at most 1e-5 relative
over every dlkeras schedule, tested; eager TensorFlow ops differ from the
traced graph as much).

Pass the module as the array namespace `xp` of `dlkeras.annealers`, or use
`StepEvaluation.on_host(step)`.

Example:

>>> from dlkeras import host_math
>>> from dlkeras.annealers import anneal_cos
>>> value = anneal_cos(1.0, 0.0, host_math.cast(0.5, "float32"), xp=host_math)
>>> type(value).__name__, round(float(value), 6)
('float32', 0.5)
"""

import numpy as np


def cast(x, dtype):
    """`x` as a NumPy scalar of `dtype` (a name such as "float32")."""
    return np.dtype(dtype).type(x)


def clip(x, low, high):
    return np.float32(np.clip(np.float32(x), np.float32(low), np.float32(high)))


def where(condition, x, y):
    # Python floats would make np.where return float64.
    return np.float32(x) if condition else np.float32(y)


def maximum(x, y):
    return np.float32(np.maximum(np.float32(x), np.float32(y)))


def cos(x):
    return np.cos(np.float32(x))


def power(x, y):
    return np.power(np.float32(x), np.float32(y))


def mod(x, y):
    return np.mod(np.float32(x), np.float32(y))


def floor(x):
    return np.floor(np.float32(x))


def log1p(x):
    return np.log1p(np.float32(x))


def abs(x):  # noqa: A001 (the keras.ops name)
    return np.abs(np.float32(x))

