"""Small files that decode to huge images: the serving tests' and `benchmarks/serving_memory.py`'s inputs."""

import io
import struct
import zlib


def png_of_zeros(width, height):
    """A PNG of zeros written row by row (never holds the pixels): 0.29 MB for 10000x10000."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body)
            + chunk(b"IEND", b""))


def gif_of_frames(frames, side=2000):
    """An animated GIF: frame 0 a black `side` x `side` image, the others differ by one pixel."""
    import numpy as np
    from PIL import Image

    images = []
    for index in range(frames):
        pixels = np.zeros((side, side, 3), np.uint8)
        pixels[0, 0] = 255 * (index % 2)
        images.append(Image.fromarray(pixels))
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=10)
    return buffer.getvalue()
