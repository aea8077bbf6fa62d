"""How wide an entity embedding should be (fastai's rule), per column.

Example:

>>> embedding_sizes(["a", "b"], [10, 100], {"b": 3})
[6, 3]
"""


def emb_sz_rule(n_categories):
    """Embedding width for a vocabulary of `n_categories` (fastai's rule of thumb).

    `min(600, round(1.6 * n ** 0.56))`: grows sub-linearly with the
    vocabulary and is capped so huge vocabularies stay affordable.

    Example:

    >>> emb_sz_rule(2), emb_sz_rule(10), emb_sz_rule(100000)
    (2, 6, 600)
    """
    if int(n_categories) < 1:
        raise ValueError(f"`n_categories` must be >= 1. Received: n_categories={n_categories!r}")
    return min(600, round(1.6 * int(n_categories) ** 0.56))


def embedding_sizes(names, cardinalities, overrides=None, rule=emb_sz_rule):
    """Width per named vocabulary: `overrides[name]` where given, else `rule(cardinality)`.

    Args:
        names: one name per vocabulary (e.g. categorical column names).
        cardinalities: rows of each embedding table.
        overrides: `{name: width}` for the vocabularies that need another width.
        rule: width as a function of cardinality.

    Returns:
        A list of ints, one per name.

    Example:

    >>> embedding_sizes(["colour"], [4])
    [3]
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise KeyError(f"Embedding sizes given for {unknown}, which are not among {list(names)}.")
    if len(names) != len(cardinalities):
        raise ValueError(f"{len(names)} names but {len(cardinalities)} cardinalities.")
    return [int(overrides.get(name, rule(card))) for name, card in zip(names, cardinalities)]
