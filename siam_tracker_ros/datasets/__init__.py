"""Reading tracking data, one way, for evaluation, training and replay.

One box parser (:func:`read_boxes`), one frame order (:func:`natural_key`), one shared-folder
lookup (:func:`shared_dir`), one frame-source type (:class:`FrameSource`: image files, videos,
ROS 2 bags) and one split policy (:mod:`~siam_tracker_ros.datasets.splits`: train on
``train-videos/`` only; ``sequences/`` (val) and ``dev-videos/`` are evaluation only and every
training reader refuses them). Evaluation loads :class:`Sequence` objects (lazily decoded frames
+ ground truth) with :func:`load_dataset`; training loads :class:`TrackSequence` objects (frame
paths + boxes) with the ``read_*`` readers; replay opens any source with :func:`open_source`.

Layering: this package imports numpy, OpenCV and (for bags) ``rosbags`` only; its duck-typed
``sensor_msgs`` pixel decoders (``image_conversion.py``, no rclpy) serve bags and the node alike;
``evaluation``, ``training``, ``simulation`` and ``ros`` import it.
"""

from __future__ import annotations

from siam_tracker_ros.datasets.boxes import read_boxes, read_flags
from siam_tracker_ros.datasets.frame_source import FrameRange
from siam_tracker_ros.datasets.frames import (
    FrameSource,
    ImageFrames,
    VideoFrames,
    count_frames,
    open_source,
)
from siam_tracker_ros.datasets.paths import (
    IMAGE_EXTS,
    VIDEO_EXTS,
    data_dir,
    list_images,
    natural_key,
    shared_dir,
)
from siam_tracker_ros.datasets.sequences import (
    Sequence,
    detect_layout,
    load_dataset,
    load_sequence,
    sequence_folders,
)
from siam_tracker_ros.datasets.splits import (
    EVAL_ONLY_FOLDERS,
    SPLITS,
    forbid_eval_split,
    split_folders,
)
from siam_tracker_ros.datasets.tracks import (
    TrackSequence,
    default_cache_dir,
    read_coco,
    read_got10k,
    read_image_folder_sequences,
    read_lasot,
    read_vid,
    read_video_sequences,
)

__all__ = [
    "EVAL_ONLY_FOLDERS",
    "IMAGE_EXTS",
    "SPLITS",
    "VIDEO_EXTS",
    "FrameRange",
    "FrameSource",
    "ImageFrames",
    "Sequence",
    "TrackSequence",
    "VideoFrames",
    "count_frames",
    "data_dir",
    "default_cache_dir",
    "detect_layout",
    "forbid_eval_split",
    "list_images",
    "load_dataset",
    "load_sequence",
    "natural_key",
    "open_source",
    "read_boxes",
    "read_coco",
    "read_flags",
    "read_got10k",
    "read_image_folder_sequences",
    "read_lasot",
    "read_vid",
    "read_video_sequences",
    "sequence_folders",
    "shared_dir",
    "split_folders",
]
