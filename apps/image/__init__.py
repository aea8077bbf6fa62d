"""Image app: fine-tune a pretrained backbone the fastai way and export it.

`ImageTask` (a `dlkeras.tasks.Task`): data from folders, CSVs and arrays
(`apps.image.data`), the fastai head (`apps.image.heads`), TTA,
interpretation and Grad-CAM, and a SavedModel serving encoded image bytes.
Command line: `python -m apps.image --help`.

Example:

>>> from apps.image import ImageTask  # loads TensorFlow on first use
>>> ImageTask.recipe
'fine_tune'
"""
from apps import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "ImageTask": "apps.image.task",
    "ImageSource": "apps.image.data",
    "from_arrays": "apps.image.data",
    "from_csv": "apps.image.data",
    "from_dataframe": "apps.image.data",
    "from_folder": "apps.image.data",
    "load_fashion_mnist": "apps.image.datasets",
    "load_mnist_5k": "apps.image.datasets",
    "build_head": "apps.image.heads",
    "build_image_model": "apps.image.model",
    "grad_cam": "apps.image.gradcam",
    "tta_predict": "apps.image.tta",
})
