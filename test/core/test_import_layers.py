"""The package's layers import one way: models <- runtime <- core <- ros / training / evaluation.

Read statically from the source (every ``import``, also inside functions and ``TYPE_CHECKING``
blocks), so a lazy import that breaks the layering is caught too. ``docs/architecture.md``
describes the layers; this test is what holds them.
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
    "evaluation": {"core", "runtime", "models", "datasets", "typed_config", "process_memory"},
    "training": {"core", "runtime", "models", "datasets", "typed_config", "cli"},
    "ros": {"core", "runtime", "models", "datasets", "typed_config", "process_memory", "msg"},
    "cli": {"core", "training", "evaluation", "ros", "typed_config"},
    "weights": set(),
}
#: single module edges allowed across the rule above, with the reason
EXCEPTIONS: dict[tuple[str, str], str] = {
    # decoding sensor_msgs image payloads of a bag: NumPy/OpenCV code, no rclpy; it should move
    # to a ROS-free module (datasets owns the bag reader)
    (f"{PACKAGE}.datasets.bags", f"{PACKAGE}.ros.image_conversion"): "image decoding",
}
#: third-party packages that belong to ROS and may be imported only under ros/
ROS_PACKAGES = ("rclpy", "rosbag2_py", "launch", "launch_ros", "launch_testing", "rosidl")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _eager_nodes(tree: ast.Module) -> list[ast.AST]:
    """Statements run at import time: the module body, into ``if``/``try`` blocks, not into
    functions or classes' methods."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, (ast.If, ast.Try)):
            todo.extend(ast.iter_child_nodes(node))
    return out


def _imports(path: Path, module: str, eager_only: bool = False) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved); with
    ``eager_only`` just the imports that run when the module is imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _eager_nodes(tree) if eager_only else ast.walk(tree):
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


def _graph(eager_only: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules and the third-party names it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        names = _imports(path, module, eager_only)
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
            if not name.startswith(PACKAGE + ".") or (module, name) in EXCEPTIONS:
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
    ``ros/`` (and the CLI that starts the node lazily)."""
    wrong = []
    for module, names in GRAPH.items():
        if _layer(module) in ("ros", "cli", "msg"):
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


def test_no_import_cycles() -> None:
    """No cycle between layers (every import counted, lazy ones too, except the listed
    exceptions), and none between modules at import time (a cycle there makes import order
    matter). A lazy import inside one layer (e.g. an optional reader) is not a cycle."""
    layers: dict[str, set[str]] = defaultdict(set)
    for module, names in GRAPH.items():
        for name in names:
            if name in MODULES and (module, name) not in EXCEPTIONS:
                if _layer(name) != _layer(module):
                    layers[_layer(module)].add(_layer(name))
    for layer in list(layers):
        for dst in list(layers[layer]):
            layers.setdefault(dst, set())
    cycles = _cycles(dict(layers))
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)
    eager = _graph(eager_only=True)
    internal = {
        m: {n for n in names if n in MODULES and not n.startswith(m + ".")}
        for m, names in eager.items()
    }
    cycles = _cycles(internal)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_a_violation() -> None:
    """The graph is real: known edges are found (so an empty result above means something)."""
    assert f"{PACKAGE}.runtime.builder" in GRAPH[f"{PACKAGE}.core.tracker"] or any(
        n.startswith(f"{PACKAGE}.runtime") for n in GRAPH[f"{PACKAGE}.core.tracker"]
    )
    assert "rclpy" in {n.split(".")[0] for n in GRAPH[f"{PACKAGE}.ros.node"]}
    assert f"{PACKAGE}.models.base" in GRAPH[f"{PACKAGE}.runtime.base"]
