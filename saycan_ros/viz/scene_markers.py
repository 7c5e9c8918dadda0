"""The scene for rviz as plain marker specs: named locations, objects with labels, the robot, the
chosen skill's target highlighted, and the plan so far as text.

visualization_node turns each MarkerSpec into a visualization_msgs/Marker. rviz replaces a marker
by (namespace, id), so ids come from an entity's place in the kitchen file, never from counters:
the same location or object keeps its id across steps (and restarts), and an update moves it
instead of leaving a copy behind.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from saycan_ros.core.kitchen import Kitchen, base_object_name
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.ros_io.codes import PLAN_CANCELED, PLAN_FAILED, PLAN_SUCCEEDED

ADD, DELETE = "add", "delete"

NS_LOCATIONS, NS_LOCATION_LABELS = "locations", "location_labels"
NS_OBJECTS, NS_OBJECT_LABELS = "objects", "object_labels"
NS_ROBOT, NS_HIGHLIGHT, NS_PLAN = "robot", "highlight", "plan"
ROBOT_BASE_ID, ROBOT_HEADING_ID = 0, 1
HIGHLIGHT_ID = PLAN_ID = 0
# Object ids: kitchen index * INSTANCES + instance number ('coke can#2' -> 2), unique below that many.
INSTANCES = 1000

SHAPE_TYPES = {"box": "CUBE", "cylinder": "CYLINDER", "sphere": "SPHERE"}
LOCATION_RGBA = (0.25, 0.45, 0.85, 0.9)
LABEL_RGBA = (1.0, 1.0, 1.0, 1.0)
ROBOT_RGBA = (0.55, 0.55, 0.6, 0.9)
HEADING_RGBA = (1.0, 0.5, 0.0, 1.0)
HIGHLIGHT_RGBA = (1.0, 0.9, 0.0, 0.5)
PLAN_RGBA = (0.9, 0.95, 1.0, 1.0)


@dataclass(frozen=True)
class MarkerSpec:
    """One visualization_msgs/Marker as plain data, in the fixed frame (odom or map)."""

    namespace: str
    id: int
    type: str  # name of a visualization_msgs/Marker type constant: ARROW, CUBE, SPHERE, CYLINDER, TEXT_VIEW_FACING
    action: str = ADD  # ADD (add or modify) or DELETE
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw: float = 0.0
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)  # TEXT_VIEW_FACING: only z, the text height
    rgba: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    text: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return self.namespace, self.id


@dataclass(frozen=True)
class SeenObject:
    xyz: tuple[float, float, float]
    last_seen: float  # seconds on the caller's clock


@dataclass(frozen=True)
class PlanView:
    """What the markers need of the latest saycan/plan message (PlanStatus)."""

    instruction: str = ""
    step_index: int = 0
    executed_steps: tuple[str, ...] = ()
    chosen: str = ""
    state: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Scene:
    markers: list[MarkerSpec]
    objects: dict[str, SeenObject]  # the objects still shown: stale ones got their DELETE and are gone


def location_id(kitchen: Kitchen, name: str) -> int:
    return list(kitchen.locations).index(name)


def object_marker_id(kitchen: Kitchen, name: str) -> int | None:
    """A stable id per object instance, or None for a kind the kitchen does not know."""
    base = base_object_name(name)
    if base not in kitchen.objects:
        return None
    suffix = name.partition("#")[2].strip()
    instance = int(suffix) if suffix.isdigit() else 0
    return list(kitchen.objects).index(base) * INSTANCES + instance % INSTANCES


def location_markers(kitchen: Kitchen) -> list[MarkerSpec]:
    """An arrow where the robot stands to work at each location (facing as it would), and its name."""
    markers = []
    for name, loc in kitchen.locations.items():
        x, y, yaw = loc.pose
        i = location_id(kitchen, name)
        markers.append(MarkerSpec(NS_LOCATIONS, i, "ARROW", position=(x, y, 0.02), yaw=yaw,
                                  scale=(0.4, 0.06, 0.06), rgba=LOCATION_RGBA, text=name))
        markers.append(MarkerSpec(NS_LOCATION_LABELS, i, "TEXT_VIEW_FACING", position=(x, y, 0.6),
                                  scale=(0.0, 0.0, 0.15), rgba=LABEL_RGBA, text=name))
    return markers


def object_markers(kitchen: Kitchen, objects: Mapping[str, SeenObject], now: float,
                   stale_after_s: float) -> tuple[list[MarkerSpec], dict[str, SeenObject]]:
    """Each object's shape and label; an object not seen for `stale_after_s` gets one DELETE (shape
    and label) and is left out of the returned objects, so it is not deleted again."""
    markers, kept = [], {}
    for name in sorted(objects):
        seen, marker_id = objects[name], object_marker_id(kitchen, name)
        if marker_id is None:
            continue
        if now - seen.last_seen > stale_after_s:
            markers += [MarkerSpec(NS_OBJECTS, marker_id, "CUBE", DELETE, text=name),
                        MarkerSpec(NS_OBJECT_LABELS, marker_id, "TEXT_VIEW_FACING", DELETE, text=name)]
            continue
        kept[name] = seen
        kind = kitchen.objects[base_object_name(name)]
        x, y, z = seen.xyz
        markers.append(MarkerSpec(NS_OBJECTS, marker_id, SHAPE_TYPES[kind.shape], position=seen.xyz,
                                  scale=kind.size, rgba=kind.rgba, text=name))
        markers.append(MarkerSpec(NS_OBJECT_LABELS, marker_id, "TEXT_VIEW_FACING",
                                  position=(x, y, z + kind.size[2] / 2 + 0.08), scale=(0.0, 0.0, 0.07),
                                  rgba=LABEL_RGBA, text=name))
    return markers, kept


def robot_markers(pose: tuple[float, float, float] | None) -> list[MarkerSpec]:
    """The base as a cylinder and its heading as an arrow; nothing before the first odometry."""
    if pose is None:
        return []
    x, y, yaw = pose
    return [MarkerSpec(NS_ROBOT, ROBOT_BASE_ID, "CYLINDER", position=(x, y, 0.15), yaw=yaw,
                       scale=(0.4, 0.4, 0.3), rgba=ROBOT_RGBA, text="robot"),
            MarkerSpec(NS_ROBOT, ROBOT_HEADING_ID, "ARROW", position=(x, y, 0.32), yaw=yaw,
                       scale=(0.5, 0.08, 0.08), rgba=HEADING_RGBA)]


def skill_target(kitchen: Kitchen, library: SkillLibrary, chosen: str,
                 objects: Mapping[str, SeenObject]) -> tuple[str, tuple[float, float, float]] | None:
    """('location'|'object', position) the chosen skill acts on, or None ('done', unknown skill, an
    object not seen). 'bring it to you' goes to the user location."""
    if chosen not in library:
        return None
    skill = library.get(chosen)
    place = skill.location or ("user" if skill.kind == "bring" else "")
    if place in kitchen.locations:
        x, y, _ = kitchen.locations[place].pose
        return "location", (x, y, 0.01)
    if skill.object:
        # the skill names a kind ('apple'); any seen instance of it ('apple#2') will do
        for name in sorted(objects):
            if base_object_name(name) == skill.object:
                return "object", objects[name].xyz
    return None


def highlight_marker(kitchen: Kitchen, library: SkillLibrary, plan: PlanView,
                     objects: Mapping[str, SeenObject]) -> MarkerSpec:
    """A disc under the chosen skill's location or a sphere around its object; DELETE when nothing
    is to be highlighted (no instruction running, 'done', an object not seen)."""
    running = plan.state not in (PLAN_SUCCEEDED, PLAN_FAILED, PLAN_CANCELED)
    target = skill_target(kitchen, library, plan.chosen, objects) if running else None
    if target is None:
        return MarkerSpec(NS_HIGHLIGHT, HIGHLIGHT_ID, "CYLINDER", DELETE)
    kind, position = target
    if kind == "location":
        return MarkerSpec(NS_HIGHLIGHT, HIGHLIGHT_ID, "CYLINDER", position=position, scale=(0.8, 0.8, 0.02),
                          rgba=HIGHLIGHT_RGBA, text=plan.chosen)
    size = max(kitchen.objects[library.get(plan.chosen).object].size) + 0.15
    return MarkerSpec(NS_HIGHLIGHT, HIGHLIGHT_ID, "SPHERE", position=position, scale=(size, size, size),
                      rgba=HIGHLIGHT_RGBA, text=plan.chosen)


def plan_text(plan: PlanView) -> str:
    """The instruction, the executed steps in order, and what happens now."""
    if not plan.instruction:
        return "waiting for an instruction"
    lines = [f'"{plan.instruction}"']
    lines += [f"{i}. {step}" for i, step in enumerate(plan.executed_steps, 1)]
    if plan.state == "executing":
        lines.append(f"> {plan.chosen}")
    elif plan.state == "planning" and plan.detail != "ok":  # the step just run failed
        lines.append(f"x {plan.chosen}: {plan.detail}")
    elif plan.state == PLAN_SUCCEEDED:
        lines.append("done")
    elif plan.state:
        lines.append(f"{plan.state}: {plan.detail}" if plan.detail else plan.state)
    return "\n".join(lines)


def plan_marker(kitchen: Kitchen, plan: PlanView) -> MarkerSpec:
    """The plan as text floating above the middle of the kitchen."""
    xs = [loc.pose[0] for loc in kitchen.locations.values()]
    ys = [loc.pose[1] for loc in kitchen.locations.values()]
    centre = (sum(xs) / len(xs), sum(ys) / len(ys), 2.0)
    return MarkerSpec(NS_PLAN, PLAN_ID, "TEXT_VIEW_FACING", position=centre, scale=(0.0, 0.0, 0.12),
                      rgba=PLAN_RGBA, text=plan_text(plan))


def build_scene(kitchen: Kitchen, library: SkillLibrary, robot_pose: tuple[float, float, float] | None,
                objects: Mapping[str, SeenObject], plan: PlanView, now: float, stale_after_s: float) -> Scene:
    """Every marker of the scene at `now`; keep the returned objects for the next call."""
    shown_objects, kept = object_markers(kitchen, objects, now, stale_after_s)
    markers = [*location_markers(kitchen), *shown_objects, *robot_markers(robot_pose),
               highlight_marker(kitchen, library, plan, kept), plan_marker(kitchen, plan)]
    return Scene(markers, kept)
