"""A :class:`~siam_tracker_ros.ros.parameters.ParamTable` bound to a running rclpy node: the one
place where parameters are declared, start-up overrides checked and run-time changes accepted or
refused, for every node of the package.

What a node gets from :class:`NodeParameters`:

- every parameter of its table declared with its descriptor (``ros2 param describe``);
- start-up overrides (``-p``, ``--params-file``, launch files) checked against the table: a
  wrong type or range becomes ONE line naming the parameter in :attr:`NodeParameters.problems`
  (the node's ``configure`` refuses while any is left; setting the parameter clears it), not an
  rclpy traceback; and the command line itself is read back (:mod:`~siam_tracker_ros.ros.ros_args`)
  so that an override rclpy dropped silently (a wrong-typed ``-p`` next to a params file that
  sets the same name) is refused the same way;
- an unknown name warned about once and dropped;
- run-time changes checked (dynamic vs start-up-only, ranges, choices) and the new settings
  handed to the node's ``on_change`` as one immutable value;
- "late" parameters (:class:`LateParameters`: e.g. the tracker's ``tracker.*``, whose defaults
  are the loaded model's own values) kept from the command line until the node declares them.

The node is created with ``automatically_declare_parameters_from_overrides=True`` so that every
override is visible here and can be checked before the table is declared.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from siam_tracker_ros.ros.parameters import ParamSpec, Settings, Value
from siam_tracker_ros.ros.ros_args import GivenValue, given_parameters, node_arguments

__all__ = ["ROS_OWN_PARAMS", "LateParameters", "NodeParameters", "ParameterizedNode"]

#: Parameters rclpy itself declares on every node (never reported as unknown, never refused).
ROS_OWN_PARAMS = ("use_sim_time", "start_type_description_service")
_ROS_OWN_PREFIXES = ("qos_overrides.",)

S = TypeVar("S", bound=Settings)


@dataclass(frozen=True)
class LateParameters:
    """Parameters a node declares later than start-up, under one ``prefix`` (their defaults
    are only known then, e.g. from a loaded model). ``specs`` gives each one's type, range and
    words (the default is only a placeholder of the right type); ``apply`` takes run-time
    changes ``{name: value}`` and returns why they are refused, or None."""

    prefix: str
    specs: Mapping[str, ParamSpec]
    apply: Callable[[dict[str, Any]], str | None]


class NodeParameters(Generic[S]):
    """The table of ``settings_type`` declared on ``node``; see the module doc.

    ``argv`` is what ``rclpy.init`` was given (default ``sys.argv``) and ``node_kwargs`` what
    the node was created with (its ``cli_args``, ``parameter_overrides``). ``configured`` tells
    whether start-up-only parameters are locked (a configured lifecycle node); ``on_change``
    gets ``(old, new)`` settings after every accepted change."""

    def __init__(
        self,
        node: Node,
        settings_type: type[S],
        *,
        argv: Sequence[str] | None = None,
        node_kwargs: Mapping[str, Any] | None = None,
        late: LateParameters | None = None,
        configured: Callable[[], bool] = lambda: True,
        on_change: Callable[[S, S], None] | None = None,
    ) -> None:
        self._node = node
        self._type = settings_type
        self._table = settings_type.table
        self._late = late
        self._configured = configured
        self._on_change = on_change
        self._quiet = False
        #: start-up problems by parameter name, one line each; the node refuses to configure
        #: while any is left (setting the parameter clears its entry)
        self.problems: dict[str, str] = {}
        #: overrides of late parameters, kept until :meth:`declare_late`
        self.late_overrides: dict[str, Any] = {}
        #: late parameters a user set at run time: their values outlive a new model's defaults
        self._late_set_by_user: set[str] = set()
        kwargs = dict(node_kwargs or {})
        in_code = {p.name for p in kwargs.get("parameter_overrides") or []}
        given = self._take_overrides()
        command_line = given_parameters(
            node_arguments(argv if argv is not None else sys.argv, kwargs),
            node.get_fully_qualified_name(),
        )
        for name, value in {**given, **self.late_overrides}.items():
            if name not in in_code:  # values set in code win over the command line in rclpy
                self._compare(name, value, command_line.get(name, []))
        values: dict[str, Value] = {}
        for spec in self._table:
            value = spec.default
            if spec.name in given:
                try:
                    value = spec.coerce(given[spec.name])
                except ValueError as exc:
                    self.problems.setdefault(spec.name, str(exc))
            node.declare_parameter(spec.name, value, spec.descriptor(), ignore_override=True)
            values[spec.name] = value
        self._settings: S = settings_type.from_values(values)
        node.add_on_set_parameters_callback(self._on_set)
        node.add_post_set_parameters_callback(self._after_set)

    @property
    def settings(self) -> S:
        """The current values as one immutable object."""
        return self._settings

    def report_problems(self) -> bool:
        """One ``cannot configure: ...`` error line of the node per start-up problem left; True
        when there is any (the node's ``on_configure`` then fails)."""
        for line in self.problems.values():
            self._node.get_logger().error(f"cannot configure: {line}")
        return bool(self.problems)

    # ------------------------------------------------------------------ start-up
    def _take_overrides(self) -> dict[str, Any]:
        """Undeclare what rclpy declared from the overrides: table values are returned (to be
        checked, then declared with their descriptors), late ones kept, unknown ones warned
        about by name."""
        node, late = self._node, self._late
        given: dict[str, Any] = {}
        for name in node.list_parameters([], 0).names:
            if name in ROS_OWN_PARAMS or name.startswith(_ROS_OWN_PREFIXES):
                continue
            value = node.get_parameter(name).value
            node.undeclare_parameter(name)
            if name in self._table:
                given[name] = value
            elif late is not None and name in late.specs:
                self.late_overrides[name] = value
            elif late is not None and name.startswith(late.prefix):
                node.get_logger().warning(
                    f"unknown parameter '{name}' ignored: the {late.prefix}* settings are "
                    + ", ".join(sorted(late.specs))
                )
            else:
                node.get_logger().warning(
                    f"unknown parameter '{name}' ignored: {node.get_name()} has no such "
                    "parameter (see `ros2 param list` or its params file for the names)"
                )
        return given

    def _spec(self, name: str) -> ParamSpec:
        if name in self._table:
            return self._table[name]
        assert self._late is not None
        return self._late.specs[name]

    def _compare(self, name: str, declared: Any, given: list[GivenValue]) -> None:
        """Record a problem when the last value the command line gave ``name`` is invalid, or
        of another type than the value rclpy kept (rclpy prefers bool, integer, double, string
        in that order, so an earlier value of another type can win over it silently)."""
        if not given:
            return
        spec, last = self._spec(name), given[-1]
        try:
            wanted = spec.coerce(last.value)
        except ValueError as exc:
            self.problems[name] = str(exc)  # the same line as a plain wrong-typed override
            return
        try:
            kept = spec.coerce(declared)
        except ValueError:
            return  # reported when declared
        if type(declared) is not type(last.value) and kept != wanted:
            self.problems[name] = (
                f"parameter {name}:={last.value!r} ({last.source}) was not applied: ROS kept "
                f"{declared!r}, a {type(declared).__name__} given elsewhere (rclpy prefers "
                f"bool, integer, double, string); give {name} one type everywhere, e.g. "
                f"-p {name}:={spec.example()}"
            )

    # ------------------------------------------------------------------ late parameters
    def late_value(self, name: str, default: Any) -> Any:
        """A late parameter's value: the one a user set at run time (before an earlier
        cleanup), else the start-up override, else ``default`` (the loaded model's own: a
        value that was only the previous model's default does not outlive it)."""
        if name in self._late_set_by_user and self._node.has_parameter(name):
            return self._node.get_parameter(name).value
        return self.late_overrides.get(name, default)

    def declare_late(self, values: Mapping[str, Value]) -> None:
        """Declare the late parameters not declared yet with ``values`` (checked by their
        specs, an integer passing for a double) and their descriptors, and give the declared
        ones these values (a model loaded after a cleanup: its own defaults), without a
        "parameters updated" log line; ``ValueError`` for an invalid value."""
        assert self._late is not None, "no late parameters configured"
        new, changed = [], []
        for name, value in values.items():
            placeholder = self._late.specs[name]
            spec = dataclasses.replace(placeholder, default=placeholder.coerce(value))
            if not self._node.has_parameter(name):
                new.append((name, spec.default, spec.descriptor()))
            elif self._node.get_parameter(name).value != spec.default:
                changed.append(Parameter(name, value=spec.default))
        self._quiet = True
        try:
            self._node.declare_parameters("", new, ignore_override=True)
            if changed:  # together: a pair like the lost / found thresholds is checked as one
                result = self._node.set_parameters_atomically(changed)
                if not result.successful:
                    raise ValueError(result.reason)
        finally:
            self._quiet = False

    # ------------------------------------------------------------------ run time
    def _on_set(self, params: list[Parameter]) -> SetParametersResult:
        late = self._late
        table: dict[str, Any] = {}
        late_updates: dict[str, Any] = {}
        for p in params:
            if p.name in self._table:
                table[p.name] = p.value
            elif late is not None and p.name in late.specs:
                late_updates[p.name] = p.value
            elif not (p.name in ROS_OWN_PARAMS or p.name.startswith(_ROS_OWN_PREFIXES)):
                return SetParametersResult(successful=False, reason=f"unknown parameter {p.name}")
        reason = self._table.check_update(
            self._settings.as_values(), table, configured=self._configured()
        )
        if reason is None and late_updates and late is not None:
            reason = late.apply(late_updates)
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def _after_set(self, params: list[Parameter]) -> None:
        if not self._quiet and self._late is not None:  # a user's change, not a model's default
            self._late_set_by_user.update(p.name for p in params if p.name in self._late.specs)
        values = self._settings.as_values()
        values.update({p.name: p.value for p in params if p.name in self._table})
        old, self._settings = self._settings, self._type.from_values(values)
        for p in params:
            self.problems.pop(p.name, None)
        if self._on_change is not None:
            self._on_change(old, self._settings)
        if not self._quiet:  # late declarations are reported by the node in one line
            self._node.get_logger().info(
                "parameters updated: " + ", ".join(f"{p.name}={p.value}" for p in params)
            )


class ParameterizedNode(Generic[S]):
    """Mixin (listed before ``LifecycleNode``) of a node whose :class:`NodeParameters` is
    ``self._params``: its :attr:`settings`, and its ``autostart`` parameter (every node's table
    has one) as the attribute :func:`~siam_tracker_ros.ros.lifecycle_main.run_lifecycle_node`
    reads."""

    _params: NodeParameters[S]

    @property
    def settings(self) -> S:
        return self._params.settings

    @property
    def autostart(self) -> bool:
        return bool(self.settings.as_values()["autostart"])
