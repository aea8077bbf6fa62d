"""Every use of Keras' private API in dlkeras, in one place.

dlkeras needs a few things Keras 3 does not offer publicly; each function
below wraps one private attribute (or `keras.src` import), says why it is
needed, and names the Keras version it was checked against. Everything else
in dlkeras and in the apps goes through these functions, so upgrading Keras
means reading this file (and the hooks listed below) and re-running the
tests.

Checked against Keras 3.15.1 (TensorFlow backend).

Private *hooks* that dlkeras classes override (method names, not attribute
reads; a Keras upgrade must check their signatures and call sites too):

- `BaseOptimizer._get_current_learning_rate()`: `dlkeras.optimizers`
  evaluates schedules on the shared schedule step and once per step.
- `BaseOptimizer._backend_apply_gradients(grads, variables)`: dlkeras
  optimizers note which variables train in this step (EMA by identity).
- `BaseOptimizer._update_model_variables_moving_average(variables)` and
  `_overwrite_model_variables_with_average_value(variables)`: Keras pairs
  variables and EMA copies by position; dlkeras pairs them by identity and
  leaves frozen variables alone.
- `TFOptimizer._backend_update_step(grads, variables, learning_rate)`:
  the fused-kernel update path of `ScheduledAdam` / `ScheduledAdamW`.
- `BaseOptimizer._use_weight_decay(variable)`: `weight_decay_exclude`.

Instance overrides: `call_traced_directly` sets `make_train_function` and
`make_test_function` on a model instance (Keras' method, then the swap of
the loop inside the function it made for a `DirectLoop`).

Example:

>>> import keras
>>> optimizer = keras.optimizers.Adam(1e-3)
>>> isinstance(learning_rate_object(optimizer), keras.Variable)
True
"""

import inspect
import itertools
import os
import pathlib
import types
import weakref

import keras
import tensorflow as tf

# --- Optimizers -----------------------------------------------------------

def learning_rate_object(optimizer):
    """What an optimizer holds as its learning rate: a Variable, a schedule, a float.

    Why private: the public `optimizer.learning_rate` evaluates a schedule
    (at Keras' own step) instead of returning it.
    """
    return optimizer._learning_rate


def set_learning_rate_object(optimizer, value):
    """Makes `optimizer` use `value` (a schedule or Variable) as its learning rate.

    Why private: Keras' public setter replaces a learning-rate Variable by a
    schedule by *untracking* the variable, which edits a tracked list that
    TensorFlow then refuses to save ("tracking is exclusively for
    append-only data structures"); `model.export` fails afterwards. Setting
    the attribute directly keeps the variable tracked and the optimizer's
    variable list unchanged, so checkpoints keep their layout.
    """
    optimizer._learning_rate = value


def track_variable(optimizer, variable):
    """Adds `variable` to the optimizer's saved variables.

    Why private: Keras creates its `learning_rate` variable only for a float
    rate; dlkeras optimizers always keep one so that a checkpoint's layout
    does not depend on whether a schedule was passed.
    """
    optimizer._track_variable(variable)


def step_counter(optimizer):
    """The optimizer's raw counter of `apply` calls (one per batch).

    Why private: with `gradient_accumulation_steps`, the public
    `optimizer.iterations` counts *updates* (batches // steps), while Keras
    evaluates a learning-rate schedule on the raw per-batch counter; a
    schedule must advance per batch to follow the same position in a cycle.
    A `MultiOptimizer` keeps its own counter here too.
    """
    return optimizer._iterations


def variable_key(optimizer, variable):
    """The key under which an optimizer identifies `variable` (its id).

    Why private: needed to tell whether an optimizer was built on a variable
    (a built optimizer refuses unknown variables).
    """
    return optimizer._var_key(variable)


def built_variable_keys(optimizer):
    """The keys of the variables a built optimizer was built on (None if unknown).

    Why private: Keras keeps them only in `_trainable_variables_indices`;
    freezing checks that an optimizer was built on every variable that may
    train, and the EMA check counts how many of them train in a step.
    """
    return getattr(optimizer, "_trainable_variables_indices", None)


def variable_index(optimizer, variable):
    """Position of `variable` in the optimizer's slot lists.

    Why private: `_get_variable_index` is the only map from a variable to
    its slots (e.g. SGD's `momentums`), which the scheduled-momentum update
    reads by variable.
    """
    return optimizer._get_variable_index(variable)


def adam_slots(optimizer, variable):
    """`(momentum, velocity)` slot variables of `variable` in a Keras Adam.

    Why private: Adam keeps them in `_momentums` / `_velocities`; the fused
    and sparse update paths update them directly.
    """
    index = optimizer._get_variable_index(variable)
    return optimizer._momentums[index], optimizer._velocities[index]


def amsgrad_slot(optimizer, variable):
    """The `velocity_hat` slot of `variable` in a Keras Adam with `amsgrad=True`.

    Why private: kept in `_velocity_hats`; the sparse update path updates
    the looked-up rows of it.
    """
    return optimizer._velocity_hats[optimizer._get_variable_index(variable)]


def ema_average(optimizer, variable):
    """The moving average (`use_ema=True`) an optimizer keeps for `variable`.

    Why private: Keras keeps the averages in `_model_variables_moving_average`,
    in the order the optimizer was built in, and pairs them with the variables
    it is given by position; with some variables frozen those two orders
    differ, so dlkeras looks each average up by the variable's identity.
    """
    return optimizer._model_variables_moving_average[optimizer._get_variable_index(variable)]


def built_variables(optimizer):
    """The variables a built optimizer was built on, in build (slot) order.

    Why private: Keras keeps them in `_trainable_variables`; a saved
    optimizer records their paths and shapes so that a reload can rebuild
    the same slot layout even while some of them are frozen.
    """
    return list(getattr(optimizer, "_trainable_variables", ()))


_STAND_IN_IDS = itertools.count()


def variable_stand_in(path, shape, dtype):
    """Something a Keras optimizer can be built on in place of a variable not seen yet.

    Why private: an optimizer identifies a variable by `_var_key`, which on
    the TensorFlow backend reads `_unique_id`; building slot variables reads
    `path`, `shape`, `dtype` and, to colocate them, `device`.
    """
    return types.SimpleNamespace(
        path=path, name=path.rsplit("/", 1)[-1], shape=tuple(shape), dtype=dtype, device="",
        _unique_id=f"dlkeras_stand_in_{next(_STAND_IN_IDS)}", dlkeras_stand_in=True)


def replace_built_variable(optimizer, old, new):
    """Makes a built optimizer use the slots it built for `old` for `new` instead.

    Why private: the variable -> slot index map is `_trainable_variables_indices`
    and the build-order list is `_trainable_variables`.
    """
    index = optimizer._trainable_variables_indices.pop(optimizer._var_key(old))
    optimizer._trainable_variables_indices[optimizer._var_key(new)] = index
    optimizer._trainable_variables[index] = new


def route_variable(multi_optimizer, variable):
    """Adds `variable` to a built `MultiOptimizer`'s routing table; returns its group index.

    Why private: the routing table (`_var_to_optimizer_idx`), the optimizer
    map (`_optimizer_map`) and the built-variable lists are private; Keras
    builds the table once and cannot add to it.
    """
    key = multi_optimizer._var_key(variable)
    index = multi_optimizer._inner_optimizers.index(multi_optimizer._optimizer_map(variable))
    multi_optimizer._var_to_optimizer_idx[key] = index
    multi_optimizer._trainable_variables_indices[key] = len(multi_optimizer._trainable_variables)
    multi_optimizer._trainable_variables.append(variable)
    return index


def inner_optimizer_list(multi_optimizer):
    """The mutable list of a `MultiOptimizer`'s sub-optimizers, in group order.

    Why private: `MultiOptimizer.optimizers` returns a copy; dlkeras reorders
    the list so that every layer group keeps its position, also groups that
    own no variable yet. (An empty list while the constructor has not made
    it yet: Keras' base constructor already reads `built`.)
    """
    return getattr(multi_optimizer, "_inner_optimizers", [])


def routed_optimizer_index(multi_optimizer, variable):
    """Index of the sub-optimizer a built `MultiOptimizer` routes `variable` to, or None.

    Why private: the routing table is built once, at `build`, and lives in
    `_var_to_optimizer_idx`.
    """
    return multi_optimizer._var_to_optimizer_idx.get(multi_optimizer._var_key(variable))


# --- Layers and models ----------------------------------------------------

def sublayers(layer, include_self=True, recursive=True):
    """`layer`'s sublayers, nested ones included (Keras' own traversal order).

    Why private: `Layer._flatten_layers` is the only traversal that sees
    layers of nested models and layers held in attributes.
    """
    return list(layer._flatten_layers(include_self=include_self, recursive=recursive))


def variables_created_trainable(layer):
    """The variables `layer` itself created as trainable, whatever its `trainable` flag.

    Why private: freezing a layer empties its public `trainable_weights`, but
    Keras keeps the list in `_trainable_variables`; it says which variables
    would train once everything is unfrozen.
    """
    return list(layer._trainable_variables)


def prebuild_training_state(model, batch):
    """Creates a compiled model's metric variables (and shapes) from one batch.

    Why private: without it Keras creates them inside the first traced train
    step, and a `tf.function` that creates variables is traced twice; doing
    it up front halves the first epoch's tracing. `Trainer._symbolic_build`
    is what Keras itself calls before distributed training. Call it inside
    the model's strategy scope (`dlkeras.distribute.strategy_scope`): the
    optimizer's slots are created here.
    """
    model._symbolic_build(data_batch=batch)


def training_state_built(model):
    """Whether a compiled model's layers, loss and metric state all exist already.

    Why private: Keras keeps the compiled loss and metrics in
    `_compile_loss` / `_compile_metrics` and exposes no public `built` for
    them; `prebuild_training_state` is only worth a batch when this is False.
    """
    parts = [getattr(model, "_compile_metrics", None), getattr(model, "_compile_loss", None)]
    layers_built = all(layer.built for layer in sublayers(model))
    return layers_built and all(part is None or part.built for part in parts)


# --- Train functions ------------------------------------------------------

def compiled_parts(model):
    """The objects one `compile` gives a model: its optimizer, compiled loss and metrics.

    Why private: Keras keeps the compiled loss and metrics in
    `_compile_loss` / `_compile_metrics`. A train function traced with one
    set of them must not run after a new `compile` (`dlkeras.traced_cycles`
    keys the functions it keeps by these objects).
    """
    return (model.optimizer, getattr(model, "_compile_loss", None),
            getattr(model, "_compile_metrics", None))


def _keras_train_function(function):
    """Keras' own train function under any wrappers that name it in `__wrapped__`."""
    return inspect.unwrap(function) if callable(function) else function


def _closure_cells(function):
    """`{free variable name: cell}` of Keras' train- or test-function closure, or None."""
    function = _keras_train_function(function)
    code = getattr(function, "__code__", None)
    if code is None or not function.__closure__:
        return None
    cells = dict(zip(code.co_freevars, function.__closure__))
    if not {"multi_step_on_iterator", "one_step_on_data", "self"} <= set(cells):
        return None
    return cells


def _step_functions(function):
    """`{free variable name: value}` of Keras' train-function closure, or None."""
    cells = _closure_cells(function)
    if cells is None:
        return None
    try:
        return {name: cell.cell_contents for name, cell in cells.items()}
    except ValueError:  # an empty cell
        return None


def train_function_traced(model):
    """Whether `model.train_function` exists and has been traced (called) at least once.

    Why private: Keras' train function is a Python closure around a
    `tf.function` (`multi_step_on_iterator`, from
    `TensorFlowTrainer._make_function`); its tracing count is public on the
    `tf.function`, which is reachable only through the closure. Unknown
    train functions count as traced.
    """
    function = model.train_function
    if function is None:
        return False
    parts = _step_functions(function)
    counter = getattr((parts or {}).get("multi_step_on_iterator"),
                      "experimental_get_tracing_count", None)
    return True if counter is None else counter() > 0


def train_function_for_steps(function, model):
    """A train function that runs `model.steps_per_execution` steps a call, sharing
    `function`'s traced single step; None when `function` is not Keras' own kind.

    Keras' train function (`TensorFlowTrainer._make_function`) is a loop
    (`multi_step_on_iterator`, a `tf.function` that reads
    `steps_per_execution` when it traces) around a single step
    (`one_step_on_data`, another `tf.function`). The single step (forward,
    gradients, optimizer update) is most of a trace: for the tabular MLP at
    batch 1024, a fit's train-step trace took 0.57 s with a new step and
    0.33 s with only a new loop (mostly TensorFlow optimising the new
    graph; `benchmarks/fixed_costs.py`). The function returned has a new loop, traced at its first call
    for the current `steps_per_execution`, around the same single step,
    whose traces `tf.function` reuses (its cache is keyed by the input
    signature, not by the function that calls it). Wrappers around Keras'
    function that name it in `__wrapped__` (`functools.wraps`) are looked
    through, and left out of the new function.

    Why private: both functions are reachable only through the closure of
    the Python function Keras sets as `model.train_function`.
    """
    function = _keras_train_function(function)
    parts = _step_functions(function)
    if parts is None or parts["self"] is not model:
        return None
    loop = parts["multi_step_on_iterator"]
    python_loop = getattr(loop, "python_function", None)
    if python_loop is None:  # run_eagerly: nothing traced to share
        return None
    new_loop = DirectLoop(tf.function(python_loop, reduce_retracing=True))
    names = function.__code__.co_freevars
    closure = tuple(types.CellType(new_loop) if name == "multi_step_on_iterator" else cell
                    for name, cell in zip(names, function.__closure__))
    return types.FunctionType(function.__code__, function.__globals__, function.__name__,
                              function.__defaults__, closure)


class DirectLoop:
    """Keras' `multi_step_on_iterator` `tf.function`, called through its concrete function.

    Each call of Keras' train (or test) function makes `tf.function` work out
    the traced function for its argument from the iterator's type spec
    before running it: about 0.2-0.4 ms of Python a call on this project's
    2-core CPU, ~10 % of a small model's step at one step a call. This
    stand-in looks the concrete function up once per iterator (a fit keeps
    one for its training stream; an evaluation makes one) and calls it
    directly: the same traced graph, so the same results, bit for bit.
    Anything but a plain `tf.data` iterator outside a `tf.distribute`
    strategy goes through the `tf.function` as before. Every other
    attribute is the `tf.function`'s (`python_function`,
    `experimental_get_tracing_count`, ...).

    Why private: the loop is reachable only through the closure of the
    function Keras sets as `model.train_function` / `model.test_function`
    (`TensorFlowTrainer._make_function`, Keras 3.15.1).
    """

    def __init__(self, loop):
        self._loop = loop
        self._iterator = None  # weak reference to the iterator last called on
        self._concrete = None
        self.lookups = 0  # concrete functions looked up (one per new iterator)

    def __call__(self, iterator):
        if not isinstance(iterator, tf.data.Iterator) or tf.distribute.has_strategy() or \
                isinstance(iterator, tf.distribute.DistributedIterator):
            return self._loop(iterator)
        if self._iterator is None or self._iterator() is not iterator:
            self._concrete = self._loop.get_concrete_function(iterator)
            self._iterator = weakref.ref(iterator)
            self.lookups += 1
        return self._concrete(iterator)

    def __getattr__(self, name):
        if name == "_loop":  # not set yet (an instance made without __init__, e.g. by copy)
            raise AttributeError(name)
        return getattr(self._loop, name)


def _call_loop_directly(function):
    """Makes Keras' train or test `function` call its loop through a `DirectLoop`, in place."""
    cells = _closure_cells(function)
    if cells is None:
        return
    cell = cells["multi_step_on_iterator"]
    try:
        loop = cell.cell_contents
    except ValueError:  # an empty cell
        return
    if isinstance(loop, DirectLoop) or not hasattr(loop, "get_concrete_function"):
        return  # done already, or run_eagerly (a plain Python function)
    cell.cell_contents = DirectLoop(loop)


def call_traced_directly(model):
    """Makes `model`'s train and test functions, now and whenever Keras makes new ones,
    call their traced loop without `tf.function`'s per-call dispatch (`DirectLoop`).

    The dlkeras recipes call it before every `fit` they run. The functions
    keep their identity (the loop is swapped inside them), so whatever holds
    them (`dlkeras.traced_cycles`) is unaffected.

    Why private: Keras' functions are closures (see `DirectLoop`); new ones
    come from `make_train_function` / `make_test_function`, which this
    overrides on the model instance (the class's method, or an override
    already set on the instance, then the swap).
    """
    for name in ("train_function", "test_function"):
        _call_loop_directly(getattr(model, name, None))
    if model.__dict__.get("_dlkeras_direct_calls"):
        return
    for maker, name in (("make_train_function", "train_function"),
                        ("make_test_function", "test_function")):
        _wrap_maker(model, maker, name)
    model.__dict__["_dlkeras_direct_calls"] = True


def _wrap_maker(model, maker, name):
    previous = model.__dict__.get(maker)  # an override already set on the instance, kept

    def make(self, force=False):
        if previous is None:
            result = getattr(type(self), maker)(self, force=force)
        else:
            result = previous(force=force)
        _call_loop_directly(getattr(self, name, None))
        return result

    # A bound method: a copy of the model (`copy.deepcopy`) gets one bound to itself.
    model.__dict__[maker] = types.MethodType(make, model)


# --- Files ----------------------------------------------------------------

def keras_home():
    """Keras' home folder (`$KERAS_HOME` or `~/.keras`), where weights are cached.

    Why private: the resolved path lives in `keras.src.backend.config`; if the
    module moves, fall back to Keras' documented default.
    """
    try:
        from keras.src.backend.config import keras_home as resolved
    except ImportError:
        return pathlib.Path(os.environ.get("KERAS_HOME",
                                           os.path.join(os.path.expanduser("~"), ".keras")))
    return pathlib.Path(resolved())


# --- tf.distribute: Keras 3.15.1 under MultiWorkerMirroredStrategy ---------

def _is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._in_multi_worker_mode()


def _local_batch(strategy, batch):
    """`batch` with each distributed value replaced by this worker's first replica's part."""
    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value
    return keras.tree.map_structure(local, batch)


def _scalar_safe_reduce_per_replica(original):
    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not _is_multi_worker(strategy):
            return original(values, strategy, reduction)

        def one(value):
            parts = strategy.experimental_local_results(value) \
                if isinstance(value, tf.distribute.DistributedValues) else [value]
            if all(getattr(part, "shape", None) is not None and part.shape.rank == 0
                   for part in parts):
                return strategy.reduce("MEAN", value, axis=None)
            return original(value, strategy, reduction)
        return keras.tree.map_structure(one, values)
    reduce_per_replica.dlkeras_patched = True
    return reduce_per_replica


def enable_multi_worker_fit(model):
    """Lets `model.fit` / `evaluate` run under `MultiWorkerMirroredStrategy`.

    Why private: Keras 3.15.1's TensorFlow trainer fails under that
    strategy before the first step, for any model and data
    (tensorflow/tensorflow#72388): `Trainer._maybe_symbolic_build` hands the
    whole `(x, y)` batch to `strategy.reduce`, which takes one value
    ("Attempt to convert a value (PerReplica...)"), and the module function
    `keras.src.backend.tensorflow.trainer.reduce_per_replica` averages every
    scalar log with `strategy.reduce("MEAN", v, axis=0)`, which a 0-d value
    refuses ("Invalid reduction dimension 0 for input with 0 dimensions").
    This replaces the first, on `model` only, by the same build from this
    worker's local batch, and wraps the second so that scalar logs are
    averaged over the replicas with `axis=None` (what Keras computes under
    `MirroredStrategy`). Nothing changes for other strategies. Does nothing
    unless `model` trains under a multi-worker strategy.
    """
    strategy = getattr(model, "distribute_strategy", None)
    if not _is_multi_worker(strategy):
        return False
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if not getattr(tf_trainer.reduce_per_replica, "dlkeras_patched", False):
        tf_trainer.reduce_per_replica = _scalar_safe_reduce_per_replica(
            tf_trainer.reduce_per_replica)

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = _local_batch(strategy, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = maybe_symbolic_build
    return True
