"""The parameter values a process was given on its ROS command line, read as rcl reads them.

Why a node needs this: rcl keeps one slot per type for each parameter, and rclpy reads the slots
in a fixed order (bool, integer, double, string), not in the order the values were given. So
with ``--params-file config/tracker.yaml -p output.min_score:=abc`` the file's double wins over
the later string and the override is dropped without a word (a plain rclpy node with ``a: 0.0``
in a file and ``-p a:=abc`` reads 0.0). :func:`given_parameters` lists what the command line
really said, value by value, so :mod:`~siam_tracker_ros.ros.node_parameters` can compare it with
what rclpy declared and refuse a wrong-typed override by name.

Typing follows rcl (``rcl_yaml_param_parser``'s ``get_value``), not PyYAML's YAML 1.1 rules: a
quoted scalar is a string; ``y/yes/true/on`` (and the capitalised forms) are bools; what
``strtol(s, 0)`` reads whole is an integer (``0x1f``, ``017``); what ``strtod`` reads whole is a
double (``1e-3``, ``.inf``, ``nan``); anything else is a string. No rclpy import: plain data,
unit-tested without ROS.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "GivenValue",
    "given_parameters",
    "load_params_file",
    "node_arguments",
    "node_matches",
    "params_file_problem",
    "params_file_values",
    "rcl_value",
    "ros_arguments",
]

#: flags of a ``--ros-args`` section followed by a value that is not a parameter
_VALUE_FLAGS = {"-r", "--remap", "-e", "--enclave", "--log-level", "--log-config-file"}
_TRUE = {"Y", "y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_FALSE = {"N", "n", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_SPECIAL_FLOATS = {
    f"{sign}.{word}": float(f"{sign}{word.lower()}")
    for sign in ("", "+", "-")
    for word in ("inf", "Inf", "INF")
} | {".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan}
_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_DEC_FLOAT = re.compile(
    r"[+-]?(?:(?P<m>[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan(?:\(\w*\))?)",
    re.IGNORECASE,
)
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?"
)
_INT64 = 2**63


@dataclass(frozen=True)
class GivenValue:
    """One value the command line gave a parameter, and where (``-p`` or a params file)."""

    value: Any
    source: str


def rcl_scalar(text: str, quoted: bool = False) -> Any:
    """A YAML scalar typed as rcl types it (see the module doc)."""
    if quoted:
        return text
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    m = _INT.fullmatch(text)
    if m:
        digits = m.group(2)
        base = 16 if digits[:2] in ("0x", "0X") else 8 if digits[0] == "0" else 10
        value = int(digits, base) * (-1 if m.group(1) == "-" else 1)
        if -_INT64 <= value < _INT64:  # else strtol overflows (ERANGE): strtod reads it
            return value
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    m = _DEC_FLOAT.fullmatch(text)
    if m or _HEX_FLOAT.fullmatch(text):
        body = text.lstrip("+-")
        number = (
            float.fromhex(text)
            if body[:2] in ("0x", "0X")
            else math.nan
            if body[:3].lower() == "nan"
            else float(text)
        )
        mantissa = (m.group("m") if m else None) or ""
        overflow = math.isinf(number) and "inf" not in body.lower()
        underflow = number == 0.0 and any(c in "123456789" for c in mantissa)
        if not (overflow or underflow):  # strtod's ERANGE: rcl keeps the text as a string
            return number
    return text


def _typed(node: yaml.Node) -> Any:
    """A YAML node's value as rcl types it; a mapping (nesting, not a value) gives None."""
    if isinstance(node, yaml.ScalarNode):
        return rcl_scalar(str(node.value), node.style in ("'", '"'))
    if isinstance(node, yaml.SequenceNode):
        return [_typed(item) for item in node.value]
    return None


def rcl_value(text: str) -> Any:
    """The value after ``-p name:=`` as rcl types it (a YAML scalar or flow sequence); None for
    an empty value (rcl refuses it before any node exists)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return rcl_scalar(text)
    return None if node is None else _typed(node)


def ros_arguments(argv: Sequence[str]) -> Iterator[tuple[str, str]]:
    """``(flag, value)`` of every ``-p``/``--param`` and ``--params-file`` inside the
    ``--ros-args`` sections of ``argv`` (a section ends at ``--`` or the next ``--ros-args``)."""
    inside = False
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--ros-args":
            inside = True
        elif token == "--":
            inside = False
        elif inside and i + 1 < len(tokens):
            if token in ("-p", "--param", "--params-file"):
                yield ("-p" if token != "--params-file" else token), tokens[i + 1]
                i += 1
            elif token in _VALUE_FLAGS:
                i += 1
        i += 1


def node_matches(pattern: str, node_fqn: str) -> bool:
    """Whether a params-file section or ``-p`` node prefix (``/**``, ``tracker_node``,
    ``/ns/*``, ``/**/tracker_node``) applies to the node ``node_fqn`` (``/ns/name``)."""
    parts = [p for p in pattern.split("/") if p]
    regex = ""
    for part in parts:
        if part == "**":
            regex += r"(?:/[^/]+)*"
        else:
            regex += "/" + re.escape(part).replace(r"\*", "[^/]*")
    return re.fullmatch(regex or "/", node_fqn) is not None


def _param_sections(node: yaml.Node, path: list[str]) -> Iterator[tuple[str, yaml.Node]]:
    """``(node name pattern, ros__parameters node)`` of every section of a params file."""
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        name = str(key.value)
        if name == "ros__parameters":
            yield "/" + "/".join(p.strip("/") for p in path if p.strip("/")), value
        else:
            yield from _param_sections(value, [*path, name])


def _flatten(node: yaml.Node, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = f"{prefix}.{key.value}" if prefix else str(key.value)
            yield from _flatten(value, name)
    elif prefix:
        yield prefix, _typed(node)


def params_file_values(path: str | Path, node_fqn: str) -> list[tuple[str, Any]]:
    """``(name, value)`` of every parameter a params file gives the node ``node_fqn``, in file
    order (a later section repeats a name it overrides); values typed as rcl types them."""
    root = yaml.compose(Path(path).read_text(), Loader=yaml.SafeLoader)
    out: list[tuple[str, Any]] = []
    if root is None:
        return out
    for pattern, section in _param_sections(root, []):
        if node_matches(pattern, node_fqn):
            out.extend(_flatten(section, ""))
    return out


def load_params_file(path: str | Path, node_name: str = "tracker_node") -> dict[str, Any]:
    """Flattened parameters a params file gives the node ``/<node_name>`` (``/**`` and its own
    sections; the later one wins), typed as rcl types them."""
    return dict(params_file_values(path, "/" + node_name.lstrip("/")))


def given_parameters(argv: Sequence[str], node_fqn: str) -> dict[str, list[GivenValue]]:
    """Every value the ROS command line ``argv`` gives each parameter of the node
    ``node_fqn``, in command-line order: ``--params-file`` sections that match the node and
    ``-p [node:]name:=value`` rules (unreadable files are skipped: rcl refused them already)."""
    out: dict[str, list[GivenValue]] = {}
    for flag, arg in ros_arguments(argv):
        if flag == "--params-file":
            try:
                values = params_file_values(arg, node_fqn)
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            for name, value in values:
                out.setdefault(name, []).append(GivenValue(value, f"params file {arg}"))
            continue
        rule, sep, text = arg.partition(":=")
        if not sep:
            continue
        target, _, name = rule.rpartition(":")
        if target and not node_matches(target, node_fqn):
            continue
        value = rcl_value(text)
        if value is not None:
            out.setdefault(name, []).append(GivenValue(value, "-p"))
    return out


def node_arguments(argv: Sequence[str] | None, node_kwargs: Mapping[str, Any]) -> list[str]:
    """The command line rclpy reads for a node created with ``node_kwargs``: the process
    arguments (``argv``, default ``sys.argv``, as ``rclpy.init`` takes them) unless
    ``use_global_arguments=False``, then the node's own ``cli_args``."""
    import sys

    args = list(sys.argv if argv is None else argv)
    if not node_kwargs.get("use_global_arguments", True):
        args = []
    return args + ["--"] + list(node_kwargs.get("cli_args") or [])


def params_file_problem(argv: Sequence[str]) -> str | None:
    """Why a ``--params-file`` of the ROS arguments cannot be read (missing, not YAML), or
    None. Checked before ``rclpy.init``, whose own refusal is a traceback after an rcl error
    line."""
    for flag, value in ros_arguments(argv):
        if flag != "--params-file":
            continue
        path = Path(value)
        if not path.is_file():
            return f"params file {value} not found"
        try:
            yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            what = getattr(exc, "problem", None) or type(exc).__name__
            return f"params file {value} is not valid YAML ({what}{line})"
    return None
