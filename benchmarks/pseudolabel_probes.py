"""Probes behind the pseudolabel benchmark's bounds (issue 11): online pseudo-labels and ceilings.

Not a recipe of the library: the measurements that decided what `benchmarks/pseudolabel.py`
reports about the reachable gain on Fashion-MNIST with 10 % of the labels (its docstring has the
figures). One run per call, seed `--seed`, the benchmark's `small_cnn` and data split:

- `--baseline`: labelled-only one-cycle training for `--epochs` passes of the labelled images
  (batch 64); with `--fraction 1.0` on every training label (the ceiling).
- otherwise an online, FixMatch-style student (Sohn et al., 2020): each step, the network labels
  `64 * --mu` unlabelled images with its own predictions (inference mode, or training mode with
  `--teacher training`) where at least `--threshold` confident, and trains on strongly augmented
  copies of them (rotation, zoom, shear, optional contrast/brightness, a `--cutout`-px square)
  next to 64 labelled images; as many steps as the baseline.

    flock /tmp/dlkeras-heavy.lock .venv/bin/python benchmarks/pseudolabel_probes.py --baseline
    .venv/bin/python benchmarks/pseudolabel_probes.py --teacher training --threshold 0.9
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

BATCH = 64


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--mu", type=int, default=2, help="unlabelled images per labelled one")
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--weight", type=float, default=1.0, help="weight of the unlabelled loss")
    parser.add_argument("--cutout", type=int, default=12)
    parser.add_argument("--teacher", default="inference", choices=["inference", "training"])
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--fraction", type=float, default=0.1, help="share of labels kept")
    parser.add_argument("--photometric", type=int, default=1, help="contrast/brightness: 1 or 0")
    args = parser.parse_args(argv)
    if not 0.0 < args.fraction <= 1.0:
        parser.error(f"--fraction must be in (0, 1]; got {args.fraction}")
    if args.fraction == 1.0 and not args.baseline:
        parser.error("--fraction 1.0 leaves no unlabelled images: use it with --baseline")
    if not 0.0 < args.threshold <= 1.0:
        parser.error(f"--threshold must be in (0, 1]; got {args.threshold}")
    for name in ("epochs", "mu", "width"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1; got {getattr(args, name)}")
    if not 0 <= args.cutout <= 28:
        parser.error(f"--cutout must be 0-28 pixels; got {args.cutout}")
    return args


def cutout(x, size, seed):
    """Zeroes one `size`-px square per image, centred at a random pixel."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    cy = tf.random.stateless_uniform([n], seed, 0, 28, dtype=tf.int32)
    cx = tf.random.stateless_uniform([n], seed + 1, 0, 28, dtype=tf.int32)
    ys, xs = tf.range(28)[None, :, None], tf.range(28)[None, None, :]
    inside = ((tf.abs(ys - cy[:, None, None]) <= size // 2)
              & (tf.abs(xs - cx[:, None, None]) <= size // 2))
    return tf.where(inside[..., None], tf.zeros_like(x), x)


def strong_augmentation(seed, size, photometric):
    import keras
    import tensorflow as tf

    class Strong(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            fill = dict(fill_mode="constant")
            self.steps = [keras.layers.RandomRotation(0.08, seed=seed, **fill),
                          keras.layers.RandomZoom(0.2, seed=seed + 1, **fill),
                          keras.layers.RandomShear(0.2, 0.2, seed=seed + 2, **fill)]
            if photometric:
                self.steps += [
                    keras.layers.RandomContrast(0.5, value_range=(0, 255), seed=seed + 3),
                    keras.layers.RandomBrightness(0.3, value_range=(0, 255), seed=seed + 4)]
            self.generator = keras.random.SeedGenerator(seed + 5)

        def call(self, x):
            x = tf.cast(x, "float32")
            for step in self.steps:
                x = step(x, training=True)
            pair = tf.cast(keras.random.randint([2], 0, 2**30, seed=self.generator), tf.int32)
            x = cutout(x, size, pair)
            return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), "uint8")

    return Strong()


def online_student(network, strong, threshold, weight, teacher):
    """The network inside a model whose `train_step` adds the online pseudo-label loss."""
    import keras
    import tensorflow as tf

    class OnlineStudent(keras.Model):
        def __init__(self):
            super().__init__()
            self.network, self.strong = network, strong
            self.per_example = keras.losses.SparseCategoricalCrossentropy(reduction=None)
            self.trackers = [keras.metrics.Mean("loss"),
                             keras.metrics.SparseCategoricalAccuracy("accuracy"),
                             keras.metrics.Mean("mask"), keras.metrics.Mean("loss_u")]

        def call(self, x, training=False):
            return self.network(x, training=training)

        @property
        def metrics(self):
            return self.trackers

        def train_step(self, data):
            labelled_x, labelled_y, unlabelled_x = data
            guess = tf.stop_gradient(self.network(unlabelled_x,
                                                  training=teacher == "training"))
            mask = tf.cast(tf.reduce_max(guess, -1) >= threshold, "float32")
            pseudo = tf.argmax(guess, -1)
            strong_x = self.strong(unlabelled_x)
            with tf.GradientTape() as tape:
                labelled_p = self.network(labelled_x, training=True)
                strong_p = self.network(strong_x, training=True)
                labelled_loss = tf.reduce_mean(self.per_example(labelled_y, labelled_p))
                unlabelled_loss = tf.reduce_mean(mask * self.per_example(pseudo, strong_p))
                loss = labelled_loss + weight * unlabelled_loss
            variables = self.network.trainable_variables
            self.optimizer.apply(tape.gradient(loss, variables), variables)
            for tracker, value in zip(self.trackers, (loss, None, mask, unlabelled_loss)):
                if value is None:
                    tracker.update_state(labelled_y, labelled_p)
                else:
                    tracker.update_state(value)
            return {m.name: m.result() for m in self.trackers}

    return OnlineStudent()


def main(argv=None):
    args = parse(argv)
    import tensorflow as tf
    from pseudolabel import image_data, small_cnn

    from dlkeras.optimizers import ScheduledAdamW
    from dlkeras.recipes import fit_one_cycle

    (xl, yl), xu, _, (xv, yv), _ = image_data(args.fraction, args.seed)
    steps = len(yl) // BATCH
    labelled = (tf.data.Dataset.from_tensor_slices((xl, yl)).repeat()
                .shuffle(len(yl), seed=args.seed).batch(BATCH, drop_remainder=True))
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    network = small_cnn(args.width, args.seed)
    if args.baseline:
        network.compile(optimizer=ScheduledAdamW(weight_decay=0.01),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        fit_one_cycle(network, labelled.prefetch(4), epochs=args.epochs, lr_max=args.lr,
                      steps_per_epoch=steps, verbose=0)
    else:
        unlabelled = (tf.data.Dataset.from_tensor_slices(xu).repeat()
                      .shuffle(20000, seed=args.seed + 1)
                      .batch(BATCH * args.mu, drop_remainder=True))
        stream = tf.data.Dataset.zip(labelled, unlabelled).map(
            lambda pair, x: (pair[0], pair[1], x)).prefetch(4)
        model = online_student(network, strong_augmentation(args.seed, args.cutout,
                                                             args.photometric),
                               args.threshold, args.weight, args.teacher)
        model.compile(optimizer=ScheduledAdamW(weight_decay=0.01))
        history = fit_one_cycle(model, stream, epochs=args.epochs, lr_max=args.lr,
                                steps_per_epoch=steps, verbose=0)
        print("confident share every 5 epochs",
              [round(v, 3) for v in history.history["mask"][::5]], flush=True)
    accuracy = float((network.predict(xv, batch_size=1024, verbose=0).argmax(-1) == yv).mean())
    print(json.dumps({"args": vars(args), "accuracy": accuracy,
                      "wall_s": time.perf_counter() - started,
                      "load": [load_before, os.getloadavg()[0]]}), flush=True)


if __name__ == "__main__":
    main()
