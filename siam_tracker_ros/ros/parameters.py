"""Node parameters as plain data: one :class:`ParamSpec` per parameter, a :class:`ParamTable` per
node, and the node's settings as one frozen dataclass (:class:`Settings`) built from it.

A spec carries what becomes the ROS ``ParameterDescriptor`` (description, type, range or choices,
so ``ros2 param describe`` documents the node) and whether the value may change at run time.
Everything here is ROS-free (the descriptor's message type is imported only when asked for), so a
node's table is unit-tested without ROS processes and its params file is checked against it.
Binding a table to a running node (declaration, start-up overrides, run-time changes) is
:mod:`~siam_tracker_ros.ros.node_parameters`; what the command line gave is
:mod:`~siam_tracker_ros.ros.ros_args`.

A new node declares its parameters with a few lines::

    TABLE = ParamTable((ParamSpec("gain", 1.0, "Yaw gain.", dynamic=True, range=(0, 5)),),
                       fixed_reason="the subscriptions are set up once")

    @settings_for(TABLE)
    @dataclass(frozen=True)
    class FollowSettings(Settings):
        gain: float
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from siam_tracker_ros.datasets import shared_dir

__all__ = [
    "PACKAGE_ROOT",
    "ParamSpec",
    "ParamTable",
    "Settings",
    "StartupError",
    "Value",
    "resolve_path",
    "settings_for",
]

#: The repository / installed package root (``config/`` and the bundled weights are found from it).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]

Value = bool | int | float | str
_ROS_TYPE = {bool: "bool", int: "integer", float: "double", str: "string"}


class StartupError(ValueError):
    """A node cannot start with these settings; the message is the one line to show: which
    parameter or file, what is wrong, what to do."""


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: ROS ``name`` (dots for groups), ``default`` (its type is the
    parameter's type), a description, and whether it may change at run time (``dynamic``);
    optional numeric ``range`` (inclusive), string ``choices`` or a string ``pattern``."""

    name: str
    default: Value
    description: str
    dynamic: bool
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None

    @property
    def attr(self) -> str:
        """The settings attribute: the name with dots as ``_``."""
        return self.name.replace(".", "_")

    @property
    def ros_type(self) -> str:
        """The ROS name of the parameter's type, as ``ros2 param describe`` prints it."""
        return _ROS_TYPE[type(self.default)]

    def constraints(self) -> str:
        if self.choices:
            return "one of: " + ", ".join(self.choices)
        if self.pattern:
            return f"must match {self.pattern}"
        return "" if self.dynamic else "read at start-up; changing it needs a restart"

    def descriptor(self) -> Any:
        """The ROS ``ParameterDescriptor`` (imported lazily: this module stays rclpy-free)."""
        from rcl_interfaces.msg import (
            FloatingPointRange,
            IntegerRange,
            ParameterDescriptor,
            ParameterType,
        )

        types = {
            bool: ParameterType.PARAMETER_BOOL,
            int: ParameterType.PARAMETER_INTEGER,
            float: ParameterType.PARAMETER_DOUBLE,
            str: ParameterType.PARAMETER_STRING,
        }
        desc = ParameterDescriptor(
            name=self.name,
            type=types[type(self.default)],
            description=self.description,
            additional_constraints=self.constraints(),
        )
        if self.range is not None and isinstance(self.default, bool):
            raise TypeError(f"{self.name}: a bool parameter has no range")
        if self.range is not None and isinstance(self.default, int):
            desc.integer_range = [
                IntegerRange(from_value=int(self.range[0]), to_value=int(self.range[1]), step=1)
            ]
        elif self.range is not None and isinstance(self.default, float):
            desc.floating_point_range = [
                FloatingPointRange(
                    from_value=float(self.range[0]), to_value=float(self.range[1]), step=0.0
                )
            ]
        return desc

    def coerce(self, value: Any) -> Value:
        """``value`` as this parameter's type, or ``ValueError`` with one line that names the
        parameter, says what is wrong and shows a valid setting. An integer is accepted for a
        double (``-p output.min_score:=1`` is read as an integer by ROS)."""
        if isinstance(self.default, float) and type(value) is int:
            value = float(value)
        if type(value) is not type(self.default):
            got = _ROS_TYPE.get(type(value), type(value).__name__)
            raise ValueError(
                f"parameter {self.name}:={value!r} is a {got}, but {self.name} is a "
                f"{self.ros_type}; set e.g. -p {self.name}:={self.example()}"
            )
        reason = self.check(value)
        if reason:
            raise ValueError(f"parameter {reason}; set e.g. -p {self.name}:={self.example()}")
        return value

    def example(self) -> str:
        """A valid value as it is written after ``-p name:=`` (the default where it is valid,
        e.g. not for a type-only spec whose default is a placeholder)."""
        value: Value = self.default
        if self.check(value) is not None:
            if self.choices:
                value = self.choices[0]
            elif self.range is not None:
                value = type(self.default)(self.range[0])
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, str):
            return value or "''"
        return repr(value)

    def check(self, value: Any) -> str | None:
        """Reason why ``value`` is invalid, or None (ranges are also enforced by rclpy)."""
        if type(value) is not type(self.default):
            return (
                f"{self.name} must be a {type(self.default).__name__}, got {type(value).__name__}"
            )
        if (
            self.range is not None
            and isinstance(value, (int, float))
            and not (self.range[0] <= value <= self.range[1])
        ):
            return f"{self.name}={value} outside [{self.range[0]}, {self.range[1]}]"
        if self.choices is not None and value not in self.choices:
            return f"{self.name}={value!r}: {self.constraints()}"
        if self.pattern is not None and not re.fullmatch(self.pattern, str(value)):
            return f"{self.name}={value!r}: {self.constraints()}"
        return None


class ParamTable:
    """A node's parameters, in declaration order, with the rules that hold for all of them.

    ``fixed_reason`` says why the start-up-only parameters (``dynamic=False``) cannot change
    while the node is configured; it goes into the refusal a user sees."""

    def __init__(self, specs: Iterable[ParamSpec], fixed_reason: str) -> None:
        self.specs = tuple(specs)
        self.by_name: dict[str, ParamSpec] = {s.name: s for s in self.specs}
        if len(self.by_name) != len(self.specs):
            raise ValueError("parameter names must be unique")
        if len({s.attr for s in self.specs}) != len(self.specs):
            raise ValueError("parameter names must stay unique with dots as '_'")
        self.fixed_reason = fixed_reason

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> ParamSpec:
        return self.by_name[name]

    def values(self, given: Mapping[str, Any]) -> dict[str, Value]:
        """Every parameter's value: ``given`` where set, else the default; ``ValueError`` for
        an unknown name or an invalid value."""
        unknown = set(given) - set(self.by_name)
        if unknown:
            raise ValueError(f"unknown parameters: {sorted(unknown)}")
        out: dict[str, Value] = {}
        for spec in self.specs:
            value = given.get(spec.name, spec.default)
            reason = spec.check(value)
            if reason:
                raise ValueError(reason)
            out[spec.name] = value
        return out

    def check_update(
        self, current: Mapping[str, Any], updates: Mapping[str, Any], configured: bool = True
    ) -> str | None:
        """Why a run-time change must be rejected, or None to accept it. While a lifecycle
        node is unconfigured (``configured=False``) the start-up settings may change too: that
        is how a bad value is fixed before ``configure`` is tried again."""
        for name, value in updates.items():
            spec = self.by_name.get(name)
            if spec is None:
                return f"unknown parameter {name}"
            reason = spec.check(value)
            if reason:
                return reason
            if configured and not spec.dynamic and value != current.get(name, spec.default):
                return (
                    f"{name} cannot change at run time ({self.fixed_reason}); deactivate and "
                    "clean up the node (ros2 lifecycle set), set it, configure again, or "
                    "restart the node with the new value"
                )
        return None

    def settings_class(self, name: str) -> type[Settings]:
        """A frozen :class:`Settings` dataclass with one field per parameter, typed by its
        default (for nodes that need no static attribute types; :func:`settings_for` binds a
        hand-written one, which mypy checks)."""
        cls = dataclasses.make_dataclass(
            name, [(s.attr, type(s.default)) for s in self.specs], bases=(Settings,), frozen=True
        )
        return settings_for(self)(cls)


class Settings:
    """Base of a node's settings: one frozen dataclass, attribute = parameter name with dots as
    ``_``, bound to its :class:`ParamTable` by :func:`settings_for`. Immutable, so the worker
    thread reads one consistent set while the executor thread swaps in a new one."""

    table: ClassVar[ParamTable]

    @classmethod
    def from_values(cls: type[_S], values: Mapping[str, Any]) -> _S:
        """Build from ``{ros_name: value}``; missing names take their defaults (``ValueError``
        for an unknown name or an invalid value)."""
        checked = cls.table.values(values)
        return cast(Any, cls)(**{cls.table[name].attr: v for name, v in checked.items()})

    def as_values(self) -> dict[str, Value]:
        """``{ros_name: value}`` of every parameter."""
        return {spec.name: getattr(self, spec.attr) for spec in self.table}


_S = TypeVar("_S", bound=Settings)


def settings_for(table: ParamTable) -> Callable[[type[_S]], type[_S]]:
    """Class decorator binding a frozen settings dataclass to ``table``; its fields must be
    exactly the table's attributes (checked at import, so a new parameter cannot be half
    added)."""

    def bind(cls: type[_S]) -> type[_S]:
        got = {f.name for f in dataclasses.fields(cast(Any, cls))}
        want = {s.attr for s in table}
        if got != want:
            raise TypeError(
                f"{cls.__name__} fields differ from its parameter table: "
                f"missing {sorted(want - got)}, extra {sorted(got - want)}"
            )
        cls.table = table
        return cls

    return bind


def resolve_path(path: str) -> Path | None:
    """A file parameter as a path: ``$VARS`` expanded (``SIAM_SHARED_DIR`` defaults to
    ``<repo>/../shared``), a relative path resolved against the working directory, then the
    package root, then the installed share directory; None for ``""``."""
    if not path:
        return None
    env = dict(os.environ)
    env.setdefault("SIAM_SHARED_DIR", str(shared_dir()))
    expanded = re.sub(
        r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), path
    )
    p = Path(expanded).expanduser()
    if p.is_absolute():
        return p
    for base in (Path.cwd(), PACKAGE_ROOT, _share_dir()):
        if base is not None and (base / p).exists():
            return base / p
    return PACKAGE_ROOT / p


def _share_dir() -> Path | None:
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("siam_tracker_ros"))
    except Exception:  # not installed as a ROS package (pip-only path)
        return None
