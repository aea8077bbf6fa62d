"""`ImageTask`: a pretrained backbone with the fastai head, fine-tuned the fastai way.

The network takes float32 RGB pixels in 0..255 at any size (each
backbone's preprocessing is inside it); the layer groups are the
backbone's two body groups and the head, and the recipe is `fine_tune`
(frozen body first, then everything with discriminative rates). Training,
saving and exporting come from `dlkeras.tasks.Task`.

The SavedModel serves `serving_default(image_bytes)` (JPEG/PNG/BMP/GIF) and
`serve_pixels(pixels)` (uint8, any size), both returning `outputs` and
`class_names`.

Example:

>>> import numpy as np
>>> from apps.image import data
>>> from dlkeras.backbones import create_backbone
>>> source = data.from_arrays(np.random.randint(0, 255, (16, 32, 32, 3)), [0, 1] * 8)
>>> backbone = create_backbone("mobilenet_v3_small", weights=None, input_shape=(None, None, 3))
>>> task = ImageTask.from_source(source, backbone, size=32, hidden_units=8, batch_size=8)
>>> task.layer_groups.names
['body_early', 'body_late', 'head']
>>> task.predict(np.zeros((2, 40, 40, 3), "uint8")).shape
(2, 2)
"""

__all__ = ["ImageTask"]

import numpy as np
import tensorflow as tf

from apps.image.data import ImageSource, checked_pixels
from apps.image.files import read_error
from apps.image.headers import DEFAULT_MAX_PIXELS
from apps.image.model import build_image_model, loss_and_metrics
from apps.image.pipeline import (
    decode_image_file,
    default_augmentation,
    make_dataset,
    to_model_pixels,
)
from apps.image.serving import serving_functions
from apps.image.shards import decoded_batches
from dlkeras.shards import ShardedTable
from dlkeras.tasks import Task


class ImageTask(Task):
    """An image classifier (single- or multi-label) or regressor on a pretrained backbone.

    Build one with `ImageTask.from_source`; `Task.load` reloads a run folder.
    Metadata: `target_type` ("single_label", "multi_label", "regression"),
    `class_names`, `size` (the square side images are resized to),
    `backbone` (registry name), `backbone_layer` (the nested backbone model's
    name), `last_conv_layer` (for Grad-CAM), `augment`, `flip`, `batch_size`,
    `name`.
    """

    recipe = "fine_tune"
    default_lr_max = 2e-3  # fastai's fine_tune base rate
    # TensorFlow's fused Adam kernel, one op a variable: a backbone has hundreds of variables,
    # so Lite0's train step traced in 2.78 s instead of 4.50 s and stepped ~6 % faster on this
    # project's CPU (64 px, `benchmarks/first_epoch.py`; figures in `docs/benchmarks.md`).
    adam_options = {"fused": True}

    def __init__(self, network, layer_groups=None, metadata=None):
        super().__init__(network, layer_groups, metadata)
        self._augmentation = None

    @classmethod
    def from_source(cls, source, backbone="efficientnet_lite0", *, weights="imagenet", size=128,
                    hidden_units=512, dropout=0.5, augment=True, flip=True, batch_size=None,
                    weight_decay=0.01, name="image", seed=None):
        """Builds the model for `source`'s classes and compiles it for fine-tuning.

        Args:
            source: the training `ImageSource` (gives the target type and names).
            backbone: a registry name (`dlkeras.backbones.list_backbones()`) or a
                ready backbone object (`dlkeras.backbones.Backbone`).
            weights: `"imagenet"`, a weights file, or None (random), for a name.
            size: side of the square images fed to the model.
            hidden_units: width of the head's hidden layer (0 for none).
            dropout: the head's dropout.
            augment: flip/rotate/zoom/contrast the training images.
            flip: include horizontal flips (off for digits and text).
            batch_size: images per step (default 32).
            weight_decay: AdamW decoupled weight decay.
            name: model name for exports.
            seed: seed of the augmentation (a batch's draws are a function of it and
                the batch's position in the training stream).
        """
        if isinstance(backbone, str):
            from dlkeras.backbones import create_backbone

            backbone = create_backbone(backbone, weights=weights, input_shape=(None, None, 3))
        network, groups = build_image_model(backbone, source.class_names, task=source.task,
                                            hidden_units=hidden_units, dropout=dropout)
        metadata = {"name": name, "target_type": source.task,
                    "class_names": list(source.class_names), "size": int(size),
                    "backbone": getattr(backbone, "name", None),
                    "backbone_layer": backbone.model.name,
                    "last_conv_layer": backbone.last_conv_layer_name,
                    "augment": bool(augment), "flip": bool(flip),
                    "batch_size": int(batch_size or 32), "weight_decay": float(weight_decay),
                    "seed": seed}
        task = cls(network, layer_groups=groups, metadata=metadata)
        return task.compile()

    @property
    def class_names(self):
        return self.metadata["class_names"]

    @property
    def target_type(self):
        return self.metadata["target_type"]

    @property
    def size(self):
        return self.metadata["size"]

    @property
    def max_serving_pixels(self):
        """The largest height x width served (`metadata["max_serving_pixels"]`, default 40 MP)."""
        return int(self.metadata.get("max_serving_pixels", DEFAULT_MAX_PIXELS))

    @property
    def backbone_model(self):
        """The nested backbone model (raw pixels to the last feature map)."""
        return self.network.get_layer(self.metadata["backbone_layer"])

    @property
    def head(self):
        return self.network.get_layer("head")

    # --- Declarations ---------------------------------------------------------

    def loss_and_metrics(self):
        return loss_and_metrics(self.target_type)

    def make_dataset(self, data, *, training, batch_size, seed=None):
        if not isinstance(data, (ImageSource, ShardedTable)):
            raise TypeError("ImageTask takes an apps.image.data.ImageSource or a "
                            f"dlkeras.shards.ShardedTable. Received: {type(data).__name__}")
        augmentation = None
        if training and self.metadata.get("augment", True):
            if self._augmentation is None:
                self._augmentation = default_augmentation(flip=self.metadata.get("flip", True),
                                                          seed=self.metadata.get("seed"))
            augmentation = self._augmentation
        if isinstance(data, ShardedTable):  # larger than memory: apps.image.shards
            return decoded_batches(data, self.size, training=training, batch_size=batch_size,
                                   seed=seed, augmentation=augmentation)
        return make_dataset(data, self.size, batch_size, training=training,
                            augmentation=augmentation, seed=42 if seed is None else seed)

    def prepare_inputs(self, inputs):
        """Image files (paths), uint8 pixels `(N, H, W, C)`, or an `ImageSource`, as model pixels."""
        if isinstance(inputs, ImageSource):
            return make_dataset(inputs, self.size, 64).map(lambda x, _: x)
        if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str):
            return tf.data.Dataset.from_tensor_slices(list(inputs)).map(
                lambda path: decode_image_file(path, self.size)).batch(64)
        pixels = checked_pixels(inputs)
        if pixels.ndim == 3:
            pixels = pixels[..., None]
        if pixels.ndim != 4 or pixels.shape[-1] not in (1, 3):
            raise ValueError(f"Pixels must have shape (N, H, W), (N, H, W, 1) or (N, H, W, 3). "
                             f"Received: shape={pixels.shape}")
        return to_model_pixels(pixels, self.size)

    def serving_endpoints(self):
        from_bytes, from_pixels = serving_functions(self.network, self.size, self.class_names,
                                                    self.max_serving_pixels)
        return {"serving_default": from_bytes, "serve_pixels": from_pixels}

    def serving_examples(self):
        pixels = np.random.default_rng(0).integers(0, 256, (2, 20, 30, 3), dtype=np.uint8)
        encoded = [tf.io.encode_png(image).numpy() for image in pixels]
        return {"serving_default": {"image_bytes": tf.constant(encoded)},
                "serve_pixels": {"pixels": tf.constant(pixels)}}

    # --- Friendly outputs -----------------------------------------------------

    def predict_files(self, paths, top_k=3):
        """`(path, [(class, score), ...])` per file, best first; `(path, "error: ...")` if unreadable."""
        results, readable = [], []
        for path in paths:
            reason = read_error(str(path), self.max_serving_pixels)
            results.append((str(path), f"error: {reason}" if reason else None))
            if reason is None:
                readable.append(str(path))
        outputs = iter(self.predict(readable) if readable else [])
        for index, (path, error) in enumerate(results):
            if error is None:
                scores = next(outputs)
                best = np.argsort(-scores, kind="stable")[:top_k]
                results[index] = (path, [(self.class_names[i], float(scores[i])) for i in best])
        return results

