"""The legacy checkpoint reader against malformed files: clear errors, never a crash or stray bytes.

The reader runs in a fresh process (it needs only numpy, so it is loaded on
its own, without TensorFlow) under a 1 GiB address-space limit, so a
segmentation fault, an out-of-bounds read or a huge allocation fails the
test instead of killing pytest. Expected outcomes come from a plain-Python
rule written here, not from the reader.
"""

import itertools
import json
import pathlib
import pickle
import struct
import subprocess
import sys

import numpy as np

from dlkeras.backbones.torch_checkpoint import LEGACY_MAGIC_NUMBER

READER = (pathlib.Path(__file__).resolve().parent.parent / "dlkeras" / "backbones"
          / "torch_checkpoint.py")
DTYPES = {"FloatStorage": "<f4", "LongStorage": "<i8", "HalfStorage": "<f2", "ByteStorage": "u1"}
EXTREMES = [-(2 ** 63), -(2 ** 31), -1, 0, 1, 2, 3, 5, 2 ** 31 - 1, 2 ** 31, 2 ** 40, 2 ** 63 - 1]

WORKER = r"""
import importlib.util, json, os, resource, sys, tempfile
import numpy as np
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
spec = importlib.util.spec_from_file_location("torch_checkpoint", sys.argv[1])
reader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reader)
cases = json.load(open(sys.argv[2]))
path = os.path.join(tempfile.mkdtemp(), "case.pth")
for index in range(int(sys.argv[3]), len(cases)):
    print(json.dumps({"start": index}), flush=True)
    with open(path, "wb") as handle:
        handle.write(bytes.fromhex(cases[index]))
    try:
        state = reader.read_torch_state_dict(path)
        result = {"ok": {name: [list(a.shape), a.dtype.str, a.ravel().tolist()]
                         for name, a in state.items()}}
    except (reader.CheckpointFormatError, reader.UnsafeCheckpointError) as error:
        result = {"clean": f"{type(error).__name__}: {error}"}
    except BaseException as error:
        result = {"other": f"{type(error).__name__}: {error}"[:300]}
    print(json.dumps({"index": index, **result}), flush=True)
"""


def _int(value):
    if -(2 ** 31) <= value < 2 ** 31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data  # LONG1


def _text(value):
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _global(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def _tensor(key, storage_type, numel, offset, shape, stride):
    """Opcodes of `_rebuild_tensor_v2(<storage pid>, offset, shape, stride, False, {})`."""
    pid = (b"(" + _text("storage") + _global("torch", storage_type) + _text(key) + _text("cpu")
           + _int(numel) + b"Nt" + b"Q")
    return (_global("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + _int(offset)
            + b"(" + b"".join(map(_int, shape)) + b"t(" + b"".join(map(_int, stride)) + b"t"
            + b"\x89" + _global("collections", "OrderedDict") + b")R" + b"tR")


def build(spec):
    """The bytes of a legacy checkpoint described by `spec` (see `valid_spec`)."""
    header = b"".join(pickle.dumps(o, protocol=2) for o in (
        spec["magic"], spec["protocol"], spec["sys_info"]))
    state = b"\x80\x02" + _global("collections", "OrderedDict") + b")R("
    for name, key, storage_type, numel, offset, shape, stride in spec["tensors"]:
        state += _text(name) + _tensor(key, storage_type, numel, offset, shape, stride)
    state += b"u."
    raw = b"".join(struct.pack("<q", count) + data for count, data in spec["raw"])
    return header + state + pickle.dumps(spec["keys"], protocol=2) + raw


def expected(spec):
    """`{name: (shape, values)}` a correct reader returns, or None where it must refuse."""
    if (spec["magic"] != LEGACY_MAGIC_NUMBER or spec["protocol"] != 1001
            or not isinstance(spec["sys_info"], dict)
            or spec["sys_info"].get("little_endian") is not True):
        return None
    declared = {}
    for _, key, storage_type, numel, offset, shape, stride in spec["tensors"]:
        if min([offset, numel, *shape, *stride]) < 0 or len(shape) != len(stride):
            return None
        if declared.setdefault(key, (storage_type, numel)) != (storage_type, numel):
            return None
    keys = spec["keys"]
    if (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)
            or len(set(keys)) != len(keys) or set(keys) != set(declared)):
        return None
    storages = {}
    for key, (count, data) in zip(keys, spec["raw"]):
        storage_type, numel = declared[key]
        itemsize = np.dtype(DTYPES[storage_type]).itemsize
        if count != numel or len(data) != numel * itemsize:
            return None
        storages[key] = np.frombuffer(data, DTYPES[storage_type])
    if len(spec["raw"]) != len(keys):
        return None
    result = {}
    for name, key, _, numel, offset, shape, stride in spec["tensors"]:
        size = int(np.prod(shape, dtype=object)) if shape else 1
        last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
        if size and (size > numel or last >= numel):
            return None
        values = [storages[key][offset + sum(i * s for i, s in zip(index, stride))].item()
                  for index in itertools.product(*map(range, shape))]
        result[name] = (list(shape), values)
    return result


def valid_spec(rng):
    """A small well-formed checkpoint: 1-3 storages, 1-4 tensors viewing them."""
    storages = {}
    for index in range(int(rng.integers(1, 4))):
        storage_type = str(rng.choice(list(DTYPES)))
        values = rng.integers(-50, 50, int(rng.integers(1, 40))).astype(DTYPES[storage_type])
        storages[f"k{index}"] = (storage_type, values)
    tensors = []
    for index in range(int(rng.integers(1, 5))):
        key = str(rng.choice(list(storages)))
        storage_type, values = storages[key]
        shape, stride, offset = _view_inside(rng, values.size)
        tensors.append((f"t{index}", key, storage_type, values.size, offset, shape, stride))
    used = [key for key in storages if any(t[1] == key for t in tensors)]
    return {"magic": LEGACY_MAGIC_NUMBER, "protocol": 1001,
            "sys_info": {"protocol_version": 1001, "little_endian": True},
            "tensors": tensors, "keys": used,
            "raw": [(storages[k][1].size, storages[k][1].tobytes()) for k in used]}


def _view_inside(rng, numel):
    """A contiguous, transposed or sliced view that fits `numel` elements."""
    rank = int(rng.integers(0, 3))
    shape = [int(rng.integers(1, 4)) for _ in range(rank)]
    while shape and np.prod(shape) > numel:
        shape[int(np.argmax(shape))] -= 1
    stride, step = [], 1
    for n in reversed(shape):
        stride.insert(0, step)
        step *= max(n, 1)
    if rank == 2 and rng.random() < 0.3:
        shape, stride = shape[::-1], stride[::-1]  # a transposed view
    extent = sum((n - 1) * s for n, s in zip(shape, stride))
    return tuple(shape), tuple(stride), int(rng.integers(0, numel - extent))


def mutate(spec, rng):
    """One structural change of a valid spec (a field set to a hostile value)."""
    spec = {**spec, "tensors": [list(t) for t in spec["tensors"]], "keys": list(spec["keys"]),
            "raw": list(spec["raw"])}
    tensor = spec["tensors"][int(rng.integers(len(spec["tensors"])))]
    kind = int(rng.integers(10))
    pick = int(rng.choice(EXTREMES)) if rng.random() < 0.6 else int(rng.integers(-3, 60))
    if kind == 0:
        tensor[4] = pick  # offset
    elif kind in (1, 2) and tensor[5]:
        position = int(rng.integers(len(tensor[5])))
        field = 5 if kind == 1 else 6  # a size or a stride
        tensor[field] = tuple(pick if i == position else v for i, v in enumerate(tensor[field]))
    elif kind == 3:
        tensor[6] = tensor[6] + (1,)  # rank mismatch
    elif kind == 4:
        tensor[3] = pick  # declared element count
    elif kind == 5:
        count, data = spec["raw"][0]
        cut = data[:int(rng.integers(len(data) + 1))]
        spec["raw"][0] = (pick if rng.random() < 0.5 else count, cut)
    elif kind == 6:
        spec["keys"] = _one_of(rng, [spec["keys"] * 2, spec["keys"][1:], spec["keys"] + ["zz"],
                                     3, "k0", [0], None])
    elif kind == 7:
        spec["sys_info"] = _one_of(rng, [["little_endian"], 3, "x", None,
                                         {"little_endian": False}, {"little_endian": 1}])
    elif kind == 8:
        tensor[2] = str(rng.choice([t for t in DTYPES if t != tensor[2]]))  # dtype conflict
    else:
        tensor[5] = tuple([2 ** 20] * len(tensor[5])) or (2 ** 27,)
        tensor[6] = (0,) * len(tensor[5])  # a zero-stride view of a huge shape
    spec["tensors"] = [tuple(t) for t in spec["tensors"]]
    return spec


def _one_of(rng, options):
    return options[int(rng.integers(len(options)))]


def run_cases(blobs, tmp_path):
    """Runs the reader on each file in a fresh process; `{index: outcome}` (crashes included)."""
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([blob.hex() for blob in blobs]))
    outcomes, start = {}, 0
    while start < len(blobs):
        done = subprocess.run([sys.executable, "-c", WORKER, str(READER), str(cases), str(start)],
                              capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
        started = None
        for line in done.stdout.splitlines():
            record = json.loads(line)
            if "start" in record:
                started = record["start"]
            else:
                outcomes[record["index"]] = record
        if done.returncode == 0:
            break
        outcomes[started] = {"crash": f"exit status {done.returncode}: {done.stderr[-300:]}"}
        start = started + 1
    return outcomes


def judge(spec_or_none, outcome):
    """None when the outcome is right, else why not."""
    if "crash" in outcome or "other" in outcome:
        return outcome.get("crash") or outcome["other"]
    want = expected(spec_or_none) if spec_or_none is not None else "unknown"
    if "clean" in outcome:
        return None if want is None or want == "unknown" else f"refused a valid file: {outcome}"
    if want is None:
        return f"read a file that must be refused: {list(outcome['ok'])}"
    if want == "unknown":
        return None
    got = {name: (shape, values) for name, (shape, _, values) in outcome["ok"].items()}
    return None if got == want else f"wrong values: {got} != {want}"


def test_hostile_views_are_refused_before_any_read(tmp_path):
    """Issue 12's four findings, each a clear error (they crashed, leaked or allocated before)."""
    base = {"magic": LEGACY_MAGIC_NUMBER, "protocol": 1001,
            "sys_info": {"protocol_version": 1001, "little_endian": True}, "keys": ["0"],
            "raw": [(4, np.arange(4, dtype="<f4").tobytes())]}
    views = {"negative stride (SIGSEGV)": (0, (4,), (-(2 ** 40),)),
             "small negative stride (stray heap bytes)": (0, (4,), (-1,)),
             "zero stride (2 GiB from 300 bytes)": (0, (2 ** 27,), (0,))}
    blobs = [build({**base, "tensors": [("w", "0", "FloatStorage", 4, *view)]})
             for view in views.values()]
    blobs.append(build({**base, "sys_info": ["not", "a", "dict"],
                        "tensors": [("w", "0", "FloatStorage", 4, 0, (4,), (1,))]}))
    assert all(len(blob) < 400 for blob in blobs)
    outcomes = run_cases(blobs, tmp_path)
    messages = [outcomes[i].get("clean") or outcomes[i] for i in range(len(blobs))]
    clean = [isinstance(m, str) and m.startswith("CheckpointFormatError") for m in messages]
    assert all(clean), messages
    assert "Negative tensor offset, size or stride" in messages[0]
    assert "does not fit its storage '0' of 4 elements" in messages[2]
    assert "system-info header is a list, not a dict" in messages[3]


def test_fuzzed_checkpoints_give_right_values_or_clear_errors(tmp_path):
    rng = np.random.default_rng(12)
    specs, blobs = [], []
    for index in range(360):
        spec = valid_spec(rng)
        spec = spec if index % 6 == 0 else mutate(spec, rng)
        specs.append(spec)
        blobs.append(build(spec))
    for index in range(240):  # byte-level damage: flipped bytes and truncations
        blob = bytearray(build(valid_spec(rng)))
        if index % 2:
            blob = blob[:int(rng.integers(len(blob)))]
        else:
            for position in rng.integers(0, len(blob), int(rng.integers(1, 5))):
                blob[position] = int(rng.integers(256))
        specs.append(None)
        blobs.append(bytes(blob))
    outcomes = run_cases(blobs, tmp_path)
    failures = {i: judge(specs[i], outcomes.get(i, {"crash": "no result"}))
                for i in range(len(blobs))}
    failures = {i: why for i, why in failures.items() if why}
    assert not failures, f"{len(failures)} of {len(blobs)} files: {list(failures.items())[:5]}"
    refused = sum("clean" in outcomes[i] for i in range(len(blobs)))
    assert 200 < refused < len(blobs) - 50  # both outcomes were exercised
