"""How many training steps one compiled call should run, from the measured step time.

Each call of Keras' train function costs a fixed share of Python around
the compiled step (the epoch loop, callbacks, logs): on a 2-core CPU, the
gss_wages MLP at batch 1024 (29 steps an epoch) ran a steady epoch in
0.238 s at one step a call and 0.176 s at 30 a call on 2026-11-23
(`benchmarks/fixed_costs.py`, both in one run: ~2 ms a call), and 0.094
against 0.080 s on 2026-11-24's code and VM (~0.5 ms a call). For a model
whose step takes 100 ms it is noise. `steps_per_execution_for` sizes the
calls so that each runs about `call_seconds` of steps, which keeps that
fixed cost to a few per cent whatever the model.

On a repeated stream (`steps_per_epoch` given to `fit`, as a `Task`'s
training batches are) Keras runs whole calls: `ceil(steps_per_epoch /
steps_per_execution)` of them, so a value that does not divide the epoch
trains past its end (20 steps at 3 a call: 21 steps; MovieLens at batch
1024, 78 steps at 64 a call: 128), and a one-cycle schedule sized for the
epoch ends early. `dividing_steps_per_execution` moves a value to the
nearest divisor of the epoch; a `Task` applies it before every fit.

A new call size has a price: Keras traces a new train function, a loop
around the step, and TensorFlow optimises its graph again. After
`lr_find` (which runs one step a call) the one-step function is already
traced and the fit can reuse it (`dlkeras.traced_cycles`); a loop of k
steps costs about 0.7 of the step's own trace (the gss_wages MLP at batch
1024: 0.23 s against the sweep's 0.32 s; MovieLens dot: 0.16 against
0.24 s), and it pays back one call's overhead, about 0.5 ms on this
project's 2-core CPU (steady epochs at 1 and at 29-78 steps a call: 0.094
against 0.080 s for 29 steps, 0.090 against 0.046 s for 78), per call it
saves; at one intra-op thread (`dlkeras.set_cpu_threads`, the tabular and
recommender default) 0.71 ms (gss_wages, batch 1024: 0.0796 against 0.0598 s,
medians of 6 alternating fresh processes each, 2026-11-25 02:22-02:24 UTC, quiet),
so the rule counts 0.6 ms. So for a short fit one step a call is faster: the gss_wages MLP's
5 epochs of 29 steps at batch 1024 took 0.61 s at one step a call and
0.80-0.83 s at 29 (`benchmarks/fixed_costs.py` and alternating fresh-process
runs, 2026-11-24 22:03-22:08 UTC, quiet, medians of 3 and 4). Given the planned steps
and the measured trace (`LRFinder.trace_seconds`), `steps_per_execution_for`
keeps one step a call unless the calls it saves pay for the new trace.

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
>>> # 5 epochs of 30 steps save 145 calls (~0.07 s): less than a 0.3 s trace's loop
>>> steps_per_execution_for(0.002, steps_per_epoch=30, planned_steps=150, trace_seconds=0.3)
1
>>> steps_per_execution_for(0.002, steps_per_epoch=30, planned_steps=3000, trace_seconds=0.3)
30
>>> dividing_steps_per_execution(64, steps_per_epoch=78)  # 78 = 1 call of 78, not 2 of 64
78
>>> dividing_steps_per_execution(3, steps_per_epoch=20)
4
"""

import math
import numbers

CALL_SECONDS = 0.1    # aim for calls of about this long
MAX_STEPS_PER_EXECUTION = 128
CALL_OVERHEAD_SECONDS = 6e-4  # Keras' Python around one call (measured on 2 cores: 0.5-0.57 ms
                              # at one intra-op thread per core, 0.71 ms at one thread)
LOOP_TRACE_RATIO = 0.7  # a k-step loop's trace, as a fraction of the one-step trace (0.67-0.72)


def steps_per_execution_for(step_seconds, steps_per_epoch=None, call_seconds=CALL_SECONDS,
                            limit=MAX_STEPS_PER_EXECUTION, *, planned_steps=None,
                            trace_seconds=None):
    """Steps per compiled call so that a call runs about `call_seconds`.

    Args:
        step_seconds: measured wall time of one training step (e.g.
            `LRFinder.step_seconds`), or None when not measured: then 1.
        steps_per_epoch: steps in an epoch, if known: no call runs more.
        call_seconds: target duration of one call.
        limit: most steps per call whatever the step time.
        planned_steps: steps the coming fit will train, if known.
        trace_seconds: what tracing the one-step train function cost
            (`LRFinder.trace_seconds`), if measured. With `planned_steps`,
            more than one step a call is chosen only when the calls saved
            (`CALL_OVERHEAD_SECONDS` each) pay for tracing the new loop
            (`LOOP_TRACE_RATIO` of `trace_seconds`).

    Returns:
        An int >= 1.
    """
    if planned_steps is not None and (isinstance(planned_steps, bool) or not isinstance(
            planned_steps, numbers.Integral) or planned_steps < 0):
        raise ValueError("`planned_steps` must be None or an integer >= 0. "
                         f"Received: planned_steps={planned_steps!r}")
    if trace_seconds is not None and (isinstance(trace_seconds, bool) or not isinstance(
            trace_seconds, numbers.Real) or not math.isfinite(trace_seconds) or trace_seconds < 0):
        raise ValueError("`trace_seconds` must be None or a finite number of seconds >= 0. "
                         f"Received: trace_seconds={trace_seconds!r}")
    if step_seconds is None or not math.isfinite(step_seconds) or step_seconds <= 0:
        return 1
    steps = max(1, math.ceil(call_seconds / step_seconds))
    if steps_per_epoch:
        steps = min(steps, int(steps_per_epoch))
    steps = int(max(1, min(steps, limit)))
    if steps > 1 and planned_steps is not None and trace_seconds is not None:
        saved = planned_steps * (1.0 - 1.0 / steps) * CALL_OVERHEAD_SECONDS
        if saved < LOOP_TRACE_RATIO * trace_seconds:
            return 1
    return steps


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
