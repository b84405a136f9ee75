"""Long-term dev material from the dev set's own footage: a recipe -> sequences in the dev-lt
layout (``scripts/make_lt_dev.py`` is the command line; ``config/lt_dev/recipe.yaml`` the
recipe).

Why generated: real long-term footage with absence labels is scarce, and the long-term tracker
must be measured on more returns, longer absences and other ways of leaving the view than it
offers. A virtual camera over dev-set footage (``sequences/`` = val and ``dev-videos/``) makes
them with exact labels. Never from ``train-videos/``: material made from training footage would
score the tracker on what it learned from, so a train source is refused with one error.

Output, per recipe entry, in ``<out>/<name>/`` (the layout of ``shared/data/dev-lt``):

- ``video.mp4``: FFV1 (lossless) in an MP4 container, written by OpenCV's FFmpeg backend at
  the source's frame rate; decoded frames are bit-identical to the rendered windows, so the
  material is reproducible from the recipe alone. (OpenCV's wheels have no H.264 encoder, and a
  lossy encode would add an encoder-version dependence.) ``--format png`` writes lossless
  ``img/0001.png ...`` instead (the OTB layout, about 2.5x larger).
- ``groundtruth_rect.txt``: ``x,y,w,h`` per frame in window pixels, ``0,0,0,0`` = absent.
- ``SOURCE.txt``: source, window, the recipe entry, the planned motions, counts, and the
  SHA-256 of the rendered frames (the reproducibility check: same recipe, same OpenCV build,
  same digest).
- ``EVAL_ONLY``: the marker every training reader refuses
  (:func:`~siam_tracker_ros.datasets.splits.forbid_eval_split`); also at ``<out>/`` itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from siam_tracker_ros.datasets import FrameRange, FrameSource, Sequence, load_sequence
from siam_tracker_ros.datasets.splits import (
    EVAL_ONLY_MARKER,
    GENERATED_SPLITS,
    write_eval_only_marker,
)
from siam_tracker_ros.simulation.motions import Motion, Script, motion_from_dict, plan
from siam_tracker_ros.simulation.virtual_camera import MIN_VISIBLE, VirtualCamera

__all__ = [
    "SOURCE_FOLDERS",
    "Entry",
    "Summary",
    "absent_stretches",
    "count_returns",
    "frames_digest",
    "generate",
    "generated_folders",
    "parse_recipe",
    "recipe_split",
    "render_entry",
    "resolve_source",
    "summarize_folder",
    "write_index",
]

#: The only data-root folders material may be generated from (the dev set).
SOURCE_FOLDERS = ("sequences", "dev-videos")
#: Folders generation refuses by name, anywhere in a source path.
TRAIN_FOLDERS = ("train-videos",)
#: An absence this long (frames) followed by a visible frame counts as a return.
RETURN_MIN_ABSENCE = 5

_ENTRY_KEYS = {
    "name",
    "source",
    "range",
    "window",
    "zoom",
    "seed",
    "motions",
    "follow_alpha",
    "shake",
    "margin",
    "min_visible",
    "border",
    "fill",
    "notes",
}


@dataclass(frozen=True)
class Entry:
    """One recipe entry, validated, with the recipe's defaults applied (``raw``: as written
    into SOURCE.txt)."""

    name: str
    source: str
    range: tuple[int, int] | None
    window: tuple[int, int]
    zoom: float
    seed: int
    motions: tuple[Motion, ...]
    follow_alpha: float
    shake: float
    margin: float
    min_visible: float
    border: str
    fill: tuple[int, int, int]
    notes: str
    raw: dict[str, Any]


def _pair_of_ints(value: Any, key: str) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{key}: must be two whole numbers, got {value!r}")
    return (int(value[0]), int(value[1]))


def _entry(raw: Mapping[str, Any], where: str) -> Entry:
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(_ENTRY_KEYS)}")
    for key in ("name", "source", "window", "seed", "motions"):
        if key not in raw:
            raise ValueError(f"{where}: missing {key!r}")
    name = str(raw["name"])
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"{where}.name: {name!r} is not a folder name")
    where = f"{where} ({name})"
    span = None if raw.get("range") is None else _pair_of_ints(raw["range"], f"{where}.range")
    if span is not None and not 1 <= span[0] <= span[1]:
        raise ValueError(f"{where}.range: must be 1-based [first, last] with first <= last")
    window = _pair_of_ints(raw["window"], f"{where}.window")
    motions = raw["motions"]
    if not isinstance(motions, list):
        raise ValueError(f"{where}.motions: must be a list")
    try:
        parsed = tuple(motion_from_dict(m) for m in motions)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}.motions: {exc}") from exc
    fill = raw.get("fill", [0, 0, 0])
    if not isinstance(fill, (list, tuple)) or len(fill) != 3:
        raise ValueError(f"{where}.fill: must be a B,G,R triple")
    seed = raw["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{where}.seed: must be a whole number >= 0")
    return Entry(
        name=name,
        source=str(raw["source"]).strip("/"),
        range=span,
        window=window,
        zoom=float(raw.get("zoom", 1.0)),
        seed=seed,
        motions=parsed,
        follow_alpha=float(raw.get("follow_alpha", 0.15)),
        shake=float(raw.get("shake", 1.0)),
        margin=float(raw.get("margin", 8.0)),
        min_visible=float(raw.get("min_visible", MIN_VISIBLE)),
        border=str(raw.get("border", "constant")),
        fill=(int(fill[0]), int(fill[1]), int(fill[2])),
        notes=str(raw.get("notes", "")),
        raw=dict(raw),
    )


def parse_recipe(recipe: Mapping[str, Any]) -> list[Entry]:
    """The entries of a recipe mapping ``{defaults: {...}, sequences: [{...}, ...]}``; each
    entry's keys override the defaults. Names must be unique. Errors name the entry and key."""
    if not isinstance(recipe, Mapping) or not isinstance(recipe.get("sequences"), list):
        raise ValueError("a recipe is a mapping with a 'sequences' list")
    unknown = sorted(set(recipe) - {"defaults", "sequences", "version", "notes", "split"})
    if unknown:
        raise ValueError(f"recipe: unknown top-level key(s) {unknown}")
    defaults = dict(recipe.get("defaults") or {})
    entries = []
    for i, item in enumerate(recipe["sequences"]):
        if not isinstance(item, Mapping):
            raise ValueError(f"sequences[{i}]: must be a mapping")
        entries.append(_entry({**defaults, **item}, f"sequences[{i}]"))
    names = [e.name for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"recipe: duplicate sequence name(s) {dupes}")
    return entries


def recipe_split(recipe: Mapping[str, Any]) -> str:
    """The generated split a recipe writes (its top-level ``split``, default ``dev-lt-gen``:
    the material the ``dev-lt`` split reads; ``dev-lt-check``: the held-out check set). The
    output folder follows from it, so generating one recipe never touches another's folder."""
    split = str(recipe.get("split", "dev-lt-gen")) if isinstance(recipe, Mapping) else ""
    folders = sorted(set(GENERATED_SPLITS.values()))
    if split not in folders:
        raise ValueError(f"recipe: split {split!r} is not one of {folders}")
    return split


def resolve_source(entry: Entry, data_root: str | Path) -> Path:
    """The source folder of ``entry`` under ``data_root``; a :class:`ValueError` for anything
    but a folder of ``sequences/`` or ``dev-videos/`` -- above all for training footage."""
    root = Path(data_root).resolve()
    path = (Path(data_root) / entry.source).resolve()
    named = Path(entry.source).parts + path.parts
    if any(part in TRAIN_FOLDERS for part in named):
        raise ValueError(
            f"recipe entry {entry.name}: source {entry.source} is training footage "
            "(train-videos/); long-term dev material is generated only from the dev set "
            "(sequences/ and dev-videos/), never from train"
        )
    allowed = [root / f for f in SOURCE_FOLDERS]
    if not any(a in path.parents for a in allowed):
        raise ValueError(
            f"recipe entry {entry.name}: source {entry.source} is not a sequence folder of "
            f"{' or '.join(f + '/' for f in SOURCE_FOLDERS)} under {root}"
        )
    if not path.is_dir():
        raise FileNotFoundError(f"recipe entry {entry.name}: {path}: no such sequence folder")
    return path


def _load(entry: Entry, data_root: str | Path) -> Sequence:
    seq = load_sequence(resolve_source(entry, data_root))
    if entry.range is None:
        return seq
    first, last = entry.range
    if last > len(seq):
        raise ValueError(f"recipe entry {entry.name}: range {entry.range} past {len(seq)} frames")
    return Sequence(
        name=seq.name,
        frames=FrameRange(seq.frames, first - 1, last - first + 1),
        groundtruth=seq.groundtruth[first - 1 : last],
        absent=seq.absent[first - 1 : last],
        layout=seq.layout,
        path=seq.path,
    )


def camera_for(entry: Entry, data_root: str | Path) -> VirtualCamera:
    """The virtual camera of ``entry`` over its (trimmed) source."""
    return VirtualCamera.from_sequence(
        _load(entry, data_root),
        size=entry.window,
        zoom=entry.zoom,
        border=entry.border,
        fill=entry.fill,
        min_visible=entry.min_visible,
    )


def render_entry(
    entry: Entry, data_root: str | Path
) -> tuple[VirtualCamera, Script, Iterator[tuple[np.ndarray, np.ndarray, bool]]]:
    """``(camera, script, frames)``: ``frames`` yields ``(image, box, absent)`` per frame."""
    camera = camera_for(entry, data_root)
    script = plan(
        camera,
        entry.motions,
        seed=entry.seed,
        follow_alpha=entry.follow_alpha,
        shake=entry.shake,
        margin=entry.margin,
    )

    def frames() -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
        for i in range(len(camera)):
            c = script.centres[i]
            view = camera.render(i, (float(c[0]), float(c[1])), script.occluders[i])
            yield view.image, view.box, view.absent

    return camera, script, frames()


def absent_stretches(absent: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` (0-based, inclusive) of each run of absent frames."""
    flags = np.concatenate([[False], np.asarray(absent, bool), [False]])
    edges = np.flatnonzero(np.diff(flags.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def count_returns(absent: np.ndarray, min_absence: int = RETURN_MIN_ABSENCE) -> int:
    """Returns of the target: absences of ``min_absence``+ frames followed by a visible frame."""
    n = len(absent)
    return sum(1 for a, b in absent_stretches(absent) if b - a + 1 >= min_absence and b < n - 1)


class _Digest:
    """SHA-256 over every frame's shape and BGR bytes, in order."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, image: np.ndarray) -> None:
        self._h.update(str(image.shape).encode())
        self._h.update(np.ascontiguousarray(image).tobytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def frames_digest(frames: SequenceABC[np.ndarray] | FrameSource) -> str:
    """The digest SOURCE.txt records, of any frames (e.g. read back from a written sequence)."""
    d = _Digest()
    for i in range(len(frames)):
        d.add(frames[i])
    return d.hexdigest()


@dataclass(frozen=True)
class Summary:
    """What was written for one entry."""

    name: str
    source: str
    frames: int
    size: tuple[int, int]
    absent: int
    stretches: list[tuple[int, int]]
    returns: int
    motions: list[str]
    digest: str
    path: Path


def _format_box(box: np.ndarray, absent: bool) -> str:
    return "0,0,0,0" if absent else ",".join(f"{v:.2f}" for v in box)


def _source_text(
    entry: Entry,
    camera: VirtualCamera,
    script: Script,
    absent: np.ndarray,
    digest: str,
    fmt: str,
    generator: str,
) -> str:
    stretches = absent_stretches(absent)
    span = f"frames {entry.range[0]}-{entry.range[1]}" if entry.range else "all frames"
    lines = [
        f"sequence: {entry.name}",
        f"derived from: {entry.source} under the shared data root ({span}; real footage of "
        "the dev set: see its SOURCE.txt for dataset, repo, licence)",
        f"how: virtual camera (siam_tracker_ros/simulation), window {camera.size[0]}x"
        f"{camera.size[1]} over the {camera.source_size[0]}x{camera.source_size[1]} source "
        f"at zoom {camera.zoom:g}, follow alpha {entry.follow_alpha:g}, shake "
        f"{entry.shake:g} px, margin {entry.margin:g} px, min visible {entry.min_visible:g}, "
        f"border {camera.border} {list(camera.fill)}, seed {entry.seed}",
        "motions (0-based frames of this sequence, as planned):",
        *(
            "  "
            + " ".join(f"{k}={v}" for k, v in seg.items() if k not in ("first", "last"))
            + f" frames {seg['first']}-{seg['last']}"
            for seg in script.segments
        ),
        "ground truth: the source box in window pixels, clipped to the window; 0,0,0,0 where "
        f"less than {entry.min_visible:.0%} of the box is visible (outside the window or under "
        "an occluder)",
        f"frames: {len(absent)}; absent: {int(absent.sum())} in {len(stretches)} stretch(es) "
        f"{', '.join(f'{a}-{b}' for a, b in stretches) or '-'}; returns (after "
        f"{RETURN_MIN_ABSENCE}+ absent frames): {count_returns(absent)}",
        (
            f"encoding: video.mp4 = FFV1 (lossless) in MP4 via OpenCV {cv2.__version__} "
            f"VideoWriter at {camera.fps:g} fps; decoded frames are bit-identical to the "
            "rendered windows"
            if fmt == "mp4"
            else "encoding: img/%04d.png, lossless PNG"
        ),
        f"frames sha256 (shape + BGR bytes of every rendered frame, in order): {digest}",
        f"generator: {generator}",
        "recipe entry (with the recipe defaults applied):",
        "  " + json.dumps(entry.raw, sort_keys=True),
    ]
    if entry.notes:
        lines.insert(3, f"notes: {entry.notes}")
    return "\n".join(lines) + "\n"


def generate(
    entry: Entry,
    data_root: str | Path,
    out_dir: str | Path,
    *,
    fmt: str = "mp4",
    verify: bool = True,
    generator: str = "siam_tracker_ros.simulation.lt_dev",
) -> Summary:
    """Render ``entry`` and write it to ``out_dir/<name>/`` (atomically: a partial folder is
    renamed into place; an existing folder is replaced only if it is generated material, i.e.
    holds the EVAL_ONLY marker). ``verify`` reads the written frames back and checks their
    digest against the rendered ones."""
    if fmt not in ("mp4", "png"):
        raise ValueError(f"format must be mp4 or png, got {fmt!r}")
    out = Path(out_dir)
    final = out / entry.name
    if final.exists() and not (final / EVAL_ONLY_MARKER).is_file():
        raise ValueError(f"{final} exists and is not generated material; not overwriting it")
    out.mkdir(parents=True, exist_ok=True)
    write_eval_only_marker(out)
    camera, script, frames = render_entry(entry, data_root)
    partial = out / f".{entry.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    digest = _Digest()
    boxes: list[str] = []
    absent = np.zeros(len(camera), bool)
    writer = None
    if fmt == "mp4":
        writer = cv2.VideoWriter(
            str(partial / "video.mp4"), cv2.VideoWriter.fourcc(*"FFV1"), camera.fps, camera.size
        )
        if not writer.isOpened():
            raise OSError("OpenCV cannot write FFV1 video here (no FFmpeg backend?); use png")
    else:
        (partial / "img").mkdir()
    try:
        for i, (image, box, gone) in enumerate(frames):
            digest.add(image)
            boxes.append(_format_box(box, gone))
            absent[i] = gone
            if writer is not None:
                writer.write(image)
            elif not cv2.imwrite(
                str(partial / "img" / f"{i + 1:04d}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 3]
            ):
                raise OSError(f"cannot write frame {i} of {entry.name}")
    finally:
        if writer is not None:
            writer.release()
        camera.frames.close()
    if absent[0]:
        raise ValueError(f"recipe entry {entry.name}: the target is absent on the first frame")
    (partial / "groundtruth_rect.txt").write_text("\n".join(boxes) + "\n")
    (partial / "SOURCE.txt").write_text(
        _source_text(entry, camera, script, absent, digest.hexdigest(), fmt, generator)
    )
    write_eval_only_marker(partial)
    if verify:
        written = load_sequence(partial, entry.name)
        back = frames_digest(written.frames)
        written.frames.close()
        if back != digest.hexdigest():
            raise OSError(f"{entry.name}: frames read back differ from the rendered ones")
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    return Summary(
        name=entry.name,
        source=entry.source,
        frames=len(absent),
        size=camera.size,
        absent=int(absent.sum()),
        stretches=absent_stretches(absent),
        returns=count_returns(absent),
        motions=[m.name for m in entry.motions],
        digest=digest.hexdigest(),
        path=final,
    )


def summarize_folder(folder: str | Path) -> Summary:
    """The :class:`Summary` of a generated sequence already on disk (from its ground truth and
    the recipe entry in its SOURCE.txt), so the index covers every generated folder."""
    d = Path(folder)
    entry_line = d.joinpath("SOURCE.txt").read_text().rstrip().splitlines()[-1]
    raw = json.loads(entry_line)
    seq = load_sequence(d, d.name)
    size = seq.frames[0].shape[1::-1]
    seq.frames.close()
    digest = ""
    for line in d.joinpath("SOURCE.txt").read_text().splitlines():
        if line.startswith("frames sha256"):
            digest = line.rsplit(" ", 1)[-1]
    return Summary(
        name=d.name,
        source=str(raw.get("source", "?")),
        frames=len(seq),
        size=(int(size[0]), int(size[1])),
        absent=int(seq.absent.sum()),
        stretches=absent_stretches(seq.absent),
        returns=count_returns(seq.absent),
        motions=[next(iter(m)) for m in raw.get("motions", [])],
        digest=digest,
        path=d,
    )


def generated_folders(out_dir: str | Path) -> list[Path]:
    """The generated sequence folders (those with the EVAL_ONLY marker) of ``out_dir``."""
    out = Path(out_dir)
    if not out.is_dir():
        return []
    return sorted(
        p
        for p in out.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / EVAL_ONLY_MARKER).is_file()
    )


def write_index(out_dir: str | Path, recipe: str) -> tuple[Path, list[Summary]]:
    """``<out>/INDEX.md``: one row per generated sequence on disk (like dev-lt/INDEX.md)."""
    summaries = [summarize_folder(p) for p in generated_folders(out_dir)]
    total = sum(s.frames for s in summaries)
    absent = sum(s.absent for s in summaries)
    returns = sum(s.returns for s in summaries)
    lines = [
        f"# {Path(out_dir).name}: generated long-term evaluation material (EVALUATION ONLY, "
        "never train on it)",
        "",
        f"{len(summaries)} sequences, {total:,} frames ({absent:,} target-absent, {returns} "
        f"returns after {RETURN_MIN_ABSENCE}+ absent frames), made by scripts/make_lt_dev.py "
        f"from {recipe} with the virtual camera over dev-set footage (sequences/, dev-videos/). "
        "Regenerate instead of copying; see each SOURCE.txt. Frame numbers are 0-based.",
        "",
        "| name | source | frames | size | absent | absent stretches | returns | motions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        spans = ", ".join(f"{a}-{b}" for a, b in s.stretches) or "-"
        lines.append(
            f"| {s.name} | {s.source} | {s.frames} | {s.size[0]}x{s.size[1]} | {s.absent} | "
            f"{spans} | {s.returns} | {', '.join(s.motions)} |"
        )
    path = Path(out_dir) / "INDEX.md"
    path.write_text("\n".join(lines) + "\n")
    return path, summaries
