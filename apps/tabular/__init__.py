"""Tabular app: entity embeddings with preprocessing inside the model.

Example:
    >>> # from apps.tabular import TabularLearner, load_gss_wages
    >>> # learn = TabularLearner.from_df(load_gss_wages(), "high_income")
    >>> # learn.fit_one_cycle(5, lr_max=1e-2); learn.export("gss_wages")
"""
from apps.tabular.export import export_saved_model
from apps.tabular.gss import GSS_CAT_NAMES, GSS_CONT_NAMES, GSS_TARGET, load_gss_wages
from apps.tabular.interpret import (
    embedding_table,
    nearest_categories,
    permutation_importance,
    plot_embedding_projection,
)
from apps.tabular.layers import Categorify, FillMissing, PackedEmbeddings, ScaledSigmoid
from apps.tabular.learner import TabularLearner
from apps.tabular.network import build_network, emb_sz_rule
from apps.tabular.preprocessor import build_preprocessor
from apps.tabular.roles import ColumnRoles, infer_roles

__all__ = [
    "Categorify", "ColumnRoles", "FillMissing", "GSS_CAT_NAMES", "GSS_CONT_NAMES", "GSS_TARGET",
    "PackedEmbeddings", "ScaledSigmoid", "TabularLearner", "build_network", "build_preprocessor",
    "emb_sz_rule", "embedding_table", "export_saved_model", "infer_roles", "load_gss_wages",
    "nearest_categories", "permutation_importance", "plot_embedding_projection",
]
