"""Image message <-> BGR conversion: every encoding round trip, padded rows, byte order, and clear
errors for malformed messages (no ROS processes; messages are stubs or real rclpy types)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from siam_tracker_ros.ros.image_conversion import (
    ENCODINGS,
    check_image,
    compressed_to_bgr,
    encode_bgr,
    fill_image_msg,
    image_to_bgr,
)

RNG = np.random.default_rng(7)
COLOUR = ["bgr8", "rgb8", "bgra8", "rgba8", "8UC3"]
GRAY = ["mono8", "8UC1", "mono16", "16UC1"]
YUV = ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"]


def _msg(bgr: np.ndarray, encoding: str, step: int | None = None, big_endian: bool = False,
         as_array: bool = False) -> SimpleNamespace:
    data, step = encode_bgr(bgr, encoding, big_endian=big_endian, step=step)
    payload = np.frombuffer(data, np.uint8) if as_array else data
    return SimpleNamespace(encoding=encoding, height=bgr.shape[0], width=bgr.shape[1], step=step,
                           is_bigendian=int(big_endian), data=payload)


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
    msg = SimpleNamespace(encoding="mono16", height=1, width=1, step=2, is_bigendian=0,
                          data=bytes([0x00, 0xFF]))  # LE: 0xFF00 -> 255*256/257 ~ 254
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


@pytest.mark.parametrize(("encoding", "pair"), [("yuv422", [90, 81, 240, 81]),
                                                ("yuv422_yuy2", [81, 90, 81, 240])])
def test_yuv422_byte_order_decodes_known_red(encoding: str, pair: list[int]) -> None:
    # BT.601 limited range: pure red is Y=81, U=90, V=240 (UYVY: U Y V Y; YUY2: Y U Y V).
    msg = SimpleNamespace(encoding=encoding, height=1, width=2, step=4, is_bigendian=0,
                          data=bytes(pair))
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


@pytest.mark.parametrize(("field", "value", "match"), [
    ("encoding", "bayer_rggb8", "unsupported image encoding"),
    ("width", 0, "empty image"),
    ("height", 0, "empty image"),
    ("step", 10, "step 10 is shorter than one row"),
    ("data", b"\x00" * 20, "data too short"),
])
def test_malformed_images_raise_clear_value_errors(field: str, value: object, match: str) -> None:
    msg = _msg(RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8), "bgr8")
    setattr(msg, field, value)
    with pytest.raises(ValueError, match=match):
        check_image(msg)
    with pytest.raises(ValueError, match=match):
        image_to_bgr(msg)


def test_odd_width_yuv_is_rejected() -> None:
    msg = SimpleNamespace(encoding="yuv422", height=1, width=3, step=6, is_bigendian=0,
                          data=bytes(6))
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
