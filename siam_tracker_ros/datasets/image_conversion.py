"""``sensor_msgs/Image`` <-> BGR ``numpy`` arrays, without cv_bridge (not installable from PyPI).

The functions are duck-typed: they read ``encoding, height, width, step, is_bigendian, data``
from any object (an rclpy message, a ``rosbags`` message, a test stub), so they are unit-tested
without starting ROS. They live here, below ``ros/``, because both the node (live camera
messages) and :mod:`~siam_tracker_ros.datasets.bags` (recorded ones) decode with them: a bag
replays exactly the pixels the node would have seen, and no import runs back up into ``ros/``.

Every malformed image (unknown encoding, zero size, a ``step`` shorter than a row, too little
data) raises :class:`ValueError` with a message that names the problem: the node turns that into
a throttled warning and keeps running, instead of dying on one bad frame.

Resource bounds: an image larger than :class:`ImageLimits` (default 8192 px a side), a ``step``
with more row padding than :data:`MAX_ROW_PADDING` allows, or a compressed payload whose PNG/JPEG
header declares too many pixels raises :class:`ImageLimitError` (a ``ValueError``) *before*
anything is allocated: a 1x1 image declaring a 4 GiB ``step``, or a 69-byte PNG declaring
40000x40000 pixels, costs nothing. Only PNG and JPEG payloads are decoded (their header is read
first); anything else is refused.

Row padding (``step > width * bytes_per_pixel``) is honoured by a strided view of the buffer
(no copy, no padding of a short last row), and 16-bit images honour ``is_bigendian``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

__all__ = [
    "DEFAULT_LIMITS",
    "ENCODINGS",
    "MAX_ROW_PADDING",
    "ImageLike",
    "ImageLimitError",
    "ImageLimits",
    "bgr_to_image_fields",
    "check_compressed",
    "check_image",
    "compressed_size",
    "compressed_to_bgr",
    "encode_bgr",
    "fill_image_msg",
    "image_to_bgr",
]


class ImageLike(Protocol):
    encoding: str
    height: int
    width: int
    step: int
    is_bigendian: int | bool
    data: Any


class ImageLimitError(ValueError):
    """An image (raw or compressed) whose declared size exceeds the configured limits, or whose
    ``step`` implies absurd row padding; raised before any pixel buffer is allocated."""


@dataclass(frozen=True)
class ImageLimits:
    """Largest accepted image (node parameters ``input.max_width`` / ``input.max_height``)."""

    max_width: int = 8192
    max_height: int = 8192

    def check(self, width: int, height: int, what: str = "image") -> None:
        if width > self.max_width or height > self.max_height:
            raise ImageLimitError(
                f"{what} of {width}x{height} px exceeds the limit of {self.max_width}x"
                f"{self.max_height} (input.max_width / input.max_height)"
            )


DEFAULT_LIMITS = ImageLimits()

#: Most row padding accepted beyond one row of pixels: ``step <= row + max(row, 4096)`` bytes.
#: Real cameras align rows to at most a page; a larger ``step`` is a corrupt header.
MAX_ROW_PADDING = 4096


@dataclass(frozen=True)
class _Encoding:
    channels: int  # values per pixel in the buffer (yuv422: 2 bytes per pixel)
    itemsize: int  # bytes per value


#: Supported encodings (sensor_msgs/image_encodings names, plus the common aliases).
ENCODINGS: dict[str, _Encoding] = {
    "bgr8": _Encoding(3, 1),
    "rgb8": _Encoding(3, 1),
    "bgra8": _Encoding(4, 1),
    "rgba8": _Encoding(4, 1),
    "mono8": _Encoding(1, 1),
    "8UC1": _Encoding(1, 1),
    "8UC3": _Encoding(3, 1),  # treated as bgr8, like cv_bridge
    "mono16": _Encoding(1, 2),
    "16UC1": _Encoding(1, 2),
    "yuv422": _Encoding(2, 1),  # UYVY byte order
    "uyvy": _Encoding(2, 1),
    "yuv422_yuy2": _Encoding(2, 1),  # YUYV byte order
    "yuyv": _Encoding(2, 1),
}

_TO_BGR = {
    "rgb8": cv2.COLOR_RGB2BGR,
    "bgra8": cv2.COLOR_BGRA2BGR,
    "rgba8": cv2.COLOR_RGBA2BGR,
    "mono8": cv2.COLOR_GRAY2BGR,
    "8UC1": cv2.COLOR_GRAY2BGR,
    "yuv422": cv2.COLOR_YUV2BGR_UYVY,
    "uyvy": cv2.COLOR_YUV2BGR_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2,
    "yuyv": cv2.COLOR_YUV2BGR_YUY2,
}


def check_image(msg: ImageLike, limits: ImageLimits = DEFAULT_LIMITS) -> _Encoding:
    """Validate the header fields against the limits and the data length; O(1), cheap enough for
    a callback. The data must hold ``height`` rows of ``step`` bytes (the last row may omit its
    padding) and no more."""
    enc = ENCODINGS.get(msg.encoding)
    if enc is None:
        raise ValueError(
            f"unsupported image encoding {msg.encoding!r}; "
            f"supported: {', '.join(sorted(ENCODINGS))}"
        )
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ValueError(f"empty image ({w}x{h})")
    limits.check(w, h)
    row = w * enc.channels * enc.itemsize
    if step < row:
        raise ValueError(
            f"step {step} is shorter than one row of {w} {msg.encoding} pixels ({row} bytes)"
        )
    if step - row > max(row, MAX_ROW_PADDING):
        raise ImageLimitError(
            f"step {step} implies {step - row} bytes of padding after each "
            f"{row}-byte row of {w} {msg.encoding} pixels (at most "
            f"{max(row, MAX_ROW_PADDING)} accepted): corrupt header"
        )
    if enc.channels == 2 and w % 2:
        raise ValueError(f"{msg.encoding} needs an even width, got {w}")
    n = len(msg.data)
    # The last row may omit its padding; anything less than that is truncated data.
    if n < step * (h - 1) + row:
        raise ValueError(f"image data too short: {n} bytes for {h} rows of step {step}")
    if n > step * h:
        raise ValueError(
            f"image data too long: {n} bytes for {h} rows of step {step} "
            f"({step * h} expected): corrupt header"
        )
    return enc


def image_to_bgr(msg: ImageLike, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode an Image message into a contiguous ``H x W x 3`` uint8 BGR array.

    mono16 is scaled to 8 bits by ``1/257`` (full 16-bit range -> 0..255, as cv_bridge does), so
    a tracker sees the same contrast on every frame rather than a per-frame stretch.
    """
    enc = check_image(msg, limits)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    buf = _as_bytes_array(msg.data)
    row = w * enc.channels * enc.itemsize
    # A strided view: row i starts at i * step. check_image guaranteed that the last row's
    # ``row`` bytes are inside the buffer (its padding may be missing), so nothing is padded.
    rows = np.lib.stride_tricks.as_strided(buf, shape=(h, row), strides=(step, 1), writeable=False)
    if enc.itemsize == 2:
        dtype = np.dtype(">u2" if msg.is_bigendian else "<u2")
        mono16 = np.ascontiguousarray(rows).view(dtype).reshape(h, w)
        mono8 = (mono16.astype(np.float32) * (1.0 / 257.0) + 0.5).astype(np.uint8)
        return cv2.cvtColor(mono8, cv2.COLOR_GRAY2BGR)
    pixels = rows.reshape(h, w, enc.channels)
    code = _TO_BGR.get(msg.encoding)
    if code is None:  # bgr8 / 8UC3
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def _as_bytes_array(data: Any) -> np.ndarray:
    """A zero-copy uint8 view of ``bytes``, ``array.array('B')`` (rclpy) or a numpy array
    (rosbags)."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    return np.frombuffer(data, dtype=np.uint8)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (SOF0..SOF15 without DHT, JPG and DAC), which carry the size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def compressed_size(data: Any) -> tuple[int, int]:
    """``(width, height)`` declared by a PNG (IHDR) or JPEG (SOF segment) payload, read from its
    header without decoding; :class:`ValueError` for anything else or a truncated header."""
    arr = _as_bytes_array(data)
    mv = arr.data  # a memoryview: int indexing without numpy scalars
    n = len(mv)
    if n >= 8 and bytes(mv[:8]) == _PNG_SIGNATURE:
        if n < 24 or bytes(mv[12:16]) != b"IHDR":
            raise ValueError(
                f"cannot decode compressed image ({n} bytes): PNG without an IHDR header"
            )
        return (int.from_bytes(mv[16:20], "big"), int.from_bytes(mv[20:24], "big"))
    if n >= 2 and mv[0] == 0xFF and mv[1] == 0xD8:
        i = 2
        while i + 1 < n:
            if mv[i] != 0xFF:
                break
            marker = mv[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # stand-alone markers
                i += 2
                continue
            if marker in (0xD9, 0xDA) or i + 3 >= n:  # EOI / start of scan before any SOF
                break
            length = (mv[i + 2] << 8) | mv[i + 3]
            if marker in _JPEG_SOF:
                if length < 7 or i + 8 >= n:
                    break
                height = (mv[i + 5] << 8) | mv[i + 6]
                width = (mv[i + 7] << 8) | mv[i + 8]
                return width, height
            if length < 2:
                break
            i += 2 + length
        raise ValueError(f"cannot decode compressed image ({n} bytes): JPEG without a frame header")
    raise ValueError(f"cannot decode compressed image ({n} bytes): not a PNG or JPEG payload")


def check_compressed(data: Any, limits: ImageLimits = DEFAULT_LIMITS) -> tuple[int, int]:
    """``(width, height)`` of a PNG/JPEG payload from its header, checked against ``limits``
    (:class:`ImageLimitError`); cheap enough for a callback (no decoding)."""
    arr = _as_bytes_array(data)
    if arr.size == 0:
        raise ValueError("empty compressed image")
    width, height = compressed_size(arr)
    if width <= 0 or height <= 0:
        raise ValueError(
            f"cannot decode compressed image ({arr.size} bytes): header declares "
            f"{width}x{height} px"
        )
    limits.check(width, height, "compressed image")
    return width, height


def compressed_to_bgr(data: Any, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` payload (JPEG/PNG) into BGR uint8.

    The size declared in the header is checked against ``limits`` first
    (:class:`ImageLimitError`), so a tiny payload declaring a huge image is never decoded."""
    arr = _as_bytes_array(data)
    width, height = check_compressed(arr, limits)
    try:
        img = cv2.imdecode(arr, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # e.g. a header OpenCV itself refuses
        raise ValueError(
            f"cannot decode compressed image ({arr.size} bytes): "
            f"{str(exc).strip().splitlines()[-1]}"
        ) from None
    if img is None:
        raise ValueError(f"cannot decode compressed image ({arr.size} bytes)")
    if img.shape[:2] != (height, width):
        raise ValueError(
            f"cannot decode compressed image ({arr.size} bytes): decoded "
            f"{img.shape[1]}x{img.shape[0]} px, header declares {width}x{height}"
        )
    return img


def encode_bgr(
    bgr: np.ndarray, encoding: str = "bgr8", big_endian: bool = False, step: int | None = None
) -> tuple[bytes, int]:
    """Encode BGR uint8 into ``encoding``'s byte layout; returns ``(data, step)``.

    ``step`` larger than a row pads every row with zeros (to test and to emulate cameras that
    align rows). yuv422 uses BT.601 like OpenCV's decoder, averaging chroma over pixel pairs.
    """
    if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 BGR array, got {bgr.dtype} {bgr.shape}")
    enc = ENCODINGS.get(encoding)
    if enc is None:
        raise ValueError(f"unsupported image encoding {encoding!r}")
    h, w = bgr.shape[:2]
    if encoding in ("bgr8", "8UC3"):
        px = bgr
    elif encoding == "rgb8":
        px = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif encoding == "bgra8":
        px = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    elif encoding == "rgba8":
        px = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
    elif encoding in ("mono8", "8UC1"):
        px = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    elif enc.itemsize == 2:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * np.uint16(257)
        px = gray.astype(">u2" if big_endian else "<u2").view(np.uint8).reshape(h, w * 2)
    else:
        px = _bgr_to_yuv422(bgr, uyvy=encoding in ("yuv422", "uyvy"))
    rows = np.ascontiguousarray(px).reshape(h, -1)
    row = rows.shape[1]
    step = row if step is None else step
    if step < row:
        raise ValueError(f"step {step} < row size {row}")
    if step > row:
        rows = np.pad(rows, ((0, 0), (0, step - row)))
    return rows.tobytes(), step


def _bgr_to_yuv422(bgr: np.ndarray, uyvy: bool) -> np.ndarray:
    """BT.601 limited range (Y 16..235), the inverse of OpenCV's ``COLOR_YUV2BGR_UYVY/YUY2``."""
    if bgr.shape[1] % 2:
        raise ValueError("yuv422 needs an even width")
    b, g, r = (bgr[..., i].astype(np.float32) for i in range(3))
    y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b
    u_full = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b
    v_full = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b
    u = (u_full[:, 0::2] + u_full[:, 1::2]) / 2
    v = (v_full[:, 0::2] + v_full[:, 1::2]) / 2
    parts = (u, y[:, 0::2], v, y[:, 1::2]) if uyvy else (y[:, 0::2], u, y[:, 1::2], v)
    out = np.stack(parts, axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(bgr.shape[0], -1)


def bgr_to_image_fields(bgr: np.ndarray, encoding: str = "bgr8") -> dict[str, Any]:
    """Field values of an Image message holding ``bgr`` (``data`` as ``bytes``: assigning a numpy
    array to an rclpy message field costs ~150 ms per VGA frame, ``bytes`` ~0.15 ms)."""
    data, step = encode_bgr(bgr, encoding)
    return {
        "height": int(bgr.shape[0]),
        "width": int(bgr.shape[1]),
        "encoding": encoding,
        "is_bigendian": 0,
        "step": step,
        "data": data,
    }


def fill_image_msg(msg: Any, bgr: np.ndarray, encoding: str = "bgr8") -> Any:
    """Fill an (rclpy) Image message in place from a BGR array and return it."""
    for key, value in bgr_to_image_fields(bgr, encoding).items():
        setattr(msg, key, value)
    return msg
