"""How many training steps one compiled call should run, from the measured step time.

Each call of Keras' train function costs a fixed couple of milliseconds
of Python around the compiled step (the epoch loop, callbacks, logs): on a
2-core CPU, the gss_wages MLP at batch 1024 (30 steps of ~6 ms an epoch)
ran a steady epoch in 0.238 s at one step a call and 0.176 s at 30 a call
(`benchmarks/fixed_costs.py`, both in one run): ~2 ms a call, a third of
the step. For a model whose step takes 100 ms it is noise. `steps_per_execution_for` sizes the calls so that each
runs about `call_seconds` of steps, which keeps that fixed cost to a few
per cent whatever the model.

On a repeated stream (`steps_per_epoch` given to `fit`, as a `Task`'s
training batches are) Keras runs whole calls: `ceil(steps_per_epoch /
steps_per_execution)` of them, so a value that does not divide the epoch
trains past its end (20 steps at 3 a call: 21 steps; MovieLens at batch
1024, 78 steps at 64 a call: 128), and a one-cycle schedule sized for the
epoch ends early. `dividing_steps_per_execution` moves a value to the
nearest divisor of the epoch; a `Task` applies it before every fit.

Schedules are unaffected: dlkeras evaluates them on the optimizer's step
inside the compiled call, so every step gets its own rate and momentum.
What gets coarser is what callbacks see per batch (logs every call).

Example:

>>> steps_per_execution_for(0.008, steps_per_epoch=500)   # 8 ms steps: 13 a call
13
>>> steps_per_execution_for(0.002, steps_per_epoch=30)    # 2 ms steps: a call per epoch
30
>>> steps_per_execution_for(0.2, steps_per_epoch=500)     # 200 ms steps: one step a call
1
>>> steps_per_execution_for(None, steps_per_epoch=500)    # not measured yet
1
>>> dividing_steps_per_execution(64, steps_per_epoch=78)  # 78 = 1 call of 78, not 2 of 64
78
>>> dividing_steps_per_execution(3, steps_per_epoch=20)
4
"""

import math

CALL_SECONDS = 0.1    # aim for calls of about this long
MAX_STEPS_PER_EXECUTION = 128


def steps_per_execution_for(step_seconds, steps_per_epoch=None, call_seconds=CALL_SECONDS,
                            limit=MAX_STEPS_PER_EXECUTION):
    """Steps per compiled call so that a call runs about `call_seconds`.

    Args:
        step_seconds: measured wall time of one training step (e.g.
            `LRFinder.step_seconds`), or None when not measured: then 1.
        steps_per_epoch: steps in an epoch, if known: no call runs more.
        call_seconds: target duration of one call.
        limit: most steps per call whatever the step time.

    Returns:
        An int >= 1.
    """
    if step_seconds is None or not math.isfinite(step_seconds) or step_seconds <= 0:
        return 1
    steps = max(1, math.ceil(call_seconds / step_seconds))
    if steps_per_epoch:
        steps = min(steps, int(steps_per_epoch))
    return int(max(1, min(steps, limit)))


def dividing_steps_per_execution(steps_per_execution, steps_per_epoch):
    """The divisor of `steps_per_epoch` nearest to `steps_per_execution` (in ratio).

    Ties go to the smaller one. With `steps_per_epoch` unknown (None),
    `steps_per_execution` is returned as it is.

    Args:
        steps_per_execution: the wanted steps per call, an int >= 1.
        steps_per_epoch: steps in an epoch, or None.

    Returns:
        An int >= 1 that divides `steps_per_epoch`.
    """
    wanted = int(steps_per_execution)
    if not steps_per_epoch or wanted <= 1:
        return max(1, wanted)
    steps = int(steps_per_epoch)
    if wanted >= steps:
        return steps
    small = [d for d in range(1, math.isqrt(steps) + 1) if steps % d == 0]
    divisors = set(small) | {steps // d for d in small}
    return min(divisors, key=lambda d: (abs(math.log(d / wanted)), d))
