"""A small fine_tune run for the resume test: `python resume_run.py OUT_DIR [KILL_AT_STEP] [image]`.

With `image`, the run is the image app's recipe on a tiny backbone with its
random augmentation on (6 steps an epoch, one frozen epoch, two unfrozen).

Killed with SIGKILL by itself after optimizer step KILL_AT_STEP (as a crash
or `kill -9` would), it leaves its checkpoints in OUT_DIR/checkpoint; run
again, it resumes from them. When it finishes it writes OUT_DIR/weights.npz.
"""
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import dlkeras  # noqa: E402
from dlkeras.data import training_batches  # noqa: E402


class KillAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main(out_dir, kill_at=None):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1)) + 0.1 * rng.normal(size=(96, 1))).astype("float32")
    inputs = keras.Input((6,))
    h = keras.layers.Dense(16, activation="relu", name="early")(inputs)
    h = keras.layers.BatchNormalization(name="norm")(h)
    h = keras.layers.Dropout(0.2, name="drop")(h)
    h = keras.layers.Dense(16, activation="relu", name="middle")(h)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
    groups = dlkeras.LayerGroups.split(model, ["middle", "head"], names=["early", "middle", "head"])
    model.compile(optimizer=dlkeras.discriminative_optimizer(groups, dlkeras.ScheduledAdamW()),
                  loss="mse")
    stream = training_batches(x, y, 16, seed=7)  # 6 steps an epoch
    callbacks = [KillAt(kill_at)] if kill_at else []
    dlkeras.fine_tune(model, stream, epochs=3, layer_groups=groups, lr_max=1e-2,
                      freeze_epochs=2, checkpoint_dir=os.path.join(out_dir, "checkpoint"),
                      checkpoint_every=2, callbacks=callbacks, verbose=0)
    np.savez(os.path.join(out_dir, "weights.npz"), *model.get_weights())


def image_main(out_dir, kill_at=None):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from apps.image import data
    from apps.image.task import ImageTask

    from test_image_support import stripes, tiny_backbone

    images, labels = stripes(96, size=16, seed=1)
    source = data.from_arrays(images, labels, class_names=["horizontal", "vertical"])
    backbone = tiny_backbone(seed=2)
    keras.utils.set_random_seed(0)
    task = ImageTask.from_source(source, backbone, size=16, batch_size=16, hidden_units=8,
                                 dropout=0.1, augment=True, seed=3)
    callbacks = [KillAt(kill_at)] if kill_at else []
    task.train(source, epochs=2, lr_max=1e-2, freeze_epochs=1,
               checkpoint_dir=os.path.join(out_dir, "checkpoint"), checkpoint_every=2,
               callbacks=callbacks, verbose=0)
    np.savez(os.path.join(out_dir, "weights.npz"), *task.network.get_weights())


if __name__ == "__main__":
    kill = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "0" else None
    (image_main if sys.argv[3:] == ["image"] else main)(sys.argv[1], kill)
