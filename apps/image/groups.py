"""Layer groups of an image model: the backbone's two body groups, then the head.

fastai trains a pretrained body in two groups (early and late layers) plus the
new head, with learning rates rising from early to late; ``fine_tune`` freezes
every group but the head first.
"""


def image_layer_groups(backbone, head):
    """Returns ``dlkeras.LayerGroups``: ``backbone.body_groups`` then the head.

    Args:
        backbone: object with ``body_groups``, a list of ``(name, layers)``
            (earliest first).
        head: the head sub-model; it forms the last group, named ``"head"``.

    Example:
    >>> groups = image_layer_groups(bb, head)  # doctest: +SKIP
    >>> groups.names  # doctest: +SKIP
    ['body_early', 'body_late', 'head']
    """
    from dlkeras.layer_groups import LayerGroup, LayerGroups

    body_groups = list(backbone.body_groups)
    if not body_groups:
        raise ValueError(f"Backbone {getattr(backbone, 'name', backbone)!r} has no body groups.")
    groups = []
    for name, layers in body_groups:
        if not layers:
            raise ValueError(f"Backbone body group {name!r} has no layers.")
        groups.append(LayerGroup(name, list(layers)))
    groups.append(LayerGroup("head", [head]))
    return LayerGroups(groups)
