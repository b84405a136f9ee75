"""Fuzzing the image decoders the node feeds with whatever arrives on its camera topic: raw
``sensor_msgs/Image`` fields and ``CompressedImage`` payloads. The contract (issue 21): a valid
image within the limits decodes to an ``H x W x 3`` uint8 array of the declared size; anything
else raises ``ValueError`` (``ImageLimitError`` for size limits) and nothing larger than the
limits is ever allocated. Example counts come from the hypothesis profile (test/conftest.py:
"ci" 2,000 per test, HYPOTHESIS_PROFILE=long 20,000)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from siam_tracker_ros.datasets.image_conversion import (  # noqa: E402
    ENCODINGS,
    ImageLimitError,
    ImageLimits,
    check_image,
    compressed_size,
    compressed_to_bgr,
    encode_bgr,
    image_to_bgr,
)

LIMITS = ImageLimits(max_width=64, max_height=48)
UINT32 = st.integers(0, 2**32 - 1)
SMALL = st.integers(0, 80)
ENCODING = st.one_of(st.sampled_from(sorted(ENCODINGS)), st.text(max_size=12))


def _decode_or_value_error(msg: SimpleNamespace) -> np.ndarray | None:
    try:
        return image_to_bgr(msg, LIMITS)
    except ValueError:
        return None


@given(
    encoding=ENCODING,
    height=st.one_of(SMALL, UINT32),
    width=st.one_of(SMALL, UINT32),
    step=st.one_of(st.integers(0, 400), UINT32),
    big_endian=st.booleans(),
    data=st.binary(max_size=4000),
)
def test_raw_image_fields_decode_or_raise_value_error(
    encoding: str, height: int, width: int, step: int, big_endian: bool, data: bytes
) -> None:
    msg = SimpleNamespace(
        encoding=encoding,
        height=height,
        width=width,
        step=step,
        is_bigendian=int(big_endian),
        data=data,
    )
    out = _decode_or_value_error(msg)
    if out is None:
        return
    # decoded: the declared size, within the limits, 3 channels, and the header check agrees
    assert out.shape == (height, width, 3) and out.dtype == np.uint8
    assert width <= LIMITS.max_width and height <= LIMITS.max_height
    check_image(msg, LIMITS)


@given(
    encoding=st.sampled_from(sorted(ENCODINGS)),
    height=st.integers(1, 48),
    width=st.integers(1, 64),
    pad=st.integers(0, 64),
    short_last_row=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_valid_images_round_trip(
    encoding: str, height: int, width: int, pad: int, short_last_row: bool, seed: int
) -> None:
    if ENCODINGS[encoding].channels == 2:
        width += width % 2
        if width > LIMITS.max_width:
            width -= 2
    img = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    row = width * ENCODINGS[encoding].channels * ENCODINGS[encoding].itemsize
    data, step = encode_bgr(img, encoding, step=row + pad)
    if short_last_row:
        data = data[: len(data) - pad]
    msg = SimpleNamespace(
        encoding=encoding, height=height, width=width, step=step, is_bigendian=0, data=data
    )
    out = image_to_bgr(msg, LIMITS)
    assert out.shape == img.shape
    if encoding in ("bgr8", "rgb8", "bgra8", "rgba8", "8UC3"):
        np.testing.assert_array_equal(out, img)


@given(
    height=st.integers(1, 2**32 - 1),
    width=st.integers(1, 2**32 - 1),
    step=st.integers(0, 2**32 - 1),
    n=st.integers(0, 64),
)
def test_oversized_headers_are_refused_before_any_allocation(
    height: int, width: int, step: int, n: int
) -> None:
    """Headers declaring up to 2^32 x 2^32 pixels or rows: refused from the header alone (the
    data here is at most 64 bytes, so any accepted image must be tiny)."""
    msg = SimpleNamespace(
        encoding="rgb8", height=height, width=width, step=step, is_bigendian=0, data=bytes(n)
    )
    out = _decode_or_value_error(msg)
    if out is not None:
        assert out.nbytes <= 3 * 64


def _encoded(ext: str, seed: int, w: int, h: int) -> bytes:
    import cv2

    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


PNG_OR_JPEG = st.builds(
    _encoded,
    st.sampled_from([".png", ".jpg"]),
    st.integers(0, 50),
    st.integers(1, 96),
    st.integers(1, 64),
)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A real PNG/JPEG (possibly over the limits) with bytes overwritten, cut or appended."""
    data = bytearray(draw(PNG_OR_JPEG))
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data) + draw(st.binary(max_size=16))


PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda tail: b"\x89PNG\r\n\x1a\n" + tail, st.binary(max_size=64)),
    st.builds(lambda tail: b"\xff\xd8" + tail, st.binary(max_size=200)),
    _mutated(),
)


@given(payload=PAYLOADS)
def test_compressed_payloads_decode_within_limits_or_raise_value_error(payload: bytes) -> None:
    try:
        out = compressed_to_bgr(payload, LIMITS)
    except ImageLimitError:
        w, h = compressed_size(payload)  # refused from the header: it declared too much
        assert w > LIMITS.max_width or h > LIMITS.max_height
        return
    except ValueError:
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[1] <= LIMITS.max_width and out.shape[0] <= LIMITS.max_height
    assert (out.shape[1], out.shape[0]) == compressed_size(payload)


@given(payload=st.binary(max_size=100))
def test_compressed_size_is_a_pair_or_a_value_error(payload: bytes) -> None:
    try:
        w, h = compressed_size(payload)
    except ValueError:
        return
    assert 0 <= w < 2**32 and 0 <= h < 2**32
