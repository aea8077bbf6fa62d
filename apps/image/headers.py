"""Image sizes read from the headers of encoded bytes, as TensorFlow ops.

A 0.3 MB PNG of zeros can hold 10000x10000 pixels: decoding it takes 300 MB
and more. The serving graphs and the file checks therefore read the size
from the header first (PNG IHDR, JPEG SOF, GIF logical screen and first
image descriptor, BMP and WebP headers) and refuse an image over the pixel
budget before anything is decoded.

For a GIF the size that matters is the first frame's (what
`tf.io.decode_image(..., expand_animations=False)` returns), which the
logical screen does not bound, so the blocks are walked to it. The bytes
are also cut after that first image (plus the trailer byte): TensorFlow
2.21 decodes only frame 0 when asked for one image (a 6 KB GIF of 60
2000x2000 frames adds nothing measurable), but with every frame decoded the
same file takes 730 MB, so the cut keeps the bound whichever decoder runs.
Everything here is graph-only: it runs inside an exported SavedModel
without dlkeras.
"""
import tensorflow as tf

DEFAULT_MAX_PIXELS = 40_000_000
FORMATS = ("unknown", "png", "jpeg", "gif", "bmp", "webp")
_HEAD_BYTES = 32


def _int(value):
    return tf.constant(value, tf.int64)


def _head(data):
    """The first 32 bytes of `data` as int64, zero-padded."""
    padded = tf.strings.join([tf.strings.substr(data, 0, _HEAD_BYTES), b"\0" * _HEAD_BYTES])
    raw = tf.io.decode_raw(tf.strings.substr(padded, 0, _HEAD_BYTES), tf.uint8)
    return tf.cast(raw, tf.int64)


def _little(head, start, length):
    return sum(head[start + i] * (1 << (8 * i)) for i in range(length))


def _big(head, start, length):
    return sum(head[start + i] * (1 << (8 * (length - 1 - i))) for i in range(length))


def _starts_with(head, offset, magic):
    return tf.reduce_all(tf.equal(head[offset:offset + len(magic)], list(magic)))


def image_format(head):
    """Index into `FORMATS` from the magic bytes (the ones `tf.io.decode_image` looks at)."""
    webp = tf.logical_and(_starts_with(head, 0, b"RIFF"), _starts_with(head, 8, b"WEBP"))
    checks = [_starts_with(head, 0, b"\x89PNG"), _starts_with(head, 0, b"\xff\xd8\xff"),
              _starts_with(head, 0, b"GIF8"), _starts_with(head, 0, b"BM"), webp]
    index = tf.constant(0, tf.int32)
    for position, found in reversed(list(enumerate(checks, start=1))):
        index = tf.where(found, position, index)
    return index


def _webp_size(head):
    """(height, width) of a WebP: simple lossy (VP8), lossless (VP8L) or extended (VP8X)."""
    lossy = (_little(head, 28, 2) % 16384, _little(head, 26, 2) % 16384)
    lossless = (1 + (head[24] % 16) * 1024 + head[23] * 4 + head[22] // 64,
                1 + (head[22] % 64) * 256 + head[21])
    extended = (1 + _little(head, 27, 3), 1 + _little(head, 24, 3))
    kind = tf.where(_starts_with(head, 12, b"VP8 "), 1,
                    tf.where(_starts_with(head, 12, b"VP8L"), 2,
                             tf.where(_starts_with(head, 12, b"VP8X"), 3, 0)))
    zero = tf.constant(0, tf.int64)
    height = tf.gather(tf.stack([zero, lossy[0], lossless[0], extended[0]]), kind)
    width = tf.gather(tf.stack([zero, lossy[1], lossless[1], extended[1]]), kind)
    return height, width


def _gif_layout(data):
    """`(end of the first image, its height, its width)` of a GIF; end -1 when there is none.

    Walks the blocks (extensions and the first image's data sub-blocks) one
    step per loop iteration; every step moves forward, so the loop ends.
    """
    raw = tf.cast(tf.io.decode_raw(data, tf.uint8), tf.int64)
    raw = tf.concat([raw, tf.zeros([16], tf.int64)], axis=0)
    size = tf.size(raw, out_type=tf.int64) - 16

    def at(position):
        return tf.gather(raw, tf.minimum(tf.cast(position, tf.int64), size + 15))

    def table_bytes(packed):  # an optional colour table follows a block with bit 7 set
        return tf.where(packed >= 128, 3 * tf.bitwise.left_shift(_int(2), packed % 8), _int(0))

    start = 13 + table_bytes(at(10))
    # mode 0: next block, 1: extension sub-blocks, 2: image sub-blocks, 3: done, 4: broken
    def step(position, mode, height, width):
        byte = at(position)
        image = tf.logical_and(tf.equal(mode, 0), tf.equal(byte, 0x2C))
        extension = tf.logical_and(tf.equal(mode, 0), tf.equal(byte, 0x21))
        new_height = tf.where(image, at(position + 7) + 256 * at(position + 8), height)
        new_width = tf.where(image, at(position + 5) + 256 * at(position + 6), width)
        after_block = tf.where(image, position + 11 + table_bytes(at(position + 9)), position + 2)
        after_sub_block = position + 1 + byte
        ended = tf.equal(byte, 0)
        mode_after_sub_block = tf.where(ended, tf.where(tf.equal(mode, 1), _int(0), _int(3)), mode)
        new_mode = tf.where(image, _int(2), tf.where(extension, _int(1), tf.where(
            tf.equal(mode, 0), _int(4), mode_after_sub_block)))
        new_position = tf.where(tf.equal(mode, 0), after_block, after_sub_block)
        return new_position, new_mode, new_height, new_width

    zero = tf.constant(0, tf.int64)
    position, mode, height, width = tf.while_loop(
        lambda position, mode, *_: tf.logical_and(mode < 3, position < size), step,
        (start, zero, zero, zero), maximum_iterations=tf.cast(size + 2, tf.int32))
    done = tf.logical_and(tf.equal(mode, 3), position <= size)
    return tf.where(done, position, _int(-1)), height, width


def header_info(data):
    """What the header of one encoded image says, before any decoding.

    Args:
        data: a scalar string tensor (encoded image bytes).

    Returns:
        `(format_index, height, width, decodable)`: an index into `FORMATS`
        (0: unknown), the largest height and width any buffer of the
        decoder will have (for a GIF the larger of the screen and the first
        frame), both int64 (0 when unreadable), and the bytes to decode
        (a GIF cut after its first frame; other formats unchanged).

    Example:


    >>> import numpy as np
    >>> png = tf.io.encode_png(np.zeros((3, 5, 3), np.uint8))
    >>> [int(v) for v in header_info(png)[:3]]
    [1, 3, 5]
    """
    head = _head(data)
    kind = image_format(head)

    def unknown():
        return _int(0), _int(0), data

    def png():
        return _big(head, 20, 4), _big(head, 16, 4), data

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0], shape[1], data

    def gif():
        end, frame_height, frame_width = _gif_layout(data)
        height = tf.maximum(_little(head, 8, 2), frame_height)
        width = tf.maximum(_little(head, 6, 2), frame_width)
        cut = tf.strings.join([tf.strings.substr(data, _int(0), tf.maximum(end, _int(0))), b";"])
        broken = end < 0
        return tf.where(broken, _int(0), height), tf.where(broken, _int(0), width), cut

    def bmp():
        width, height = _little(head, 18, 4), _little(head, 22, 4)
        signed = [tf.where(v >= 2 ** 31, v - 2 ** 32, v) for v in (height, width)]
        return tf.abs(signed[0]), tf.abs(signed[1]), data

    def webp():
        height, width = _webp_size(head)
        return height, width, data

    return (kind,) + tuple(tf.switch_case(kind, [unknown, png, jpeg, gif, bmp, webp]))


def budget_checks(kind, height, width, max_pixels, what, index=None, applies=True):
    """Graph assertions: a known format, at least one pixel, and at most `max_pixels`.

    Args:
        kind, height, width: from `header_info`.
        max_pixels: the pixel budget (height x width).
        what: how messages name the image, e.g. "image_bytes[{}]" (with
            `index` filled in) or "pixels".
        index: the image's position in the batch, for `what`.
        applies: a boolean (tensor); when false every check passes (an empty batch).

    Returns:
        The assertion ops (run them before decoding).
    """
    pixels = tf.cast(height, tf.float64) * tf.cast(width, tf.float64)
    skip = tf.logical_not(applies)
    named = [] if index is None else [index]

    def message(text, *values):
        return [tf.strings.format(what + text, tuple(named) + values)]

    known = tf.debugging.Assert(tf.logical_or(skip, kind > 0), message(
        " is not a PNG, JPEG, GIF, BMP or WebP image (unrecognised header)"))
    with tf.control_dependencies([known]):
        some = tf.debugging.Assert(tf.logical_or(skip, pixels > 0), message(
            " has no pixels ({}x{}): an empty image or a broken header", width, height))
    with tf.control_dependencies([some]):
        within = tf.debugging.Assert(tf.logical_or(skip, pixels <= max_pixels), message(
            f" is {{}}x{{}} pixels, over the serving budget of {int(max_pixels)} pixels; "
            "send a smaller image", width, height))
    return [known, some, within]
