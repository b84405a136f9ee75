"""Image message <-> BGR conversion: every encoding round trip, padded rows, byte order, and clear
errors for malformed messages (no ROS processes; messages are stubs or real rclpy types)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from siam_tracker_ros.datasets.image_conversion import (
    ENCODINGS,
    ImageLimitError,
    ImageLimits,
    check_image,
    compressed_size,
    compressed_to_bgr,
    encode_bgr,
    fill_image_msg,
    image_to_bgr,
)

RNG = np.random.default_rng(7)
COLOUR = ["bgr8", "rgb8", "bgra8", "rgba8", "8UC3"]
GRAY = ["mono8", "8UC1", "mono16", "16UC1"]
YUV = ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"]


def _msg(
    bgr: np.ndarray,
    encoding: str,
    step: int | None = None,
    big_endian: bool = False,
    as_array: bool = False,
) -> SimpleNamespace:
    data, step = encode_bgr(bgr, encoding, big_endian=big_endian, step=step)
    payload = np.frombuffer(data, np.uint8) if as_array else data
    return SimpleNamespace(
        encoding=encoding,
        height=bgr.shape[0],
        width=bgr.shape[1],
        step=step,
        is_bigendian=int(big_endian),
        data=payload,
    )


def _row_bytes(encoding: str, width: int) -> int:
    e = ENCODINGS[encoding]
    return width * e.channels * e.itemsize


@pytest.mark.parametrize("encoding", COLOUR)
@pytest.mark.parametrize("pad", [0, 5])
def test_colour_round_trip_is_exact(encoding: str, pad: int) -> None:
    img = RNG.integers(0, 256, (7, 6, 3), dtype=np.uint8)
    msg = _msg(img, encoding, step=_row_bytes(encoding, 6) + pad)
    assert msg.step == _row_bytes(encoding, 6) + pad
    np.testing.assert_array_equal(image_to_bgr(msg), img)


@pytest.mark.parametrize("encoding", GRAY)
@pytest.mark.parametrize("pad", [0, 4])
@pytest.mark.parametrize("big_endian", [False, True])
def test_gray_round_trip(encoding: str, pad: int, big_endian: bool) -> None:
    gray = RNG.integers(0, 256, (5, 8), dtype=np.uint8)
    img = np.repeat(gray[..., None], 3, axis=2)
    msg = _msg(img, encoding, step=_row_bytes(encoding, 8) + pad, big_endian=big_endian)
    out = image_to_bgr(msg)
    np.testing.assert_array_equal(out, img)


def test_mono16_honours_byte_order() -> None:
    # 0x1234 little-endian is bytes 34 12; read as big-endian it would be 0x3412.
    msg = SimpleNamespace(
        encoding="mono16", height=1, width=1, step=2, is_bigendian=0, data=bytes([0x00, 0xFF])
    )  # LE: 0xFF00 -> 255*256/257 ~ 254
    assert image_to_bgr(msg)[0, 0, 0] == round(0xFF00 / 257)
    msg.is_bigendian = 1  # BE: 0x00FF -> 255/257 ~ 1
    assert image_to_bgr(msg)[0, 0, 0] == round(0x00FF / 257)


@pytest.mark.parametrize("encoding", YUV)
@pytest.mark.parametrize("pad", [0, 6])
def test_yuv422_round_trip(encoding: str, pad: int) -> None:
    img = RNG.integers(0, 256, (4, 10, 3), dtype=np.uint8)
    img[:, 1::2] = img[:, 0::2]  # chroma is shared by pixel pairs: pairs survive exactly
    out = image_to_bgr(_msg(img, encoding, step=_row_bytes(encoding, 10) + pad))
    assert np.abs(out.astype(int) - img).max() <= 2


@pytest.mark.parametrize(
    ("encoding", "pair"), [("yuv422", [90, 81, 240, 81]), ("yuv422_yuy2", [81, 90, 81, 240])]
)
def test_yuv422_byte_order_decodes_known_red(encoding: str, pair: list[int]) -> None:
    # BT.601 limited range: pure red is Y=81, U=90, V=240 (UYVY: U Y V Y; YUY2: Y U Y V).
    msg = SimpleNamespace(
        encoding=encoding, height=1, width=2, step=4, is_bigendian=0, data=bytes(pair)
    )
    b, g, r = image_to_bgr(msg)[0, 0].astype(int)
    assert r > 240 and g < 15 and b < 15


def test_numpy_payload_and_unpadded_last_row() -> None:
    img = RNG.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    msg = _msg(img, "rgb8", step=16, as_array=True)
    msg.data = msg.data[:-4]  # the last row without its padding is still a complete image
    np.testing.assert_array_equal(image_to_bgr(msg), img)


def test_real_rclpy_message_round_trip() -> None:
    from sensor_msgs.msg import Image

    img = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    msg = fill_image_msg(Image(), img, "rgb8")
    assert isinstance(msg.data, type(Image().data))  # bytes assigned, never a numpy array
    assert (msg.encoding, msg.step) == ("rgb8", 15)
    np.testing.assert_array_equal(image_to_bgr(msg), img)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("encoding", "bayer_rggb8", "unsupported image encoding"),
        ("width", 0, "empty image"),
        ("height", 0, "empty image"),
        ("step", 10, "step 10 is shorter than one row"),
        ("data", b"\x00" * 20, "data too short"),
    ],
)
def test_malformed_images_raise_clear_value_errors(field: str, value: object, match: str) -> None:
    msg = _msg(RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8), "bgr8")
    setattr(msg, field, value)
    with pytest.raises(ValueError, match=match):
        check_image(msg)
    with pytest.raises(ValueError, match=match):
        image_to_bgr(msg)


def test_odd_width_yuv_is_rejected() -> None:
    msg = SimpleNamespace(
        encoding="yuv422", height=1, width=3, step=6, is_bigendian=0, data=bytes(6)
    )
    with pytest.raises(ValueError, match="even width"):
        image_to_bgr(msg)


def test_compressed_decoding_and_errors() -> None:
    import cv2

    img = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", img)
    assert ok
    np.testing.assert_array_equal(compressed_to_bgr(png.tobytes()), img)
    with pytest.raises(ValueError, match="empty"):
        compressed_to_bgr(b"")
    with pytest.raises(ValueError, match="cannot decode"):
        compressed_to_bgr(b"not an image")


# ---------------------------------------------------------------------------- resource bounds
def test_huge_step_on_a_tiny_image_is_refused_without_allocating() -> None:
    """Issue 21.2: a 1x1 rgb8 image declaring step=4294967295 used to be padded to 4 GiB."""
    import tracemalloc

    msg = SimpleNamespace(
        encoding="rgb8", height=1, width=1, step=4294967295, is_bigendian=0, data=bytes(3)
    )
    tracemalloc.start()
    try:
        with pytest.raises(ImageLimitError, match="padding"):
            image_to_bgr(msg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak


def test_image_larger_than_the_limits_is_refused_before_reading_data() -> None:
    msg = SimpleNamespace(
        encoding="mono8", height=9000, width=10, step=10, is_bigendian=0, data=bytes(90000)
    )
    with pytest.raises(ImageLimitError, match="9000 px exceeds the limit of 8192x8192"):
        check_image(msg)
    # ...and with raised limits the same message is a valid image
    assert image_to_bgr(msg, ImageLimits(8192, 9000)).shape == (9000, 10, 3)
    small = ImageLimits(max_width=8, max_height=8)
    with pytest.raises(ImageLimitError, match="input.max_width"):
        check_image(msg, small)


def test_data_longer_than_the_header_says_is_refused() -> None:
    msg = _msg(RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8), "bgr8")
    msg.data = msg.data + bytes(18)
    with pytest.raises(ValueError, match="data too long"):
        image_to_bgr(msg)


def test_moderate_row_padding_is_still_accepted() -> None:
    img = RNG.integers(0, 256, (3, 2, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image_to_bgr(_msg(img, "bgr8", step=6 + 4096)), img)
    with pytest.raises(ImageLimitError):
        check_image(_msg(img, "bgr8", step=6 + 4097))


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk declaring ``width x height`` (no image data)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def test_tiny_png_declaring_40000_squared_raises_the_documented_error() -> None:
    """Issue 21.2: a 69-byte PNG declaring 40000x40000 raised cv2.error."""
    import struct
    import zlib

    idat = zlib.compress(b"\x00" * 16)
    payload = (
        _png_header(40000, 40000)
        + struct.pack(">I", len(idat))
        + b"IDAT"
        + idat
        + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    assert len(payload) < 100
    assert compressed_size(payload) == (40000, 40000)
    with pytest.raises(ImageLimitError, match="40000x40000 px exceeds"):
        compressed_to_bgr(payload)


def test_large_real_png_and_jpeg_are_refused_from_their_header() -> None:
    import cv2

    big = np.zeros((300, 500, 3), np.uint8)
    limits = ImageLimits(max_width=400, max_height=400)
    for ext in (".png", ".jpg"):
        ok, buf = cv2.imencode(ext, big)
        assert ok
        assert compressed_size(buf.tobytes()) == (500, 300)
        with pytest.raises(ImageLimitError, match="500x300"):
            compressed_to_bgr(buf.tobytes(), limits)
        assert compressed_to_bgr(buf.tobytes()).shape == (300, 500, 3)


def test_jpeg_size_is_found_after_app_segments() -> None:
    import cv2

    img = RNG.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    data = buf.tobytes()
    app = b"\xff\xe1" + (2 + 1000).to_bytes(2, "big") + bytes(1000)  # a 1000-byte APP1 segment
    data = data[:2] + app + data[2:]
    assert compressed_size(data) == (40, 24)
    assert compressed_to_bgr(data).shape == (24, 40, 3)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\xff\xd8 definitely not a JPEG", "JPEG without a frame header"),
        (b"\xff\xd8\xff\xda\x00\x02", "JPEG without a frame header"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG without an IHDR"),
        (b"GIF89a" + bytes(20), "not a PNG or JPEG"),
    ],
)
def test_compressed_payloads_without_a_readable_size_are_refused(
    payload: bytes, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        compressed_to_bgr(payload)


def test_png_header_with_a_corrupt_body_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="cannot decode compressed image"):
        compressed_to_bgr(_png_header(64, 64) + bytes(40))
