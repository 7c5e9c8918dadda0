"""`saycan collect`: the robot's own experience in the simulated kitchen, labelled for learning value functions.

Each attempt: a seeded random kitchen state (objects on random surfaces, some absent, several of
a kind, clutter in the trash can; the robot at a work place or in between, at any heading; maybe
holding something, with or without the executor knowing what), what the affordance node would see
before the skill starts (the camera's segmentation + depth, joint states, odometry: a
`PerceptionObservation`, turned into model inputs by `affordance.learned.encode_observation`),
the skill, and the outcome judged from the simulator's ground truth after the real skill state
machine ran on simulated time (`SimSkillLoop`).

A label is 1 when the skill brought about its effect and that effect did not hold before (SayCan's
value functions score progress, not no-ops): go to L: the robot is at L and was not; find X: an X
is in view at the end and the robot did not already stand at an X it could see; pick X: an X is
in the gripper; put down X: the X that was held stands on a surface and the gripper is empty;
bring it to you: at the user still holding something, and was not at the user.

Several skills are tried from each state (the world is reset to the same state between them, so
one rendered observation serves them all). Shards of attempts are written atomically
(`shard-NNNNN.npz`), so a run can be resumed by the same command; Ctrl-C writes what the current
shards hold and stops. Data is not committed: it goes under runs/ by default.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from saycan_ros.affordance.features import features_to_json
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import Kitchen, base_object_name, load_kitchen
from saycan_ros.core.skills import Skill, SkillLibrary
from saycan_ros.core.world import DISPOSAL, USER
from saycan_ros.skills.config import search_places

SHARD_PATTERN = "shard-{:05d}.npz"
ATTEMPTS_PER_STATE = 4
PRIOR_LOOKS = (0.35, 0.25, 0.2, 0.2)  # P(the robot has already looked at 0, 1, 2, 3 search places)
# How often each kind is tried: what the hand can do decides what is worth trying (putting down or
# bringing with an empty gripper fails at once and teaches little; a few such attempts suffice).
KIND_WEIGHTS = {True: {"place": 0.35, "bring": 0.2, "go_to": 0.2, "find": 0.15, "pick": 0.1},     # holding
                False: {"pick": 0.35, "find": 0.25, "go_to": 0.2, "place": 0.1, "bring": 0.1}}   # empty


@dataclass(frozen=True)
class StartState:
    scene: dict[str, str]                        # object instance -> location
    start_pose: tuple[float, float, float]       # x, y, yaw
    holding: str | None                          # instance in the gripper at the start
    executor_knows_held: bool                    # the executor picked it (knows its name) vs found it held
    seed: int


def _instance(kind: str, taken: set[str]) -> str:
    name, n = kind, 2
    while name in taken:
        name, n = f"{kind}#{n}", n + 1
    taken.add(name)
    return name


def random_start_state(kitchen: Kitchen, rng: np.random.Generator, seed: int, is_free) -> StartState:
    """A random start state; `is_free(x, y)` says whether the base fits at a position."""
    kinds = sorted(kitchen.objects)
    places = search_places(kitchen)
    scene: dict[str, str] = {}
    taken: set[str] = set()
    for _ in range(int(rng.integers(2, 11))):  # several of a kind happen (drawn with replacement)
        kind = kinds[int(rng.integers(len(kinds)))]
        where = DISPOSAL if DISPOSAL in kitchen.locations and rng.random() < 0.08 else places[int(rng.integers(len(places)))]
        scene[_instance(kind, taken)] = where
    holding = _instance(kinds[int(rng.integers(len(kinds)))], taken) if rng.random() < 0.35 else None
    locations = sorted(kitchen.locations)
    for _ in range(200):
        if rng.random() < 0.65:  # at (or near) a place, mostly facing it
            lx, ly, lyaw = kitchen.locations[locations[int(rng.integers(len(locations)))]].pose
            x, y = lx + rng.normal(0.0, 0.12), ly + rng.normal(0.0, 0.12)
            yaw = lyaw + rng.normal(0.0, 0.25) if rng.random() < 0.8 else rng.uniform(-math.pi, math.pi)
        else:  # anywhere in the open floor
            x, y, yaw = rng.uniform(-1.0, 1.0), rng.uniform(-1.3, 1.9), rng.uniform(-math.pi, math.pi)
        if is_free(x, y):
            break
    else:
        x, y, yaw = 0.0, 0.0, 0.0
    yaw = math.remainder(yaw, math.tau)
    return StartState(scene, (float(x), float(y), float(yaw)), holding, bool(rng.random() < 0.5), seed)


def choose_skills(library: SkillLibrary, state: StartState, visible: Sequence[str], robot_at: str | None,
                  rng: np.random.Generator, n: int = ATTEMPTS_PER_STATE) -> list[Skill]:
    """`n` different skills to try from `state`, kinds weighted by whether the gripper holds something
    (KIND_WEIGHTS) and objects mostly ones that could work (in view, held, present in the kitchen),
    so that both outcomes are well represented for every kind."""
    by_kind: dict[str, list[Skill]] = {}
    for s in library:
        if not s.is_done:
            by_kind.setdefault(s.kind, []).append(s)
    present = sorted({base_object_name(o) for o in state.scene})
    held = [base_object_name(state.holding)] if state.holding else []
    likely = {"pick": list(visible), "find": present, "place": held}
    chosen: dict[str, Skill] = {}
    kinds = sorted(by_kind)
    weights = np.array([KIND_WEIGHTS[state.holding is not None].get(k, 0.1) for k in kinds])
    for _ in range(10 * n):
        if len(chosen) >= n:
            break
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        options = by_kind[kind]
        hint = likely.get(kind, [])
        if hint and rng.random() < 0.7:
            options = [s for s in options if s.object in hint] or options
        elif kind == "go_to" and robot_at and rng.random() < 0.15:
            options = [s for s in options if s.location == robot_at] or options
        skill = options[int(rng.integers(len(options)))]
        chosen.setdefault(skill.text, skill)
    return list(chosen.values())


def judge(skill: Skill, before: dict, after: dict, outcome_ok: bool, in_view_before: bool, in_view_after: bool) -> bool:
    """The label from ground truth (`KitchenWorld.world_state()` before and after); see the module doc."""
    held_before, held_after = before["held_object"], after["held_object"]
    kind = skill.kind
    if kind == "go_to":
        return outcome_ok and after["robot_location"] == skill.location and before["robot_location"] != skill.location
    if kind == "bring":
        return (outcome_ok and after["robot_location"] == USER and before["robot_location"] != USER
                and held_after is not None)
    if kind == "pick":  # holding something already: the executor refuses (a no-op at best)
        return (outcome_ok and held_before is None and held_after is not None
                and base_object_name(held_after) == skill.object)
    if kind == "place":
        if held_before is None or base_object_name(held_before) != skill.object or held_after is not None:
            return False
        return after["objects"].get(held_before, {}).get("location") is not None
    if kind == "find":
        at_one_before = any(base_object_name(n) == skill.object and o["location"] == before["robot_location"]
                            for n, o in before["objects"].items()) and in_view_before
        held_one = held_before is not None and base_object_name(held_before) == skill.object
        return outcome_ok and in_view_after and not at_one_before and not held_one
    raise ConfigError(f"no success judgement for skill kind '{kind}'")


def kind_in_view(kitchen: Kitchen, segmentation: np.ndarray, kind: str, min_pixels: int = 20) -> bool:
    if kind not in kitchen.objects:
        return False
    return int(np.count_nonzero(segmentation == kitchen.object_id(kind))) >= min_pixels


# ---------------------------------------------------------------------------------------- one shard
_STOP = None  # in pool workers: a multiprocessing Event the main process sets on Ctrl-C


def _worker_init(stop) -> None:
    """Pool workers ignore SIGINT (an idle worker dying of it would break the pool and kill the busy
    ones mid-save); the main process asks them to stop through `stop` instead."""
    import signal

    global _STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP = stop


def collect_shard(shard: int, base_seed: int, n_attempts: int, out_dir: str, image_size: tuple[int, int],
                  kitchen_file: str | None = None) -> int:
    """Collect `n_attempts` attempts into out_dir/shard-NNNNN.npz (seeded by base_seed and shard).
    Returns the number of attempts written; when stopped (Ctrl-C) writes those done so far."""
    from saycan_ros.affordance.learned import ENCODER_VERSION, encode_observation
    from saycan_ros.affordance.perception_model import PerceptionAffordance, PerceptionObservation, SearchMemory
    from saycan_ros.core.robot_geometry import load_robot_geometry
    from saycan_ros.sim.kitchen_world import KitchenWorld
    from saycan_ros.skills.behaviours import HeldObject
    from saycan_ros.training.sim_skills import SimSkillLoop

    kitchen, robot = load_kitchen(kitchen_file), load_robot_geometry()
    library = SkillLibrary.from_kitchen(kitchen)
    rng = np.random.default_rng([base_seed, shard])
    world = KitchenWorld(kitchen, robot, {}, image_size=image_size)
    loop = SimSkillLoop(kitchen, robot, world)
    places = search_places(kitchen)
    perception = PerceptionAffordance(kitchen, geometry=loop.geometry, search_memory=SearchMemory(kitchen, tuple(places)))
    rows: dict[str, list] = {k: [] for k in ("image", "state", "skill", "kind", "label", "code", "features",
                                             "state_seed", "sim_seconds")}
    try:
        while len(rows["label"]) < n_attempts and not (_STOP is not None and _STOP.is_set()):
            seed = int(rng.integers(2**31))
            state = random_start_state(kitchen, rng, seed, lambda x, y: not world._footprint_hits(x, y))
            perception.forget()
            gripper = robot.gripper.min if state.holding else None
            clock = [0.0]

            def look_from(pose: tuple[float, float, float]):
                """Stand at `pose` and let perception see two frames (standing still: a look counts)."""
                world.reset(state.scene, seed=seed, start_pose=pose, holding=state.holding)
                _, depth, seg = world.render()
                obs = None
                for _ in range(2):
                    clock[0] += 1.0
                    obs = PerceptionObservation(seg, depth, world.camera, world.joint_positions(), world.base_pose(),
                                                gripper_command=gripper, stamp=clock[0])
                    perception.update(obs)
                return obs, seg

            # What the robot saw earlier in this instruction: it stood at some search places, facing them.
            for place in rng.permutation(places)[:int(rng.choice(len(PRIOR_LOOKS), p=PRIOR_LOOKS))]:
                look_from(tuple(kitchen.locations[place].pose))
            obs, seg = look_from(state.start_pose)
            before = world.world_state()
            if state.holding and state.executor_knows_held:
                # It was picked up: perception saw it between the fingers then (its held-object memory);
                # the carrying pose keeps it out of view now, so this frame alone says '?'.
                perception.search_memory.seen.add(base_object_name(state.holding))
            features = perception.current_features()
            if state.holding and state.executor_knows_held:
                features = replace(features, holding=base_object_name(state.holding))
            for skill in choose_skills(library, state, sorted(features.visible), features.robot_at, rng):
                if len(rows["label"]) >= n_attempts:
                    break
                world.reset(state.scene, seed=seed, start_pose=state.start_pose, holding=state.holding)
                skills = loop.new_skills()
                if state.holding:
                    skills.gripper_target = robot.gripper.min
                    if state.executor_knows_held:
                        skills.held = HeldObject(base_object_name(state.holding), 0.5 * kitchen.objects[
                            base_object_name(state.holding)].size[2])
                t0 = world.sim_time
                outcome = loop.run(skill.kind, skill.object, skill.location)
                after = world.world_state()
                in_view_after = skill.kind == "find" and kind_in_view(kitchen, world.render()[2], skill.object)
                label = judge(skill, before, after, outcome.success,
                              skill.kind == "find" and kind_in_view(kitchen, seg, skill.object), in_view_after)
                image, vector = encode_observation(obs, skill, kitchen, loop.geometry, features)
                rows["image"].append(image)
                rows["state"].append(vector)
                rows["skill"].append(skill.text)
                rows["kind"].append(skill.kind)
                rows["label"].append(int(label))
                rows["code"].append(getattr(outcome.code, "name", str(outcome.code)))
                rows["features"].append(json.dumps(features_to_json(features)))
                rows["state_seed"].append(seed)
                rows["sim_seconds"].append(world.sim_time - t0)
    except KeyboardInterrupt:
        pass
    finally:
        world.close()
    if rows["label"]:
        path = Path(out_dir) / SHARD_PATTERN.format(shard)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, image=np.asarray(rows["image"], dtype=np.float16),
                            state=np.asarray(rows["state"], dtype=np.float32),
                            skill=np.asarray(rows["skill"]), kind=np.asarray(rows["kind"]),
                            label=np.asarray(rows["label"], dtype=np.uint8), code=np.asarray(rows["code"]),
                            features=np.asarray(rows["features"]), state_seed=np.asarray(rows["state_seed"]),
                            sim_seconds=np.asarray(rows["sim_seconds"], dtype=np.float32),
                            encoder_version=np.asarray(ENCODER_VERSION))
        os.replace(tmp, path)
    return len(rows["label"])


# ---------------------------------------------------------------------------------------- dataset
@dataclass
class Experience:
    image: np.ndarray        # (N, C, H, W) float16
    state: np.ndarray        # (N, S) float32
    skill: np.ndarray        # (N,) skill texts
    kind: np.ndarray         # (N,) skill kinds
    label: np.ndarray        # (N,) 0/1
    features: list           # (N,) perception features as JSON strings (for the hand-calibrated baseline)
    state_seed: np.ndarray   # (N,) the start state's seed (attempts from one state share it)

    def __len__(self) -> int:
        return len(self.label)

    def subset(self, index: np.ndarray) -> "Experience":
        return Experience(self.image[index], self.state[index], self.skill[index], self.kind[index],
                          self.label[index], [self.features[i] for i in index], self.state_seed[index])


def load_experience(folders: Sequence[str | Path]) -> Experience:
    """Every shard in the folders, concatenated. ConfigError when there is none or they disagree."""
    from saycan_ros.affordance.learned import ENCODER_VERSION

    files = sorted(f for folder in folders for f in Path(folder).glob("shard-*.npz") if ".tmp" not in f.name)
    if not files:
        raise ConfigError(f"no experience shards (shard-*.npz) in {', '.join(map(str, folders))}: run `saycan collect`")
    parts = []
    for f in files:
        try:
            with np.load(f) as data:
                version = int(data["encoder_version"])
                if version != ENCODER_VERSION:
                    raise ConfigError(f"{f} was encoded by version {version}, this code reads {ENCODER_VERSION}: re-collect")
                parts.append({k: data[k] for k in ("image", "state", "skill", "kind", "label", "features", "state_seed")})
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"cannot read experience shard {f}: {exc}") from None
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return Experience(cat["image"], cat["state"], cat["skill"], cat["kind"], cat["label"].astype(np.int64),
                      list(cat["features"]), cat["state_seed"])


def collection_seeds(folders: Sequence[str | Path]) -> list[int]:
    """The collection seed of each folder (its manifest.json); ConfigError when one has none."""
    seeds = []
    for folder in folders:
        manifest = Path(folder) / "manifest.json"
        try:
            seeds.append(int(json.loads(manifest.read_text())["seed"]))
        except (OSError, ValueError, KeyError, TypeError):
            raise ConfigError(f"{folder} has no readable manifest.json with the collection seed (made by "
                              "`saycan collect`)") from None
    return seeds


# ---------------------------------------------------------------------------------------- command
def collect(out_dir: Path, attempts: int, seed: int, workers: int, shard_size: int,
            image_size: tuple[int, int] = (320, 240), kitchen_file: str | None = None) -> int:
    """Fill out_dir with shards until it holds `attempts` attempts (existing shards count: resumable)."""
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    from saycan_ros.affordance.learned import ENCODER_VERSION

    manifest = out_dir / "manifest.json"
    settings = {"seed": seed, "shard_size": shard_size, "image_size": list(image_size), "kitchen": kitchen_file,
                "encoder_version": ENCODER_VERSION}
    if manifest.exists():
        old = json.loads(manifest.read_text())
        if any(old.get(k) != v for k, v in settings.items()):
            raise ConfigError(f"{out_dir} holds a collection made with other settings ({old}); resume with the same "
                              "options and code, or use another --out")
    load_kitchen(kitchen_file)  # a bad kitchen file fails here, once, not in every worker
    manifest.write_text(json.dumps(settings))
    done = {}
    for f in out_dir.glob("shard-*.npz"):
        if ".tmp" not in f.name:
            with np.load(f) as shard_data:
                done[int(f.stem.split("-")[1])] = int(shard_data["label"].shape[0])
    have = sum(done.values())
    todo = (i for i in itertools.count() if i not in done)  # a partial shard (Ctrl-C) stays as it is
    need = max(0, attempts - have)
    bar = tqdm(total=attempts, initial=min(have, attempts), desc="collect", unit="attempt", dynamic_ncols=True,
               file=sys.stderr)
    start, written = time.time(), 0
    pending: dict[Future, int] = {}
    import multiprocessing

    stop = multiprocessing.get_context("fork").Event()
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                             initializer=_worker_init, initargs=(stop,)) as pool:
        try:
            while need > 0 or pending:
                while need - shard_size * len(pending) > 0 and len(pending) < workers:
                    shard = next(todo)
                    pending[pool.submit(collect_shard, shard, seed, shard_size, str(out_dir), image_size,
                                        kitchen_file)] = shard
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    pending.pop(future)
                    n = future.result()
                    written += n
                    need -= n
                    bar.update(n)
        except KeyboardInterrupt:  # the workers ignore SIGINT: ask them to save their partial shards and stop
            stop.set()
            for future in list(pending):
                try:
                    written += future.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died loses only its own shard
                    print(f"collect: shard {pending[future]} lost: {exc}", file=sys.stderr)
            bar.close()
            print(f"collect: interrupted; {have + written} attempts on disk in {out_dir} (run again to resume)",
                  file=sys.stderr)
            raise
    bar.close()
    elapsed = time.time() - start
    rate = written / elapsed * 3600 if elapsed > 0 else 0.0
    data = load_experience([out_dir])
    print(f"collect: {len(data)} attempts in {out_dir} ({written} new in {elapsed:.0f} s: {rate:.0f} attempts/hour "
          f"with {workers} worker(s))")
    for kind in sorted(set(data.kind)):
        mask = data.kind == kind
        print(f"  {kind:6s} n={int(mask.sum()):5d}  success={data.label[mask].mean():.2f}")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="saycan collect", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/experience", help="folder of shards (resumable)")
    parser.add_argument("--attempts", type=int, default=3000, help="attempts the folder should hold in all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kitchen", default=None, help="kitchen file (default: the package's config/kitchen.yaml)")
    parser.add_argument("--workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)))
    parser.add_argument("--shard-size", type=int, default=48)
    args = parser.parse_args(argv)
    if args.attempts < 1 or args.shard_size < 1 or args.workers < 1:
        raise ConfigError("--attempts, --shard-size and --workers must be at least 1")
    collect(Path(args.out), args.attempts, args.seed, args.workers, args.shard_size, kitchen_file=args.kitchen)
    return 0
