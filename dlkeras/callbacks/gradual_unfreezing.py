"""ULMFiT's gradual unfreezing inside a single `fit`.

Example:

>>> import keras, numpy as np
>>> from dlkeras import LayerGroups, GradualUnfreezing
>>> x = np.random.rand(32, 4).astype("float32"); y = x.sum(axis=1)
>>> inputs = keras.Input((4,))
>>> hidden = keras.layers.Dense(4, name="a")(inputs)
>>> model = keras.Model(inputs, keras.layers.Dense(1, name="b")(hidden))
>>> model.compile(optimizer="adam", loss="mse")
>>> groups = LayerGroups.split(model, ["b"])
>>> _ = model.fit(x, y, epochs=2, callbacks=[GradualUnfreezing(groups)], verbose=0)
>>> len(model.trainable_variables)
4
"""

import keras

from dlkeras.freezing import build_optimizer_for_unfreezing, freeze_to


class GradualUnfreezing(keras.callbacks.Callback):
    """Trains only the last group in the first epoch, one more group each epoch after.

    The optimizer is built on every variable up front, so groups unfrozen
    later are updated from the epoch they join; the train function is
    rebuilt only at the epochs where the set of trainable groups changes.

    Args:
        layer_groups: `LayerGroups` of the model, earliest first.
        train_bn: keep normalization layers of frozen groups trainable.
        first_epoch: the epoch at which only the last group trained; default
            the first epoch of this fit (give it to resume mid-way).
    """

    def __init__(self, layer_groups, train_bn=True, first_epoch=None):
        super().__init__()
        if len(layer_groups) < 2:
            raise ValueError("Gradual unfreezing needs at least two layer groups.")
        self.layer_groups, self.train_bn, self.first_epoch = layer_groups, train_bn, first_epoch

    def on_train_begin(self, logs=None):
        build_optimizer_for_unfreezing(self.model)
        self._first_epoch, self._frozen = self.first_epoch, None

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch is None:
            self._first_epoch = epoch
        frozen = max(len(self.layer_groups) - 1 - (epoch - self._first_epoch), 0)
        if frozen != self._frozen:
            freeze_to(self.model, frozen, self.layer_groups, train_bn=self.train_bn)
            self._frozen = frozen
