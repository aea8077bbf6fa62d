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

__getattr__, __dir__ = lazy_exports(__package__, [
    "task", "data", "datasets", "heads", "model", "gradcam", "tta"])
