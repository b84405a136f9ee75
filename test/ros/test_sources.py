"""Replay sources (``datasets.open_source``): a video file, an image folder (OTB layout) and ROS 2
bags (MCAP and SQLite3) that the test writes with ``rosbags`` (raw Image in several encodings and
CompressedImage), streamed with their source times and read by index."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from ros_fakes import textured_target_frames

from siam_tracker_ros.datasets import open_source, read_boxes
from siam_tracker_ros.datasets.image_conversion import bgr_to_image_fields

FRAMES, BOXES = textured_target_frames(
    6, size=(48, 64), box_size=16, step=(2.0, 1.0), start=(4.0, 4.0)
)


def _write_bag(
    path: Path, storage: str, compressed: bool, encoding: str = "bgr8", topic: str = "/camera/image"
) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    Image = ts.types["sensor_msgs/msg/Image"]
    CImage = ts.types["sensor_msgs/msg/CompressedImage"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        msgtype = CImage.__msgtype__ if compressed else Image.__msgtype__
        conn = writer.add_connection(topic, msgtype, typestore=ts)
        for i, img in enumerate(FRAMES):
            t_ns = 1_000_000_000 + i * 100_000_000  # 10 Hz
            header = Header(stamp=Time(sec=t_ns // 10**9, nanosec=t_ns % 10**9), frame_id="cam")
            if compressed:
                ok, png = cv2.imencode(".png", img)
                msg = CImage(header=header, format="png", data=png.reshape(-1))
            else:
                fields = bgr_to_image_fields(img, encoding)
                fields["data"] = np.frombuffer(fields["data"], np.uint8)  # rosbags takes arrays
                msg = Image(header=header, **fields)
            writer.write(conn, t_ns, ts.serialize_cdr(msg, msgtype))


@pytest.mark.parametrize(
    ("storage", "compressed", "encoding"),
    [("mcap", False, "bgr8"), ("sqlite3", False, "rgb8"), ("mcap", True, "bgr8")],
)
def test_bag_source_yields_frames_and_rate(
    tmp_path: Path, storage: str, compressed: bool, encoding: str
) -> None:
    bag = tmp_path / "bag"
    _write_bag(bag, storage, compressed, encoding)
    src = open_source(bag)
    got = list(src.timed())
    assert len(got) == len(FRAMES)
    assert src.fps == pytest.approx(10.0)
    for (img, _), ref in zip(got, FRAMES, strict=True):
        np.testing.assert_array_equal(img, ref)
    assert [round(t, 3) for _, t in got] == [round(1.0 + 0.1 * i, 3) for i in range(6)]
    # random access, the way evaluation reads: forwards, then back (the bag is re-opened)
    assert len(src) == len(FRAMES)
    np.testing.assert_array_equal(src[4], FRAMES[4])
    assert src.time(4) == pytest.approx(1.4)
    np.testing.assert_array_equal(src[1], FRAMES[1])
    with pytest.raises(IndexError):
        src[len(FRAMES)]
    src.close()


def test_bag_topic_selection_errors(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    _write_bag(bag, "mcap", False)
    with pytest.raises(ValueError, match="no sensor_msgs"):
        open_source(bag, bag_topic="/other")
    assert len(list(open_source(bag, bag_topic="/camera/image").timed())) == len(FRAMES)


def test_image_folder_in_otb_layout_natural_order(tmp_path: Path) -> None:
    seq = tmp_path / "Seq"
    (seq / "img").mkdir(parents=True)
    for i, img in enumerate(FRAMES):
        cv2.imwrite(str(seq / "img" / f"{i + 1}.png"), img)  # 1..6: 10 would sort before 2
    (seq / "groundtruth_rect.txt").write_text(
        "\n".join("\t".join(str(int(v)) for v in b) for b in BOXES)
    )
    src = open_source(seq, fps=25.0)
    got = [img for img, _ in src.timed()]
    assert src.fps == 25.0 and len(got) == len(FRAMES)
    np.testing.assert_array_equal(got[3], FRAMES[3])
    np.testing.assert_array_equal(read_boxes(seq / "groundtruth_rect.txt"), BOXES)


def test_video_file(tmp_path: Path) -> None:
    path = tmp_path / "v.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (64, 48))
    for img in FRAMES:
        vw.write(img)
    vw.release()
    src = open_source(path)
    got = list(src.timed())
    assert src.fps == pytest.approx(15.0) and len(got) == len(FRAMES)
    assert np.abs(got[2][0].astype(int) - FRAMES[2]).mean() < 10  # lossy codec
    assert got[2][1] == pytest.approx(2 / 15.0)


def test_missing_or_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path / "nope.avi")
    with pytest.raises(ValueError, match="no images"):
        open_source(tmp_path)


def test_read_boxes_comma_and_space(tmp_path: Path) -> None:
    f = tmp_path / "gt.txt"
    f.write_text("1,2,3,4\n5 6 7 8\n\n")
    np.testing.assert_array_equal(read_boxes(f), [[1, 2, 3, 4], [5, 6, 7, 8]])
