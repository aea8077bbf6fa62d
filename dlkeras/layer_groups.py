"""Layer groups: ordered, named sets of layers for discriminative learning rates.

A model is cut into groups from its input side to its head. Each group gets
its own learning rate (earlier layers learn slower) and is frozen or
unfrozen as a unit.

Example:

>>> import keras
>>> from dlkeras.layer_groups import LayerGroups, even_mults
>>> inputs = keras.Input((4,))
>>> x = keras.layers.Dense(8, name="body")(inputs)
>>> outputs = keras.layers.Dense(1, name="head")(x)
>>> model = keras.Model(inputs, outputs)
>>> groups = LayerGroups.split(model, ["head"], names=["body", "head"])
>>> groups.names
['body', 'head']
>>> [round(v, 6) for v in even_mults(1e-4, 1e-2, 3)]
[0.0001, 0.001, 0.01]
"""

import math
import re

import keras

from dlkeras.keras_internals import sublayers, variables_created_trainable


def trainable_capable_variables(layers):
    """Variables of `layers` (and their sublayers) created trainable, in `weights` order.

    Keras flips `variable.trainable` when a layer is frozen, but keeps the
    variable in its layer's `_trainable_variables`; that list says which
    variables would train once everything is unfrozen. The order is the one
    of `layer.weights`, which is also `model.trainable_variables`' order once
    everything is unfrozen: Keras builds a reloaded model's optimizer in that
    order, so ours must build in it too for checkpoints to line up.
    """
    capable = {id(v) for layer in layers
               for sub in sublayers(layer)
               for v in variables_created_trainable(sub)}
    seen, result = set(), []
    for layer in layers:
        for variable in layer.weights:
            if id(variable) in capable and id(variable) not in seen:
                seen.add(id(variable))
                result.append(variable)
    return result


class LayerGroup:
    """A named list of layers that train at one learning rate.

    Args:
        name: the group's name; used to name its optimizer and its logs.
        layers: the `keras.layers.Layer`s in the group (nested models allowed).
    """

    def __init__(self, name, layers):
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(
                "A layer group's name must be an identifier (letters, digits, _). "
                f"Received: name={name!r}")
        layers = list(layers)
        if not layers:
            raise ValueError(f"Layer group {name!r} has no layers.")
        for layer in layers:
            if not isinstance(layer, keras.layers.Layer):
                raise TypeError(
                    f"Layer group {name!r} holds a non-layer object: {layer!r}")
        self.name = name
        self.layers = layers

    def variables(self):
        """All variables of the group's layers that can ever be trained."""
        return trainable_capable_variables(self.layers)

    def path_pattern(self):
        """A regex matching exactly the paths of this group's trainable variables."""
        paths = sorted({v.path for v in self.variables()})
        if not paths:
            return None
        return "(?:" + "|".join(re.escape(p) for p in paths) + ")"

    def __repr__(self):
        return f"LayerGroup({self.name!r}, {len(self.layers)} layers)"


class LayerGroups:
    """An ordered sequence of `LayerGroup`s, earliest layers first, head last.

    Args:
        groups: list of `LayerGroup`; names must be unique and no layer may
            sit in two groups.
    """

    def __init__(self, groups):
        groups = list(groups)
        if not groups:
            raise ValueError("LayerGroups needs at least one group.")
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise ValueError(f"Layer group names must be unique. Received: {names}")
        owner = {}
        for group in groups:
            for variable in group.variables():
                if variable.path in owner and owner[variable.path] != group.name:
                    raise ValueError(
                        f"Variable {variable.path!r} is in two layer groups: "
                        f"{owner[variable.path]!r} and {group.name!r}.")
                owner[variable.path] = group.name
        self._groups = groups

    @property
    def names(self):
        return [g.name for g in self._groups]

    def __len__(self):
        return len(self._groups)

    def __iter__(self):
        return iter(self._groups)

    def __getitem__(self, key):
        if isinstance(key, str):
            for group in self._groups:
                if group.name == key:
                    return group
            raise KeyError(f"No layer group named {key!r}; groups are {self.names}.")
        return self._groups[key]

    def __repr__(self):
        return f"LayerGroups({self.names})"

    def to_config(self, model):
        """A JSON-able description of the groups by layer paths inside `model`.

        A path lists layer names from `model` down to the layer (nested models
        included); the empty path is `model` itself. `from_config` turns the
        description back into groups of a (reloaded) copy of the model.
        """
        config = []
        for group in self._groups:
            paths = [_layer_path(model, layer) for layer in group.layers]
            if None in paths:
                missing = group.layers[paths.index(None)]
                raise ValueError(f"Layer {missing.name!r} of group {group.name!r} is not inside "
                                 f"model {model.name!r}.")
            config.append({"name": group.name, "layers": paths})
        return config

    @classmethod
    def from_config(cls, model, config):
        """The groups described by `to_config`, resolved in `model`."""
        groups = []
        for entry in config:
            layers = []
            for path in entry["layers"]:
                layer = model
                for name in path:
                    try:
                        layer = layer.get_layer(name)
                    except (ValueError, AttributeError):
                        raise ValueError(
                            f"Layer group {entry['name']!r} names layer path {path}, which is "
                            f"not in model {model.name!r}.") from None
                layers.append(layer)
            groups.append(LayerGroup(entry["name"], layers))
        return cls(groups)

    @classmethod
    def split(cls, model, boundaries, names=None):
        """Cuts `model.layers` into groups at the named boundary layers.

        Args:
            model: a functional or sequential `keras.Model`.
            boundaries: names of layers that each start a new group, in order.
            names: optional group names (`len(boundaries) + 1`); default
                `group_0`, `group_1`, ...

        Returns:
            `LayerGroups` with `len(boundaries) + 1` groups.
        """
        layers = [item for item in model.layers if not isinstance(item, keras.layers.InputLayer)]
        by_name = [item.name for item in layers]
        cuts = []
        for boundary in boundaries:
            if boundary not in by_name:
                raise ValueError(
                    f"Boundary layer {boundary!r} is not a layer of model "
                    f"{model.name!r}. Its layers are: {by_name}")
            cuts.append(by_name.index(boundary))
        if cuts != sorted(set(cuts)) or (cuts and cuts[0] == 0):
            raise ValueError(
                "Boundaries must be distinct, in model order, and not the first "
                f"layer. Received: boundaries={list(boundaries)}")
        names = list(names) if names is not None else [
            f"group_{i}" for i in range(len(cuts) + 1)]
        if len(names) != len(cuts) + 1:
            raise ValueError(
                f"Expected {len(cuts) + 1} group names for {len(cuts)} boundaries. "
                f"Received: names={names}")
        edges = [0] + cuts + [len(layers)]
        return cls([LayerGroup(n, layers[a:b]) for n, a, b in zip(names, edges, edges[1:])])


def _layer_path(model, target):
    """Names from `model` down to `target` through nested models' `.layers`."""
    if target is model:
        return []
    for layer in getattr(model, "layers", []):
        if layer is target:
            return [layer.name]
        if getattr(layer, "layers", None):
            inner = _layer_path(layer, target)
            if inner is not None:
                return [layer.name] + inner
    return None


def even_mults(lo, hi, n):
    """`n` values spread geometrically from `lo` to `hi` (fastai's `even_mults`)."""
    if not (lo > 0 and hi > 0):
        raise ValueError(f"Learning rates must be positive. Received: lo={lo}, hi={hi}")
    if n == 1:
        return [float(hi)]
    step = (hi / lo) ** (1.0 / (n - 1))
    return [float(lo * step**i) for i in range(n)]


def spread_learning_rates(lr, n):
    """One learning rate per group from a float, a `(lo, hi)` pair, or a list.

    A float gives every group the same rate; `(lo, hi)` spreads them
    geometrically (earliest group `lo`, head `hi`); a list of `n` is used
    as is.
    """
    if isinstance(lr, (int, float)) and not isinstance(lr, bool):
        rates = [float(lr)] * n
    elif isinstance(lr, (tuple, slice)):
        if isinstance(lr, tuple) and len(lr) != 2:
            raise ValueError("A tuple of learning rates is a (lo, hi) pair to spread; give one "
                             f"rate per group as a list. Received: lr={lr!r}")
        lo, hi = (lr.start, lr.stop) if isinstance(lr, slice) else lr
        if lo is None:
            lo = hi / 10.0
        rates = even_mults(float(lo), float(hi), n)
    elif isinstance(lr, list):
        if len(lr) != n:
            raise ValueError(
                f"Got {len(lr)} learning rates for {n} layer groups. Received: lr={lr}")
        rates = [float(r) for r in lr]
    else:
        raise TypeError(
            "Learning rate must be a float, a (lo, hi) tuple or a list. "
            f"Received: {lr!r}")
    for rate in rates:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"Learning rates must be positive and finite. Received: {lr!r}")
    return rates
