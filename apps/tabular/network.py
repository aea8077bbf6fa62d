"""The learning half of a tabular model: entity embeddings plus an MLP.

Each categorical column gets its own embedding table, sized by
`dlkeras.layers.emb_sz_rule` (all tables packed in one `PackedEmbeddings`
layer named "embeddings"); embeddings go through dropout, continuous
features through BatchNorm, and the concatenation through
`Dense -> ReLU -> BN -> Dropout` blocks into a task head.
"""
from __future__ import annotations

__all__ = ["build_network"]

import keras

from apps.tabular.layers import PackedEmbeddings
from dlkeras.layers import ScaledSigmoid, emb_sz_rule, embedding_sizes


def _fan_in_uniform():
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default `nn.Linear` init.

    The recipe's learning rate and weight decay were tuned with it (fastai);
    Keras' Glorot init is ~1.2x larger for these layer shapes.
    """
    return keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")


def _head(features, task: str, n_outputs: int, y_range):
    # float32 outputs whatever the dtype policy (mixed_bfloat16: probabilities
    # that sum to 1, a stable loss, a SavedModel that serves float32).
    init = _fan_in_uniform()
    if task == "binary":
        return keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init,
                                  dtype="float32", name="head")(features)
    if task == "multiclass":
        return keras.layers.Dense(n_outputs, activation="softmax", kernel_initializer=init,
                                  dtype="float32", name="head")(features)
    if task != "regression":
        raise ValueError(f"Unknown task. Received: task={task!r}")
    logits = keras.layers.Dense(n_outputs, kernel_initializer=init, dtype="float32",
                                name="head")(features)
    if y_range is None:
        return logits
    return ScaledSigmoid(*y_range, dtype="float32", name="y_range")(logits)


def _embed(categorical, cat_names, cards, sizes, embed_p):
    joined = PackedEmbeddings(cards, sizes, name="embeddings")(categorical)
    return keras.layers.Dropout(embed_p, name="embedding_dropout")(joined) if embed_p else joined


def build_network(cat_names, cards, n_continuous, *, task, n_outputs=1, layers=(200, 100),
                  ps=0.0, embed_p=0.0, use_bn=True, bn_cont=True, y_range=None,
                  emb_szs=None, rule=emb_sz_rule, bn_momentum=0.9,
                  bn_epsilon=1e-5) -> keras.Model:
    """Entity-embedding MLP on `{"categorical": ints, "continuous": floats}`.

    Args:
        cat_names: categorical column names (layer names come from them).
        cards: embedding rows per column (unknown and missing included).
        n_continuous: width of the continuous input (0 for none).
        task: "binary" (1 sigmoid unit), "multiclass" (softmax over `n_outputs`)
            or "regression" (`n_outputs` linear units, one per target).
        n_outputs: classes (multiclass) or targets (regression).
        layers: hidden widths of the MLP.
        ps: dropout after each hidden block; a float or one per layer.
        embed_p: dropout on the concatenated embeddings.
        use_bn: BatchNorm after each hidden block's activation.
        bn_cont: BatchNorm on the continuous input.
        y_range: `(low, high)` for a sigmoid-scaled regression output.
        emb_szs: `{column: width}` overrides of the rule.
        rule: embedding width as a function of cardinality.
        bn_momentum: moving-average momentum of every BatchNorm. 0.9 matches
            PyTorch's default (its momentum=0.1); Keras' 0.99 leaves the
            moving statistics far from the data after a few hundred steps.
        bn_epsilon: BatchNorm epsilon (PyTorch's 1e-5 rather than Keras' 1e-3).

    Example:

    >>> net = build_network(["c"], [5], 2, task="binary", layers=[8])
    >>> net.output_shape
    (None, 1)
    """
    ps = list(ps) if isinstance(ps, (list, tuple)) else [ps] * len(layers)
    if len(ps) != len(layers):
        raise ValueError(f"ps needs one dropout per layer ({len(layers)}). Received: ps={ps}")
    inputs, parts = {}, []
    if cat_names:
        inputs["categorical"] = keras.Input((len(cat_names),), dtype="int32", name="categorical")
        sizes = embedding_sizes(cat_names, cards, emb_szs, rule)
        parts.append(_embed(inputs["categorical"], cat_names, cards, sizes, embed_p))
    if n_continuous:
        inputs["continuous"] = keras.Input((n_continuous,), dtype="float32", name="continuous")
        cont = inputs["continuous"]
        if bn_cont:
            cont = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon,
                                                   name="bn_continuous")(cont)
        parts.append(cont)
    if not parts:
        raise ValueError("A tabular model needs at least one categorical or continuous column.")
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="features")(parts)
    for i, (width, p) in enumerate(zip(layers, ps)):
        x = keras.layers.Dense(width, activation="relu", use_bias=not use_bn,
                               kernel_initializer=_fan_in_uniform(), name=f"dense_{i}")(x)
        if use_bn:  # BN's offset makes a bias before it redundant
            x = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon,
                                                name=f"bn_{i}")(x)
        if p:
            x = keras.layers.Dropout(p, name=f"dropout_{i}")(x)
    return keras.Model(inputs, _head(x, task, n_outputs, y_range), name="network")
