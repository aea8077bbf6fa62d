"""Layers that more than one app needs: output scaling and embedding sizes.

Example:

>>> from dlkeras.layers import ScaledSigmoid, emb_sz_rule
>>> emb_sz_rule(10)
6
"""

from dlkeras.layers.embedding_sizes import emb_sz_rule, embedding_sizes
from dlkeras.layers.scaled_sigmoid import ScaledSigmoid

__all__ = ["ScaledSigmoid", "emb_sz_rule", "embedding_sizes"]
