"""Image app: fine-tune a pretrained backbone the fastai way and export it.

Data (:mod:`~apps.image.data`, :mod:`~apps.image.datasets`), model builder
(:mod:`~apps.image.model`), recipe (:mod:`~apps.image.train`), TTA and
interpretation, Grad-CAM, SavedModel export and the CLI
(``python -m apps.image --help``).
"""
