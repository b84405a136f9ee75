"""The package's layers import one way: models <- runtime <- core <- ros / training / evaluation.

Read statically from the source (every ``import``, also inside functions and ``TYPE_CHECKING``
blocks), so a lazy import that breaks the layering is caught too: no import runs back up a
layer, no two modules import each other (directly or round a longer circle), only ``ros/`` (and
the test tooling and CLI that start it) imports ROS, and nothing in the package imports its test
tooling (``testing/``). ``docs/architecture.md`` describes the layers; this test is what holds
them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import ROOT

PACKAGE = "siam_tracker_ros"
SOURCE = ROOT / PACKAGE

#: layer -> the other layers it may import. A layer is a sub-package or a top-level module.
ALLOWED: dict[str, set[str]] = {
    "typed_config": set(),
    "process_memory": set(),
    "models": {"typed_config"},
    "runtime": {"models", "typed_config"},
    # core.cli reads videos and image folders for `siam-tracker track`
    "core": {"runtime", "models", "typed_config", "datasets"},
    "datasets": {"typed_config"},
    "evaluation": {
        "core",
        "runtime",
        "models",
        "datasets",
        "simulation",
        "typed_config",
        "process_memory",
    },
    "training": {"core", "runtime", "models", "datasets", "typed_config", "cli"},
    "ros": {
        "core",
        "runtime",
        "models",
        "datasets",
        "simulation",
        "typed_config",
        "process_memory",
        "msg",
    },
    # the ROS-free virtual camera (long-term and follow issues): frames of real sequences
    "simulation": {"datasets", "typed_config"},
    "cli": {"core", "training", "evaluation", "ros", "typed_config"},
    "weights": set(),
}
#: test tooling (ROS isolation, node harness): may import anything, nothing imports it
ALLOWED["testing"] = (set(ALLOWED) | {"msg"}) - {"testing"}
#: layers that may import ROS (rclpy, launch, ``*_msgs``, the package's own ``msg``)
ROS_LAYERS = ("ros", "cli", "msg", "testing")
#: third-party packages that belong to ROS and may be imported only under ros/
ROS_PACKAGES = ("rclpy", "rosbag2_py", "launch", "launch_ros", "launch_testing", "rosidl")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of everything ``path`` imports, wherever the import is (module body,
    functions, ``TYPE_CHECKING`` blocks); relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            # ``from siam_tracker_ros.core import tracker`` imports the module core.tracker
            found.update(f"{name}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


MODULES = {_module_name(p): p for p in SOURCE.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules and the third-party names it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        names = _imports(path, module)
        graph[module] = {n for n in names if n in MODULES or not n.startswith(PACKAGE)}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


GRAPH = _graph()


def test_layers_import_one_way() -> None:
    wrong = []
    for module, names in GRAPH.items():
        src = _layer(module)
        for name in names:
            if not name.startswith(PACKAGE + "."):
                continue
            dst = _layer(name)
            if dst != src and dst not in ALLOWED[src]:
                wrong.append(f"{module} imports {name} ({src} -> {dst})")
    assert not wrong, "\n".join(sorted(wrong))


def test_every_layer_has_a_rule() -> None:
    layers = {_layer(m) for m in GRAPH if m != PACKAGE}
    assert layers <= set(ALLOWED), sorted(layers - set(ALLOWED))


def test_no_ros_below_ros() -> None:
    """rclpy, ROS launch tools, message packages (``*_msgs``, the package's own ``msg``) only in
    ``ros/`` (and the CLI that starts the node lazily, and the test tooling)."""
    wrong = []
    for module, names in GRAPH.items():
        if _layer(module) in ROS_LAYERS:
            continue
        for name in names:
            top = name.split(".")[0]
            own_msg = name.startswith(f"{PACKAGE}.msg")
            if top in ROS_PACKAGES or top.endswith("_msgs") or own_msg:
                wrong.append(f"{module} imports {name}")
    assert not wrong, "\n".join(sorted(wrong))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = defaultdict(int)  # 0 new, 1 on stack, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif state[nxt] == 0:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if state[module] == 0:
            visit(module, [])
    return cycles


def _module_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, every import counted (lazy ones, those under
    ``TYPE_CHECKING`` and a package's imports of its own submodules included)."""
    return {m: {n for n in names if n in MODULES and n != m} for m, names in GRAPH.items()}


def test_no_import_cycles_between_layers() -> None:
    """No circle between layers (every import counted, lazy ones too)."""
    layers: dict[str, set[str]] = defaultdict(set)
    for module, names in _module_graph().items():
        layers.setdefault(_layer(module), set())
        for name in names:
            if _layer(name) != _layer(module):
                layers[_layer(module)].add(_layer(name))
    for layer in list(layers):
        for dst in list(layers[layer]):
            layers.setdefault(dst, set())
    cycles = _cycles(dict(layers))
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_cycles_between_modules() -> None:
    """No two modules import each other, directly or round a longer circle, counting every
    import (a lazy one too: it only moves the circle to run time, and it still means the two
    modules cannot be understood, tested or moved apart)."""
    cycles = _cycles(_module_graph())
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_nothing_in_the_package_imports_its_test_tooling() -> None:
    wrong = [
        f"{module} imports {name}"
        for module, names in GRAPH.items()
        if _layer(module) != "testing"
        for name in names
        if name == f"{PACKAGE}.testing" or name.startswith(f"{PACKAGE}.testing.")
    ]
    assert not wrong, "\n".join(sorted(wrong))


def test_the_cycle_check_finds_a_circle() -> None:
    """The checker is real: a known circle (and a longer one) is found, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_checker_sees_a_violation() -> None:
    """The graph is real: known edges are found (so an empty result above means something)."""
    assert f"{PACKAGE}.runtime.builder" in GRAPH[f"{PACKAGE}.core.tracker"] or any(
        n.startswith(f"{PACKAGE}.runtime") for n in GRAPH[f"{PACKAGE}.core.tracker"]
    )
    assert "rclpy" in {n.split(".")[0] for n in GRAPH[f"{PACKAGE}.ros.node"]}
    assert any(n.startswith(f"{PACKAGE}.models.") for n in GRAPH[f"{PACKAGE}.runtime.base"])
    # the bag reader decodes with the node's converters, which live below both
    assert f"{PACKAGE}.datasets.image_conversion" in GRAPH[f"{PACKAGE}.datasets.bags"]
    assert f"{PACKAGE}.datasets.image_conversion" in GRAPH[f"{PACKAGE}.ros.node"]
