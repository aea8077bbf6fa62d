"""Fuzz cases of the image app's signatures: `serving_default` (bytes) and `serve_pixels`.

The fuzzed export has a 64x64 pixel budget (`max_serving_pixels=4096`), so
over-budget inputs stay cheap to generate; the code path is the default
40-megapixel one. A valid answer equals the in-memory network on the image
TensorFlow's own decoder gives (`tf.io.decode_image`, first frame), within
1e-4, with probabilities that sum to 1 and the class names in every row.
"""
import io
import struct

import numpy as np

from benchmarks.fuzz_serving import Case, Signature

SIZE, BUDGET, CLASSES = 32, 64 * 64, ["cat", "dog", "emu"]
FORMATS = [("PNG", {}), ("JPEG", {"quality": 90}), ("GIF", {}), ("BMP", {}),
           ("WEBP", {"lossless": True}), ("WEBP", {"quality": 80})]
OVER = ("over the serving budget of 4096 pixels",)


def random_image(rng, height=None, width=None):
    """A random RGB image (random sides up to 64 unless given): noise, a flat colour or a ramp."""
    height = height or int(rng.integers(1, 65))
    width = width or int(rng.integers(1, 65))
    style = int(rng.integers(3))
    if style == 0:
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if style == 1:
        return np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (height, width, 3)).copy()
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    return np.broadcast_to(ramp, (height, width, 3)).astype(np.uint8)


def encode(pixels, rng, animated=False):
    """`pixels` in a random format and PIL mode (an animated GIF of 2-4 frames when asked)."""
    from PIL import Image

    fmt, options = ("GIF", {}) if animated else FORMATS[int(rng.integers(len(FORMATS)))]
    image = Image.fromarray(pixels)
    mode = str(rng.choice(["RGB", "L", "RGBA", "P"]))
    if fmt == "JPEG" and mode in ("RGBA", "P"):
        mode = "RGB"
    image = image.convert(mode)
    buffer = io.BytesIO()
    if animated:
        frames = [Image.fromarray(255 - pixels), Image.fromarray(pixels[::-1].copy())]
        extra = frames[:int(rng.integers(1, 3))]
        image.save(buffer, format="GIF", save_all=True, append_images=extra)
    else:
        image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def over_budget(data, rng):
    """`data` with header dimensions over the budget (or None if the format has no patch here)."""
    data = bytearray(data)
    side = int(rng.choice([65, 100, 4097, 65535]))
    if data[:4] == b"\x89PNG":
        data[16:24] = struct.pack(">II", side, side)
    elif data[:3] == b"GIF":
        data[6:10] = struct.pack("<HH", side, side)
    elif data[:2] == b"BM":
        data[18:26] = struct.pack("<ii", side, -side if rng.random() < 0.5 else side)
    elif data[:3] == b"\xff\xd8\xff":
        sof = _jpeg_frame_header(data)
        side = min(side, 65500)  # libjpeg's largest side: beyond it the file is just invalid
        data[sof + 5:sof + 9] = struct.pack(">HH", side, side)
    elif data[12:16] == b"VP8L":
        data[21:25] = b"\xff\xff\xff\x0f"
    elif data[12:16] == b"VP8 ":
        data[26:30] = b"\xff\x3f\xff\x3f"
    elif data[12:16] == b"VP8X":
        data[24:30] = b"\xff" * 6
    return bytes(data)


def _jpeg_frame_header(data):
    """Offset of the SOF marker, found by walking the segments (FF xx, big-endian length)."""
    position = 2
    while position + 4 <= len(data):
        marker = data[position + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return position
        position += 2 + struct.unpack(">H", bytes(data[position + 2:position + 4]))[0]
    raise ValueError("no SOF marker")


def garbage(rng):
    """Bytes that are no image: random, text, or a known magic number followed by junk."""
    junk = rng.integers(0, 256, int(rng.integers(0, 120)), dtype=np.uint8).tobytes()
    prefix = [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"\xff\xd8\xff", b"RIFF\0\0\0\0WEBP",
              b"%PDF-1.4 ", b"<svg>"][int(rng.integers(8))]
    return prefix + junk


def damaged(data, rng):
    """A valid image with bytes flipped past the header, or cut short."""
    data = bytearray(data)
    if rng.random() < 0.5 and len(data) > 40:
        return bytes(data[:int(rng.integers(33, len(data)))])
    for position in rng.integers(min(32, len(data) - 1), len(data), int(rng.integers(1, 8))):
        data[position] = int(rng.integers(256))
    return bytes(data)


class ImageBytes(Signature):
    """`serving_default(image_bytes: string[B])`."""

    app, signature = "image", "serving_default"

    def __init__(self, backbone=None):
        self.backbone, self.task, self.path = backbone, None, None

    def export(self, root):
        from apps.image.data import from_arrays
        from apps.image.task import ImageTask
        from dlkeras.backbones import create_backbone

        backbone = self.backbone or create_backbone("mobilenet_v3_small", weights=None,
                                                    input_shape=(None, None, 3))
        source = from_arrays(np.zeros((3, 8, 8, 3), np.uint8), [0, 1, 2], class_names=CLASSES)
        self.task = ImageTask.from_source(source, backbone, size=SIZE, hidden_units=8)
        self.task.metadata["max_serving_pixels"] = BUDGET
        self.path = self.task.export("fuzz", root=root)
        return self.path

    def cases(self, rng, n):
        kinds = ["valid"] * 30 + ["animated"] * 5 + ["empty"] * 3 + ["over_budget"] * 14 + \
            ["garbage"] * 10 + ["damaged"] * 15 + ["mixed"] * 8 + ["dtype"] * 10 + ["rank"] * 5
        return [self._case(str(rng.choice(kinds)), rng) for _ in range(n)]

    def _case(self, kind, rng):
        if kind in ("valid", "animated"):
            images = [encode(random_image(rng), rng, kind == "animated")
                      for _ in range(int(rng.integers(1, 4)))]
            return Case(kind, {"image_bytes": np.array(images, dtype=object)}, "valid")
        if kind == "empty":
            return Case(kind, {"image_bytes": np.array([], dtype=object)}, "valid")
        if kind == "over_budget":
            data = (encode(np.zeros((65, 64, 3), np.uint8), rng) if rng.random() < 0.2
                    else over_budget(encode(random_image(rng), rng), rng))
            return Case(kind, {"image_bytes": np.array([data], dtype=object)}, "refuse", OVER)
        if kind == "garbage":
            return Case(kind, {"image_bytes": np.array([garbage(rng)], dtype=object)}, "refuse",
                        ("image_bytes[0] ",) + DECODER_ERRORS)
        if kind == "damaged":
            data = damaged(encode(random_image(rng), rng), rng)
            return Case(kind, {"image_bytes": np.array([data], dtype=object)}, "either",
                        ("image_bytes[0] ",) + DECODER_ERRORS)
        if kind == "mixed":
            images = [encode(random_image(rng), rng) for _ in range(int(rng.integers(2, 5)))]
            bad = int(rng.integers(len(images)))
            images[bad] = (over_budget(images[bad], rng) if rng.random() < 0.5
                           else b"\0" * int(rng.integers(0, 40)))
            return Case(kind, {"image_bytes": np.array(images, dtype=object)}, "refuse",
                        (f"image_bytes[{bad}] ",))
        if kind == "dtype":
            dtype = str(rng.choice(["uint8", "int32", "int64", "float32", "float64", "bool"]))
            values = rng.integers(0, 256, int(rng.integers(1, 4))).astype(dtype)
            return Case(kind, {"image_bytes": values}, "refuse",
                        ("expected to be a string tensor",))
        data = encode(random_image(rng), rng)
        shaped = np.array([[data]], dtype=object) if rng.random() < 0.5 else np.array(data,
                                                                                      dtype=object)
        return Case(kind, {"image_bytes": shaped}, "refuse", SHAPE_ERRORS)

    def wrong_answer(self, case, outputs):
        import tensorflow as tf

        images = list(case.inputs["image_bytes"])
        pixels = []
        for data in images:
            try:
                pixels.append(tf.io.decode_image(data, channels=3, expand_animations=False))
            except (tf.errors.InvalidArgumentError, ValueError):
                pixels.append(None)  # TensorFlow's decoder refuses it: check the answer's form only
        return check_outputs(self.task, outputs, pixels)


class ImagePixels(Signature):
    """`serve_pixels(pixels: uint8[B, H, W, 3])`, on the same export as `ImageBytes`."""

    app, signature = "image", "serve_pixels"

    def __init__(self, image_bytes):
        self.image_bytes = image_bytes

    def export(self, root):
        return self.image_bytes.path

    def cases(self, rng, n):
        kinds = ["valid"] * 40 + ["empty"] * 5 + ["over_budget"] * 10 + ["no_pixels"] * 8 + \
            ["dtype"] * 20 + ["channels"] * 10 + ["rank"] * 7
        return [self._case(str(rng.choice(kinds)), rng) for _ in range(n)]

    def _case(self, kind, rng):
        batch = int(rng.integers(1, 4))
        height, width = (int(v) for v in rng.integers(1, 65, 2))
        if kind == "valid":
            pixels = np.stack([random_image(rng, height, width) for _ in range(batch)])
            return Case(kind, {"pixels": pixels}, "valid")
        if kind == "empty":
            shape = (0, int(rng.integers(0, 70)), int(rng.integers(0, 70)), 3)
            return Case(kind, {"pixels": np.zeros(shape, np.uint8)}, "valid")
        if kind == "over_budget":
            height, width = [(65, 64), (1, 4097), (100, 100), (4097, 1)][int(rng.integers(4))]
            return Case(kind, {"pixels": np.zeros((batch, height, width, 3), np.uint8)},
                        "refuse", OVER)
        if kind == "no_pixels":
            shape = (batch, 0, width, 3) if rng.random() < 0.5 else (batch, height, 0, 3)
            return Case(kind, {"pixels": np.zeros(shape, np.uint8)}, "refuse",
                        ("pixels (each image) has no pixels",))
        if kind == "dtype":
            dtype = str(rng.choice(["float32", "float64", "int32", "int64", "uint16", "int8",
                                    "bool", "float16"]))
            values = rng.random((batch, height, width, 3)) * (1.0 if "float" in dtype else 300)
            return Case(kind, {"pixels": values.astype(dtype)}, "refuse",
                        ("expected to be a uint8 tensor",))
        if kind == "channels":
            channels = int(rng.choice([1, 2, 4]))
            values = rng.integers(0, 256, (batch, height, width, channels), dtype=np.uint8)
            return Case(kind, {"pixels": values}, "refuse", SHAPE_ERRORS)
        shape = [(height, width, 3), (batch, 1, height, width, 3), (batch, height * width * 3)]
        values = np.zeros(shape[int(rng.integers(3))], np.uint8)
        return Case(kind, {"pixels": values}, "refuse", SHAPE_ERRORS)

    def wrong_answer(self, case, outputs):
        import tensorflow as tf

        pixels = [tf.constant(image) for image in case.inputs["pixels"]]
        return check_outputs(self.image_bytes.task, outputs, pixels)


# TensorFlow's decoders' messages for broken data (they name the problem, not the image).
DECODER_ERRORS = ("Invalid JPEG data", "Invalid PNG data", "Invalid PNG. Failed to initialize",
                  "Failed to decode WebP image", "Invalid GIF data",
                  "Input size should match (header_size + row_size * abs_height)")
SHAPE_ERRORS = ("is not compatible with expected shape",)


def check_outputs(task, outputs, pixels):
    """Why the answer for images `pixels` (decoded, or None) is wrong, else None."""
    from apps.image.pipeline import to_model_pixels

    scores = np.asarray(outputs["outputs"], np.float64).reshape(-1, len(CLASSES))
    names = outputs["class_names"]
    if scores.shape != (len(pixels), len(CLASSES)) or len(names) != len(pixels):
        return f"outputs of shape {scores.shape} for {len(pixels)} images"
    if any(list(row) != CLASSES for row in names):
        return f"class names {names[:1]}"
    if not np.isfinite(scores).all() or (len(scores) and
                                         not np.allclose(scores.sum(axis=1), 1, atol=1e-4)):
        return f"scores that are not probabilities: {scores.tolist()[:2]}"
    for row, image in zip(scores, pixels):
        if image is None:
            continue
        want = task.network(to_model_pixels(image[None], SIZE), training=False).numpy()[0]
        if not np.allclose(row, want, atol=1e-4):
            return f"scores {row.tolist()} differ from the in-memory model's {want.tolist()}"
    return None
