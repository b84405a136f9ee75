"""The README's promises a user acts on first: its Python snippet runs as written from a folder
outside the repository (the bundled model is found inside the installed package), on a real video
and, with a clear message, on a missing one; its first screen asks for exactly the two set-up
commands; its shell commands use the venv's executables; and what it says about the CSV states and
the rosdep keys is what the code and rosdep.yaml hold. (The "Start on a live camera" commands are
run against the real node by test/ros/test_init_cli.py.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import shared_path

from siam_tracker_ros.core.cli import csv_states
from siam_tracker_ros.core.result import TrackState

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: where the snippet's target is in the first frame of the video it opens (its literal box)
SNIPPET_BOX = (120, 80, 40, 60)


def python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def _write_video(path: Path, n: int = 8) -> None:
    """A textured 40x60 target at the snippet's box, moving 3 px right per frame."""
    rng = np.random.default_rng(1)
    bg = cv2.resize(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (320, 240))
    tex = cv2.resize(
        rng.integers(0, 256, (15, 10, 3), dtype=np.uint8), (40, 60), interpolation=cv2.INTER_NEAREST
    )
    x0, y0, w, h = SNIPPET_BOX
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10.0, (320, 240))
    for i in range(n):
        frame = bg.copy()
        frame[y0 : y0 + h, x0 + 3 * i : x0 + 3 * i + w] = tex
        writer.write(frame)
    writer.release()


def _run_snippet(folder: Path) -> subprocess.CompletedProcess[str]:
    """The README's first Python snippet as written, then a line printing what it left behind,
    run in ``folder`` (not the repository: no relative path into it can work)."""
    snippets = python_snippets()
    assert snippets, "the README has no ```python snippet"
    snippet = snippets[0]
    assert str(SNIPPET_BOX).replace(" ", "") in snippet.replace(" ", ""), snippet
    script = folder / "snippet.py"
    script.write_text(snippet + "\nprint('RESULT', result.state.name, *result.box)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["SIAM_TRACKER_CACHE"] = str(folder / "cache")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_python_snippet_runs_from_any_folder(tmp_path: Path) -> None:
    _write_video(tmp_path / "video.mp4")
    res = _run_snippet(tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT"))
    state, *box = line.split()[1:]
    x, y, w, h = (float(v) for v in box)
    assert state == "TRACKING"
    # the last frame's target is at x0 + 3 * 7: the snippet really tracked it
    assert abs(x - (SNIPPET_BOX[0] + 21)) < 8 and abs(y - SNIPPET_BOX[1]) < 8, box


@pytest.mark.shared
def test_the_python_snippet_runs_on_a_real_video(tmp_path: Path) -> None:
    """A real camera video (OTB Football1, 74 frames of 352x288, from ../shared) as video.mp4;
    the snippet's box is just somewhere in it: this checks that the snippet runs through a real
    decoder's frames to the end, not what it tracks."""
    video = shared_path("data", "dev-videos", "otb_Football1", "video.mp4")
    (tmp_path / "video.mp4").symlink_to(video)
    res = _run_snippet(tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT"))
    assert line.split()[1] in TrackState.__members__, line


def test_the_python_snippet_says_clearly_when_the_video_cannot_be_read(tmp_path: Path) -> None:
    """No video.mp4: the snippet's own check of the first read() stops it with one line."""
    res = _run_snippet(tmp_path)
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr
    # the last line (model loading may log before it)
    assert res.stderr.strip().splitlines()[-1] == (
        "cannot read video.mp4: check the path and that OpenCV can decode it"
    ), res.stderr


def test_the_api_says_clearly_when_a_frame_is_none() -> None:
    """What the snippet would hit without its check: Tracker.init/track given None (an unread
    frame) raise one line that says so, not a NumPy error from deep inside."""
    from siam_tracker_ros.core.loading import load_tracker

    tracker = load_tracker()
    messages = []
    with pytest.raises(TypeError) as exc:
        tracker.init(None, SNIPPET_BOX)  # type: ignore[arg-type]
    messages.append(str(exc.value))
    tracker.init(np.zeros((240, 320, 3), np.uint8), SNIPPET_BOX)
    with pytest.raises(TypeError) as exc:
        tracker.track(None)  # type: ignore[arg-type]
    messages.append(str(exc.value))
    for message in messages:
        assert "\n" not in message and message.startswith("image is None: no frame was read")


def test_first_screen_has_exactly_the_two_set_up_commands() -> None:
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    assert first_block is not None
    commands = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines() if ln.strip()]
    assert commands == ["scripts/demo.sh", "scripts/test.sh"]
    assert text.index(first_block.group(0)) < 1500  # on the first screen


# ------------------------------------------------------------------ benchmark commands
def _frames(n: int) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """Small frames of a textured 16x16 square moving 1 px right per frame, and its boxes."""
    rng = np.random.default_rng(2)
    bg = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (96, 72))
    tex = cv2.resize(
        rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), (16, 16), interpolation=cv2.INTER_NEAREST
    )
    frames, boxes = [], []
    for i in range(n):
        x = 10 + (i % 60)
        frame = bg.copy()
        frame[28:44, x : x + 16] = tex
        frames.append(frame)
        boxes.append((x, 28, 16, 16))
    return frames, boxes


def _write(folder: Path, names: list[str], frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(names, frames, strict=True):
        cv2.imwrite(str(folder / name), frame)


def _lines(boxes: list[tuple[int, int, int, int]], polygon: bool = False) -> str:
    if polygon:  # VOT: 8-value polygons (x1,y1,...,x4,y4)
        return "".join(f"{x},{y},{x + w},{y},{x + w},{y + h},{x},{y + h}\n" for x, y, w, h in boxes)
    return "".join(f"{x},{y},{w},{h}\n" for x, y, w, h in boxes)


def make_benchmarks(data: Path) -> None:
    """Tiny folders laid out as each benchmark's download is."""
    frames, boxes = _frames(6)
    # OTB-100: <seq>/img/0001.jpg + groundtruth_rect.txt
    _write(data / "OTB100" / "Basketball" / "img", [f"{i:04d}.jpg" for i in range(1, 7)], frames)
    (data / "OTB100" / "Basketball" / "groundtruth_rect.txt").write_text(_lines(boxes))
    # LaSOT: <class>/<class>-<n>/img/00000001.jpg + groundtruth + occlusion/out-of-view flags
    seq = data / "LaSOT" / "airplane" / "airplane-1"
    _write(seq / "img", [f"{i:08d}.jpg" for i in range(1, 7)], frames)
    (seq / "groundtruth.txt").write_text(_lines(boxes))
    (seq / "full_occlusion.txt").write_text("0,0,0,0,0,0\n")
    (seq / "out_of_view.txt").write_text("0,0,0,0,0,0\n")
    (seq / "nlp.txt").write_text("white airplane\n")
    # GOT-10k: val/GOT-10k_Val_000001/00000001.jpg + groundtruth.txt + absence.label
    seq = data / "GOT-10k" / "val" / "GOT-10k_Val_000001"
    _write(seq, [f"{i:08d}.jpg" for i in range(1, 7)], frames)
    (seq / "groundtruth.txt").write_text(_lines(boxes))
    (seq / "absence.label").write_text("0\n" * 6)
    (data / "GOT-10k" / "val" / "list.txt").write_text("GOT-10k_Val_000001\n")
    # VOT2019: sequences/<name>/color/00000001.jpg + polygon groundtruth.txt
    seq = data / "vot2019" / "sequences" / "ants1"
    _write(seq / "color", [f"{i:08d}.jpg" for i in range(1, 7)], frames)
    (seq / "groundtruth.txt").write_text(_lines(boxes, polygon=True))
    (data / "vot2019" / "sequences" / "list.txt").write_text("ants1\n")
    # UAV123: data_seq/UAV123/<folder>/000001.jpg and anno/UAV123/<seq>.txt (uav6: frames 1-109)
    frames, boxes = _frames(109)
    _write(
        data / "UAV123" / "data_seq" / "UAV123" / "uav6",
        [f"{i:06d}.jpg" for i in range(1, 110)],
        frames,
    )
    (data / "UAV123" / "anno" / "UAV123").mkdir(parents=True)
    (data / "UAV123" / "anno" / "UAV123" / "uav6.txt").write_text(_lines(boxes))


def benchmark_commands() -> list[list[str]]:
    text = README.read_text()
    section = text[text.index("## Evaluate on the public benchmarks") :]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None
    return [shlex.split(ln) for ln in block.group(1).splitlines() if ln.strip()]


@pytest.mark.slow
def test_benchmark_commands_read_each_downloads_layout(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_benchmarks(data)
    commands = benchmark_commands()
    evaluated = []
    for argv in commands:
        argv = [a.replace("~/data", str(data)) for a in argv]
        if argv[0] == ".venv/bin/siam-tracker":
            out = Path(argv[argv.index("--out") + 1])
            # CSRT instead of the model and one-pass only: this checks the layouts, not accuracy
            argv = [
                sys.executable,
                "-m",
                "siam_tracker_ros.cli",
                *argv[1:],
                "--trackers",
                "csrt",
                "--experiments",
                "ope",
                "--workers",
                "1",
                "--no-progress",
            ]
            evaluated.append(Path(argv[argv.index("--data") + 1]).name)
        else:
            assert argv[:2] == [".venv/bin/python", "scripts/uav123_to_otb.py"], argv
            argv = [sys.executable, str(ROOT / argv[1]), *argv[2:]]
            out = None
        res = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, (argv, res.stdout[-2000:], res.stderr[-2000:])
        if out is not None:
            assert (tmp_path / out / "summary.json").is_file() or (out / "summary.json").is_file()
    assert evaluated == ["OTB100", "LaSOT", "GOT-10k", "sequences", "UAV123_otb"]


# ------------------------------------------------------------------ what the README states
#: executables that live in .venv (not on PATH until the venv is activated)
VENV_COMMANDS = ("siam-tracker", "tracker_node", "replay_node", "python", "python3", "pytest")


def test_shell_blocks_call_the_venvs_executables() -> None:
    """A ```bash command runs one of the venv's executables as ``.venv/bin/NAME``, or after
    ``source .venv/bin/activate`` in the same block: a bare ``siam-tracker`` is "command not
    found" in a fresh shell."""
    bare = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL):
        activated = False
        for line in block.splitlines():
            words = line.split("#")[0].split()
            if not words:
                continue
            activated |= words[:2] == ["source", ".venv/bin/activate"]
            if words[0] in VENV_COMMANDS and not activated:
                bare.append(line.strip())
    assert not bare, bare
    assert "source .venv/bin/activate" in README.read_text()  # and the README says how


def test_csv_states_are_the_ones_the_tracker_reports() -> None:
    """The README's ``--csv`` paragraph names every value of the ``state`` column, and those are
    ``init`` plus the tracker's states (core.result.TrackState)."""
    text = README.read_text()
    start = text.index("`--csv` writes one row per frame")
    paragraph = text[start : text.index("\n\n", start)]
    states = csv_states()
    assert states[0] == "init" and set(states[1:]) == {
        s.name.lower() for s in TrackState if s != TrackState.IDLE
    }
    missing = [s for s in states if f"`{s}`" not in paragraph]
    assert not missing, (missing, paragraph)


def test_rosdep_keys_named_are_the_files() -> None:
    """The README names exactly the rosdep keys rosdep.yaml defines (no count to fall behind)."""
    keys = set(yaml.safe_load((ROOT / "rosdep.yaml").read_text()))
    text = README.read_text()
    start = text.index("`rosdep.yaml` defines")
    sentence = text[start : text.index("(pip installs", start)]
    named = set(re.findall(r"`(python3-[a-z0-9-]+)`", sentence))
    assert named == keys, (named, keys)
