"""The kitchen description (config/kitchen.yaml) as validated, immutable data."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.pose import Pose2D

SKILL_KINDS = ("find", "pick", "place", "go_to", "bring", "done")
SHAPES = ("box", "cylinder", "sphere")


@dataclass(frozen=True)
class Location:
    name: str
    pose: tuple[float, float, float]  # x, y, yaw where the robot stands to work there
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectType:
    name: str
    category: str
    shape: str
    size: tuple[float, float, float]
    rgba: tuple[float, float, float, float]
    aliases: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()  # words a person may describe it by: fruit, salty, fizzy, ...


@dataclass(frozen=True)
class SkillTemplate:
    kind: str
    template: str
    per: str | None = None  # "object", "location" or None (a single skill)
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kitchen:
    locations: dict[str, Location]
    objects: dict[str, ObjectType]
    templates: tuple[SkillTemplate, ...]
    scenes: dict[str, dict[str, str]] = field(default_factory=dict)
    source: str = "<memory>"

    def object_id(self, name: str) -> int:
        """A stable 1-based class id per object type (0 is background), as used in segmentation."""
        return list(self.objects).index(base_object_name(name)) + 1

    def object_by_id(self, class_id: int) -> str | None:
        names = list(self.objects)
        return names[class_id - 1] if 1 <= class_id <= len(names) else None

    def scene(self, name: str) -> dict[str, str]:
        if name not in self.scenes:
            raise ConfigError(f"unknown scene '{name}' in {self.source}; known: {', '.join(self.scenes)}")
        return dict(self.scenes[name])

    def resolve_object(self, word: str) -> str | None:
        """Canonical object name for a name or alias, or None."""
        return _resolve(word, {n: o.aliases for n, o in self.objects.items()})

    def resolve_location(self, word: str) -> str | None:
        return _resolve(word, {n: loc.aliases for n, loc in self.locations.items()})

    def work_point(self, location: str, reach_mid: float) -> tuple[float, float]:
        """Where an object stands for the arm at `location`: `reach_mid` ahead of the robot's pose there."""
        x, y, yaw = self.locations[location].pose
        return x + reach_mid * math.cos(yaw), y + reach_mid * math.sin(yaw)

    def in_container(self, xy: tuple[float, float], containers: Sequence[str], reach_mid: float,
                     radius: float) -> bool:
        """Whether the world point `xy` lies within `radius` of a container location's work point: an
        object there has been thrown away, and is neither found nor picked up again."""
        return any(math.dist(self.work_point(c, reach_mid), xy) <= radius for c in containers if c in self.locations)

    def thrown_away(self, pose: Pose2D, containers: Sequence[str], reach_mid: float,
                    radius: float) -> Callable[[Sequence[float]], bool]:
        """`in_container` for points in base_link (x, y[, z]) as seen by a robot at `pose`."""
        def thrown(p: Sequence[float]) -> bool:
            return self.in_container(pose.to_world(p[0], p[1]), containers, reach_mid, radius)
        return thrown


def base_object_name(name: str) -> str:
    """'coke can#2' -> 'coke can': several instances of one kind carry a '#n' suffix."""
    return name.split("#", 1)[0].strip()


def _resolve(word: str, aliases: Mapping[str, tuple[str, ...]]) -> str | None:
    key = " ".join(word.lower().split())
    for name, alts in aliases.items():
        if key == name or key in alts:
            return name
    return None


def default_kitchen_file() -> Path:
    """config/kitchen.yaml of the installed package share, or of this checkout."""
    env = os.environ.get("SAYCAN_KITCHEN_FILE")
    if env:
        return Path(env)
    return config_dir() / "kitchen.yaml"


def config_dir() -> Path:
    """The package's config folder: the source checkout's when present, else the installed share."""
    here = Path(__file__).resolve().parents[2] / "config"
    if here.is_dir():
        return here
    try:  # installed without the source tree
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("saycan_ros")) / "config"
    except Exception as exc:  # pragma: no cover - only without both
        raise ConfigError("cannot find saycan_ros's config folder") from exc


def models_dir() -> Path:
    """The package's models folder (trained adapters, value functions): beside the config folder."""
    return config_dir().parent / "models"


def read_yaml_file(path: Path, what: str) -> Any:
    """The parsed content of a configuration file; ConfigError naming `what` and the file otherwise."""
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def read_yaml_sections(path: Path, what: str, keys: Sequence[str]) -> dict[str, Any]:
    """A configuration file that must hold every one of `keys` at its top level."""
    data = read_yaml_file(path, what) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {', '.join(keys)}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ConfigError(f"{path}: missing {', '.join(missing)}")
    return data


def load_kitchen(path: str | os.PathLike | None = None) -> Kitchen:
    """Read and validate a kitchen file. Raises ConfigError with the file name on bad content."""
    path = Path(path) if path else default_kitchen_file()
    return parse_kitchen(read_yaml_file(path, "kitchen file"), source=str(path))


def parse_kitchen(data: Any, source: str = "<memory>") -> Kitchen:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with locations, objects, skills")
    for key in ("locations", "objects", "skills"):
        if key not in data:
            raise ConfigError(f"{source}: missing '{key}'")

    locations = {}
    for name, spec in _mapping(data["locations"], "locations", source).items():
        pose = spec.get("pose") if isinstance(spec, dict) else None
        if not (isinstance(pose, list) and len(pose) == 3 and all(isinstance(v, (int, float)) for v in pose)):
            raise ConfigError(f"{source}: location '{name}' needs pose: [x, y, yaw]")
        locations[str(name)] = Location(str(name), tuple(float(v) for v in pose), _aliases(spec))

    objects = {}
    for name, spec in _mapping(data["objects"], "objects", source).items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{source}: object '{name}' must be a mapping")
        shape = spec.get("shape", "box")
        if shape not in SHAPES:
            raise ConfigError(f"{source}: object '{name}' has shape '{shape}'; expected one of {SHAPES}")
        size, rgba = spec.get("size", [0.07, 0.07, 0.12]), spec.get("rgba", [0.5, 0.5, 0.5, 1])
        if len(size) != 3 or len(rgba) != 4:
            raise ConfigError(f"{source}: object '{name}' needs size [x, y, z] and rgba [r, g, b, a]")
        objects[str(name)] = ObjectType(
            str(name), str(spec.get("category", "item")), shape,
            tuple(float(v) for v in size), tuple(float(v) for v in rgba), _aliases(spec),
            tuple(str(a).lower() for a in spec.get("attributes", []) or []))

    templates = []
    for i, spec in enumerate(data["skills"] or []):
        if not isinstance(spec, dict) or "kind" not in spec or "template" not in spec:
            raise ConfigError(f"{source}: skills[{i}] needs kind and template")
        if spec["kind"] not in SKILL_KINDS:
            raise ConfigError(f"{source}: skills[{i}] has kind '{spec['kind']}'; expected one of {SKILL_KINDS}")
        per = spec.get("per")
        if per not in (None, "object", "location"):
            raise ConfigError(f"{source}: skills[{i}] has per '{per}'; expected object or location")
        placeholder = "{" + per + "}" if per else None
        if placeholder and placeholder not in spec["template"]:
            raise ConfigError(f"{source}: skills[{i}] template lacks {placeholder}")
        templates.append(SkillTemplate(spec["kind"], spec["template"], per, tuple(spec.get("exclude", []))))

    scenes = {}
    for scene_name, placement in (data.get("scenes") or {}).items():
        for obj, loc in _mapping(placement, f"scenes.{scene_name}", source).items():
            if base_object_name(obj) not in objects:
                raise ConfigError(f"{source}: scene '{scene_name}' places unknown object '{obj}'")
            if loc not in locations:
                raise ConfigError(f"{source}: scene '{scene_name}' uses unknown location '{loc}'")
        scenes[str(scene_name)] = {str(k): str(v) for k, v in placement.items()}
    return Kitchen(locations, objects, tuple(templates), scenes, source)


def _mapping(value: Any, what: str, source: str) -> dict:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{source}: '{what}' must be a non-empty mapping")
    return value


def _aliases(spec: Any) -> tuple[str, ...]:
    return tuple(str(a).lower() for a in (spec.get("aliases", []) if isinstance(spec, dict) else []))
