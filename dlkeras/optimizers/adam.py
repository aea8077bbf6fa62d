"""Adam and AdamW with a schedulable `beta_1`, a fused kernel and lazy sparse updates.

The default update is Keras' Adam, expression for expression, except that
the step's scalars (the learning rate's cast, `t = iterations + 1`, the bias
corrections `beta_1**t` and `beta_2**t`, the step size `alpha` and
`1 - beta_1`) are computed once per step and dtype instead of once per
variable: the same values, bit for bit, some ten fewer graph ops per
variable (Keras recomputes them for each one; TensorFlow's graph optimiser
does not merge the copies: on a small MLP one `ScheduledAdam` ran ~3 % less
CPU per step than Keras' Adam). Under a `tf.distribute` strategy each
variable computes its own, as in Keras.

Two update paths besides that one (same mathematics, different cost):

- **Fused** (`fused=True`; off by default): the step's scalars (bias
  corrections, the scheduled `beta_1`) are computed once per step and each
  variable is updated by TensorFlow's `ResourceApplyAdam` kernel, which
  implements Keras' Adam update (to float32 rounding). Keras builds about
  30 small ops per variable instead. Measured on the 2-core CPU machine
  (`benchmarks/optimizer_paths.py`), the fused path traces faster (0.1-0.3 s
  less per compile) but a steady step is no faster (a tabular MLP: +0.4 %
  CPU per epoch; a tiny CNN: +6 %), so Keras' exact path is the default.
  With hundreds of variables the balance turns: the image app
  (`apps.image.task.ImageTask`) uses the fused path: EfficientNet-Lite0's
  train step at 64 px traced in 2.78 s instead of 4.50 s and its steps ran
  ~6 % faster (`docs/benchmarks.md`). AdamW's decoupled weight decay on this
  path multiplies each variable by one factor a dtype (rate times decay;
  Keras multiplies by the decay, then by the rate, through a per-variable
  strategy dispatch): the same decay to float32 rounding, and another ~0.3 s
  off Lite0's trace (2.90 -> 2.59 s in a later run).
  Keras' path is also used for `amsgrad`, under a `tf.distribute` strategy,
  for `tf.IndexedSlices` gradients and for dtypes the kernel lacks.
- **Sparse** (`sparse_updates=True`): a `tf.IndexedSlices` gradient (an
  embedding lookup) updates only the looked-up rows of the variable and of
  its two moments ("lazy Adam"). The other rows' moments stay as they are
  instead of decaying towards zero.

Either way, repeated rows of a `tf.IndexedSlices` gradient are summed
before the moments see them, as the dense gradient sums them (Keras 3's
Adam squares each repeat apart).

Example:

>>> from dlkeras.optimizers import ScheduledAdamW
>>> optimizer = ScheduledAdamW(1e-3, weight_decay=0.01, sparse_updates=True,
...                            weight_decay_exclude=["embeddings"])
>>> isinstance(optimizer, keras.optimizers.AdamW), optimizer.fused
(True, False)
"""

import numbers

import keras
import tensorflow as tf
from keras import ops

from dlkeras.keras_internals import adam_slots, amsgrad_slot
from dlkeras.optimizers.scheduled import ScheduledHyperparameters, momentum_argument

_REGISTER = keras.saving.register_keras_serializable(package="dlkeras")

# Dtypes TensorFlow registers ResourceApplyAdam for (CPU, GPU and XLA).
_FUSED_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _resource(variable):
    """The `tf.Variable` behind a Keras variable (or the variable itself)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


@_REGISTER
class ScheduledAdam(ScheduledHyperparameters, keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose `beta_1` may be a schedule.

    Bias correction uses the current `beta_1` raised to the optimizer's own
    update count, as fastai's Adam does.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        beta_1: float in [0, 1), constant tensor, or `LearningRateSchedule`
            (e.g. `OneCycleMomentum`).
        beta_2, epsilon, amsgrad: as for `keras.optimizers.Adam`.
        fused: update each variable with TensorFlow's fused Adam kernel
            (Keras' update to float32 rounding; faster tracing, no faster
            steps on CPU; falls back to Keras' path where it does not apply).
        sparse_updates: lazy Adam for `tf.IndexedSlices` gradients: only the
            looked-up rows and their moments change.
        weight_decay_exclude: regexes; variables whose path matches one get
            no decoupled weight decay (e.g. embeddings regularised by an L2
            penalty instead).
        **kwargs: any other `keras.optimizers.Adam` argument.

    Example:

    >>> from dlkeras.schedules import OneCycleMomentum
    >>> optimizer = ScheduledAdam(1e-3, beta_1=OneCycleMomentum(total_steps=10))
    """

    _momentum_attr = "beta_1"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, *, fused=False, sparse_updates=False,
                 weight_decay_exclude=None, **kwargs):
        schedule, constant = momentum_argument("beta_1", beta_1, allow_one=False)
        super().__init__(learning_rate=learning_rate, beta_1=constant, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, **kwargs)
        self.fused = bool(fused)
        self.sparse_updates = bool(sparse_updates)
        self._init_scheduled(schedule, weight_decay_exclude)

    def update_step(self, gradient, variable, learning_rate):
        if isinstance(gradient, tf.IndexedSlices):
            if self.sparse_updates:
                return self._lazy_update_step(gradient, variable, learning_rate)
            # Keras' ops would square each repeat of a row apart; the dense
            # gradient sums them first (Keras' maths densifies anyway).
            gradient = tf.convert_to_tensor(gradient)
        scalars = getattr(self, "_shared_scalars", None)
        if scalars is not None:
            return self._shared_update_step(gradient, variable, learning_rate, scalars)
        if self._momentum_schedule is None:
            return super().update_step(gradient, variable, learning_rate)
        constant = self.beta_1
        self.beta_1 = self._step_momentum  # Keras' Adam maths reads self.beta_1
        try:
            super().update_step(gradient, variable, learning_rate)
        finally:
            self.beta_1 = constant

    def _shared_update_step(self, gradient, variable, learning_rate, scalars):
        """Keras' Adam update of one variable, with this step's scalars computed once."""
        dtype = keras.backend.standardize_dtype(variable.dtype)
        if dtype not in scalars:
            # Keras' expressions, in Keras' order: the values are bit-identical.
            beta_1 = self._momentum_of_step()
            lr = ops.cast(learning_rate, dtype)
            local_step = ops.cast(self.iterations + 1, dtype)
            beta_1_power = ops.power(ops.cast(beta_1, dtype), local_step)
            beta_2_power = ops.power(ops.cast(self.beta_2, dtype), local_step)
            # 1 - beta as Keras computes it: in Python for a float (0.999
            # subtracted in float32 would be 1.3e-5 relative off), else once here.
            scalars[dtype] = (
                lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power),
                # A scheduled beta_1's complement is computed once for every layer group.
                1 - beta_1 if self._momentum_schedule is None
                else self._step_momentum_complement)
        alpha, one_minus_beta_1 = scalars[dtype]
        gradient = ops.cast(gradient, variable.dtype)
        m, v = adam_slots(self, variable)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), one_minus_beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        if self.amsgrad:
            v_hat = amsgrad_slot(self, variable)
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat
        self.assign_sub(
            variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))

    def _step_constants(self, learning_rate, dtype):
        """Adam's scalars for this step, in `dtype`, computed as Keras does."""
        beta_1 = ops.cast(self._momentum_of_step(), dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        return {"lr": ops.cast(learning_rate, dtype), "beta1": beta_1, "beta2": beta_2,
                "epsilon": ops.cast(self.epsilon, dtype),
                "beta1_power": ops.power(beta_1, step), "beta2_power": ops.power(beta_2, step)}

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not self.fused or self.amsgrad or tf.distribute.has_strategy():
            # Keras' path; the step's scalars shared by every variable (none under a strategy,
            # whose replicas update on their own devices).
            self._shared_scalars = None if tf.distribute.has_strategy() else {}
            try:
                return super()._backend_update_step(grads, trainable_variables, learning_rate)
            finally:
                self._shared_scalars = None
        constants = {}  # one set of scalars per dtype, shared by its variables
        for grad, variable in zip(grads, trainable_variables):
            dtype = keras.backend.standardize_dtype(variable.dtype)
            if isinstance(grad, tf.IndexedSlices) or dtype not in _FUSED_DTYPES:
                self.update_step(grad, variable, learning_rate)
                continue
            if dtype not in constants:
                constants[dtype] = self._step_constants(learning_rate, dtype)
            m, v = adam_slots(self, variable)
            tf.raw_ops.ResourceApplyAdam(
                var=_resource(variable).handle, m=_resource(m).handle, v=_resource(v).handle,
                grad=tf.cast(grad, dtype), **constants[dtype])

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None or not self.fused or tf.distribute.has_strategy():
            return super()._apply_weight_decay(variables)
        # The fused path: one decay factor a dtype, and no per-variable strategy dispatch
        # (Keras multiplies each variable by the weight decay, then by the rate: the same
        # decay to float32 rounding).
        factors = {}
        for variable in variables:
            if not self._use_weight_decay(variable):
                continue
            target = variable.value if isinstance(variable, keras.Variable) else variable
            dtype = target.dtype
            if dtype not in factors:
                factors[dtype] = (tf.cast(self.learning_rate, dtype)
                                  * tf.cast(self.weight_decay, dtype))
            target.assign_sub(target * factors[dtype])

    def _lazy_update_step(self, gradient, variable, learning_rate):
        """Adam on the rows of `gradient.indices` only (repeated rows summed first)."""
        dtype = variable.dtype
        # One tf.unique: XLA (TF 2.21) miscomputes a tf.unique of a tf.unique's output.
        rows, position = tf.unique(gradient.indices)
        grad = tf.math.unsorted_segment_sum(
            tf.cast(gradient.values, dtype), position, tf.shape(rows)[0])
        c = self._step_constants(learning_rate, dtype)
        alpha = c["lr"] * ops.sqrt(1 - c["beta2_power"]) / (1 - c["beta1_power"])
        m, v = adam_slots(self, variable)
        # 1 - beta as Keras computes it (in Python for a float beta: 0.999
        # subtracted in float32 would be 1.3e-5 relative off).
        m_rows = tf.gather(_resource(m), rows)
        m_rows = m_rows + (grad - m_rows) * ops.cast(1 - self._momentum_of_step(), dtype)
        v_rows = tf.gather(_resource(v), rows)
        v_rows = v_rows + (ops.square(grad) - v_rows) * ops.cast(1 - self.beta_2, dtype)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        if self.amsgrad:
            v_hat = amsgrad_slot(self, variable)
            v_rows = ops.maximum(tf.gather(_resource(v_hat), rows), v_rows)
            self.assign(v_hat, tf.IndexedSlices(v_rows, rows))
        step = m_rows * alpha / (ops.sqrt(v_rows) + c["epsilon"])
        self.assign_sub(variable, tf.IndexedSlices(step, rows))

    def get_config(self):
        return {**super().get_config(), "fused": self.fused,
                "sparse_updates": self.sparse_updates}


@_REGISTER
class ScheduledAdamW(ScheduledAdam, keras.optimizers.AdamW):
    """Adam with decoupled weight decay, whose `beta_1` may be a schedule.

    An instance of `keras.optimizers.AdamW` (and of `ScheduledAdam`). The
    decay is `variable -= variable * weight_decay * learning_rate` with the
    learning rate of this step, so it follows each group's schedule.

    Args:
        learning_rate: float or `LearningRateSchedule`.
        weight_decay: decoupled decay factor (fastai's default 0.01; Keras'
            is 0.004).
        beta_1: float, constant tensor, or `LearningRateSchedule`.
        **kwargs: any other `ScheduledAdam` argument (`fused`,
            `sparse_updates`, `weight_decay_exclude`, Keras' options).

    Example:

    >>> optimizer = ScheduledAdamW(1e-3, weight_decay=0.1)
    >>> optimizer.weight_decay
    0.1
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.01, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        if not isinstance(weight_decay, numbers.Real) or isinstance(weight_decay, bool):
            raise ValueError("Argument `weight_decay` must be a float. "
                             f"Received: weight_decay={weight_decay!r}")
        if not weight_decay >= 0:
            raise ValueError("Argument `weight_decay` must be >= 0. "
                             f"Received: weight_decay={weight_decay!r}")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=float(weight_decay),
                         **kwargs)
