"""Tabular app: entity embeddings with the preprocessing inside the model.

`TabularTask` (a `dlkeras.tasks.Task`) learns from a DataFrame; its
SavedModel takes raw columns. Command line: `python -m apps.tabular --help`.

Example:

>>> from apps.tabular import TabularTask  # loads TensorFlow on first use
>>> TabularTask.recipe
'fit_one_cycle'
"""
from apps import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "TabularTask": "apps.tabular.task",
    "ColumnRoles": "apps.tabular.roles",
    "infer_roles": "apps.tabular.roles",
    "load_gss_wages": "apps.tabular.gss",
    "GSS_CAT_NAMES": "apps.tabular.gss",
    "GSS_CONT_NAMES": "apps.tabular.gss",
    "GSS_TARGET": "apps.tabular.gss",
    "Categorify": "apps.tabular.layers",
    "FillMissing": "apps.tabular.layers",
    "PackedEmbeddings": "apps.tabular.layers",
    "build_network": "apps.tabular.network",
    "fit_preprocessing": "apps.tabular.preprocessor",
    "build_preprocessor": "apps.tabular.preprocessor",
    "embedding_table": "apps.tabular.interpret",
    "nearest_categories": "apps.tabular.interpret",
    "permutation_importance": "apps.tabular.interpret",
    "plot_embedding_projection": "apps.tabular.interpret",
})
