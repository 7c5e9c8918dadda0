"""The package's import graph stands in floors, without circles, and its pure floors stay pure.

Read from the source (every import statement, those inside functions too), so a lazy import that
goes upward or closes a circle fails here as well as a top-level one. Purity is about a module's own
imports: eval/exec_mode.py drives the node graph through graph_client (which uses rclpy), while
eval itself imports no ROS.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "saycan_ros"

# Lowest first. A unit (subpackage or top-level module) imports only from its own floor or below.
FLOORS = (
    ("core",),                                                          # the pure SayCan model
    ("language", "affordance", "perception", "ros_io", "plots", "launch_runner"),
    ("skills", "sim", "eval", "training", "speech", "graph_client", "viz"),
    ("nodes",),
    ("cli", "cli_types", "bench", "demo", "replay", "view"),           # what a user runs
)
# No ROS client library or message package below the nodes except where ROS is the point.
ROS_FREE = ("core", "language", "affordance", "perception", "skills", "sim", "eval", "training", "speech")
ROS_MODULES = ("rclpy", "rosidl_runtime_py", "rosbag2_py")
# The pure core needs none of the heavy stacks.
CORE_FORBIDDEN = ROS_MODULES + ("torch", "transformers", "pybullet", "cv2", "matplotlib")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[str]:
    """Every module name an import statement in the file names (for `from m import x`: m and m.x)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: a relative import (the package uses absolute ones)"
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


IMPORTS = {module: _imports(path) for module, path in MODULES.items()}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _floor(unit: str) -> int:
    for level, units in enumerate(FLOORS):
        if unit in units:
            return level
    raise AssertionError(f"saycan_ros.{unit} is on no floor: add it to FLOORS in {Path(__file__).name}")


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _upward(imports: dict[str, list[str]]) -> list[str]:
    """Imports from a higher floor than the importing unit's."""
    found = []
    for module, names in imports.items():
        unit = _unit(module)
        if unit is None:
            continue
        for name in names:
            target = _unit(name) if name.startswith("saycan_ros.") else None
            if target and target != unit and _floor(target) > _floor(unit):
                found.append(f"{module} imports {name} (floor {_floor(unit)} -> {_floor(target)})")
    return sorted(set(found))


def _graphs(imports: dict[str, list[str]], modules) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(unit -> units it imports, module -> package modules it imports)."""
    units: dict[str, set[str]] = defaultdict(set)
    by_module: dict[str, set[str]] = defaultdict(set)
    for module, names in imports.items():
        for name in names:
            if name in modules and name != module:
                by_module[module].add(name)
                if _unit(module) and _unit(name) and _unit(name) != _unit(module):
                    units[_unit(module)].add(_unit(name))
    return units, by_module


def _impure(imports: dict[str, list[str]]) -> list[str]:
    """ROS imports on the ROS-free floors, heavy stacks in the core."""
    found = []
    for module, names in imports.items():
        unit = _unit(module)
        forbidden = CORE_FORBIDDEN if unit == "core" else ROS_MODULES if unit in ROS_FREE else ()
        for name in names:
            top = name.split(".")[0]
            if top in forbidden or (unit in ROS_FREE and top.endswith("_msgs")):  # message packages too
                found.append(f"{module} imports {name}")
    return sorted(set(found))


def test_the_source_is_read():
    assert len(MODULES) > 100
    assert "saycan_ros.core.kitchen" in IMPORTS["saycan_ros.eval.harness"]
    assert "rclpy" in IMPORTS["saycan_ros.nodes.common"]


def test_every_unit_imports_only_its_own_floor_or_below():
    assert _upward(IMPORTS) == []


def test_no_circles_between_units_or_between_modules():
    units, modules = _graphs(IMPORTS, MODULES)
    assert _cycles(units) == []
    assert _cycles(modules) == []


def test_the_pure_floors_import_no_ros_and_the_core_no_heavy_stack():
    assert _impure(IMPORTS) == []


def test_the_checks_find_what_they_look_for():
    """Each check on a made-up package: an upward import, a circle, impure imports."""
    made_up = {
        "saycan_ros.core.a": ["saycan_ros.nodes.n", "torch"],                 # upward, and heavy in core
        "saycan_ros.eval.e": ["saycan_ros.training.t", "rclpy", "std_msgs.msg"],  # ROS on a ROS-free floor
        "saycan_ros.training.t": ["saycan_ros.eval.e"],                       # closes a circle with eval
        "saycan_ros.nodes.n": ["saycan_ros.core.a", "rclpy"],                 # fine: downward, ROS allowed
    }
    assert _upward(made_up) == ["saycan_ros.core.a imports saycan_ros.nodes.n (floor 0 -> 3)"]
    units, modules = _graphs(made_up, set(made_up))
    assert ["eval", "training"] in _cycles(units) and ["saycan_ros.eval.e", "saycan_ros.training.t"] in _cycles(modules)
    assert _impure(made_up) == ["saycan_ros.core.a imports torch", "saycan_ros.eval.e imports rclpy",
                                "saycan_ros.eval.e imports std_msgs.msg"]
    assert _cycles({"a": {"b"}, "b": set()}) == []
