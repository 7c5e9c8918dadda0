"""exec mode of `saycan eval`: every episode runs in the simulator through the node graph.

The sim launch file's nodes start once (saycan_ros.launch_runner). The simulator gets a kitchen
file with one extra scene per episode (eval-<n>, the episode's start objects). Per episode the
harness sets sim_node's `scene` (and `start_pose`) parameters, calls `sim/reset`, checks the
laid-out world against the episode's start, sends the instruction as an ExecuteInstruction goal,
records every decision from the action feedback and every outcome from `saycan/plan`, and judges
the goal on the simulator's final `sim/world_state`.

Episodes the simulator cannot start as written (the robot holding something at the start, or
standing somewhere the reset does not put it) are skipped and listed, not counted as failures.
"""
from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from saycan_ros.core.episode import EpisodeRecord, SkillOutcome, StepRecord
from saycan_ros.core.errors import ConfigError, SayCanError
from saycan_ros.core.kitchen import Kitchen, default_kitchen_file
from saycan_ros.core.scoring import Candidate
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import USER
from saycan_ros.eval.episodes import Episode, state_from_world
from saycan_ros.eval.report import EpisodeResult

STARTUP_TIMEOUT_S = 300.0


def scene_name(index: int) -> str:
    return f"eval-{index}"


def write_eval_kitchen(kitchen_file: Path, episodes: Sequence[Episode], folder: Path) -> Path:
    """A copy of the kitchen file with one scene per episode (its start objects)."""
    data = yaml.safe_load(Path(kitchen_file).read_text())
    scenes = dict(data.get("scenes") or {})
    for i, ep in enumerate(episodes, 1):
        scenes[scene_name(i)] = dict(ep.start["objects"])
    data["scenes"] = scenes
    path = folder / "eval_kitchen.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def unsupported_reason(ep: Episode) -> str | None:
    """Why the simulator cannot start this episode as written, or None."""
    if ep.start["robot"]["holding"] is not None:
        return f"starts holding the {ep.start['robot']['holding']} (sim/reset cannot put an object in the gripper)"
    if not ep.start["objects"]:
        return "no objects in the start state (the simulator needs a scene)"
    return None


def graph_nodes(args, kitchen_path: Path, affordance: str):
    """The sim launch file's nodes with the evaluation's overrides."""
    from saycan_ros.launch_runner import find_launch_file, parse_launch_file

    nodes = parse_launch_file(find_launch_file("sim"), {"model": args.model or ""})
    for node in nodes:
        if node.name == "sim_node":
            node.params.append(("kitchen_file", str(kitchen_path)))
        elif node.name == "planner_node":
            node.params.append(("score_mode", args.score))
        elif node.name == "affordance_node" and affordance == "none":
            node.params.append(("model", "none"))
        elif node.name == "llm_scoring_node":
            node.params.append(("backend", args.scorer))
            if args.server_url:
                node.params.append(("server_url", args.server_url))
    return nodes


class ExecClient:
    """An rclpy node (spinning in a background thread) that drives the graph episode by episode."""

    def __init__(self, graph):
        import rclpy
        from rcl_interfaces.srv import SetParameters
        from rclpy.action import ActionClient
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        from saycan_msgs.action import ExecuteInstruction
        from saycan_msgs.msg import PlanStatus
        from saycan_msgs.srv import GetAffordances, ScoreSkills

        self.graph = graph
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("saycan_eval", context=self.context)
        self.action = ActionClient(self.node, ExecuteInstruction, "execute_instruction")
        self.reset_client = self.node.create_client(Trigger, "sim/reset")
        self.params_client = self.node.create_client(SetParameters, "sim_node/set_parameters")
        self.score_client = self.node.create_client(ScoreSkills, "score_skills")
        self.afford_client = self.node.create_client(GetAffordances, "get_affordances")
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._lock = threading.Lock()
        self._world: dict[str, Any] | None = None
        self._world_stamp = 0.0
        self._plan_events: list[tuple[float, Any]] = []
        self.node.create_subscription(String, "sim/world_state", self._on_world, latched)
        self.node.create_subscription(PlanStatus, "saycan/plan", self._on_plan, 50)
        self.executor = MultiThreadedExecutor(num_threads=3, context=self.context)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()
        self._Trigger, self._SetParameters, self._Goal = Trigger, SetParameters, ExecuteInstruction.Goal
        self._GetAffordances = GetAffordances

    # -- subscriptions ---------------------------------------------------------------------
    def _on_world(self, msg) -> None:
        try:
            world = json.loads(msg.data)
        except ValueError:
            return
        with self._lock:
            self._world, self._world_stamp = world, time.monotonic()

    def _on_plan(self, msg) -> None:
        with self._lock:
            self._plan_events.append((time.monotonic(), msg))

    def world(self) -> tuple[dict[str, Any] | None, float]:
        with self._lock:
            return self._world, self._world_stamp

    # -- calls -------------------------------------------------------------------------------
    def wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for label, ready in (("planner action server", self.action.server_is_ready),
                             ("sim/reset service", self.reset_client.service_is_ready),
                             ("sim_node parameters", self.params_client.service_is_ready),
                             ("language model service", self.score_client.service_is_ready),
                             ("simulator world state", lambda: self.world()[0] is not None),
                             ("affordances from the camera", self._affordance_probe)):
            while not ready():
                self.graph.check_alive()
                if time.monotonic() > deadline:
                    raise SayCanError(f"the graph did not come up within {timeout_s:.0f} s (waiting for the {label})")
                time.sleep(0.25)

    def _affordance_probe(self) -> bool:
        """The affordance node answers from a fresh camera image (so the camera is flowing)."""
        if not self.afford_client.service_is_ready():
            return False
        future = self.afford_client.call_async(self._GetAffordances.Request(skills=["done"]))
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        return done.wait(5.0) and future.result() is not None and bool(future.result().success)

    def set_scene(self, name: str, pose: Sequence[float] | None, timeout_s: float = 30.0) -> dict[str, Any]:
        """Set sim_node's scene (and start pose), reset, and return the fresh world state."""
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue

        scene = Parameter(name="scene", value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=name))
        refused = self._set_parameters([scene], timeout_s)
        if refused:
            raise SayCanError(f"sim_node refused scene '{name}': {refused}")
        if pose is not None:  # best effort: the check after the reset tells whether it took effect
            self._set_parameters([Parameter(name="start_pose", value=ParameterValue(
                type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=[float(v) for v in pose]))], timeout_s)
        before = time.monotonic()
        reply = _wait(self.reset_client.call_async(self._Trigger.Request()), timeout_s, "sim/reset did not answer", self.graph)
        if not reply.success:
            raise SayCanError(f"sim/reset failed: {reply.message}")
        deadline = time.monotonic() + timeout_s
        while True:
            world, stamp = self.world()
            if world is not None and stamp > before and world.get("scene") == name:
                return world
            if time.monotonic() > deadline:
                raise SayCanError("no world state after sim/reset")
            time.sleep(0.1)

    def _set_parameters(self, params, timeout_s: float) -> str:
        """Set sim_node parameters; returns the refusal reasons ('' when all were set)."""
        reply = _wait(self.params_client.call_async(self._SetParameters.Request(parameters=params)), timeout_s,
                      "sim_node did not answer set_parameters", self.graph)
        return "; ".join(r.reason or "refused" for r in reply.results if not r.successful)

    def execute(self, instruction: str, max_steps: int, timeout_s: float) -> EpisodeRecord:
        """Send one goal; return the episode as seen from feedback and saycan/plan."""
        with self._lock:
            self._plan_events.clear()
        episode = EpisodeRecord(instruction)
        chosen_at: dict[int, float] = {}

        def on_feedback(msg) -> None:
            fb = msg.feedback
            if fb.phase != "chosen" or any(s.index == fb.step_index for s in episode.steps):
                return
            chosen_at[fb.step_index] = time.monotonic()
            episode.steps.append(StepRecord(fb.step_index, [Candidate(c.skill, c.llm_log_likelihood, c.affordance,
                                                                      c.combined) for c in fb.candidates],
                                            fb.chosen_skill))

        started = time.monotonic()
        send = self.action.send_goal_async(self._Goal(instruction=instruction, max_steps=max_steps),
                                           feedback_callback=on_feedback)
        handle = _wait(send, 30.0, "the planner did not answer the goal", self.graph)
        if not handle.accepted:
            raise SayCanError("the planner rejected the goal (is another instruction running?)")
        try:
            response = _wait(handle.get_result_async(), timeout_s, f"no result within {timeout_s:.0f} s", self.graph)
        except SayCanError:
            cancel = handle.cancel_goal_async()
            _wait(cancel, 30.0, "the planner did not answer the cancel", self.graph)
            episode.status, episode.error_msg = "timeout", f"no result within {timeout_s:.0f} s (canceled)"
            response = None
        time.sleep(0.5)  # the last PlanStatus and world state may trail the result
        self._attach_outcomes(episode, chosen_at, started)
        if response is not None:
            result = response.result
            episode.status = "done" if result.success else _status_name(result.error_code)
            episode.error_msg = result.error_msg
        episode.finished_at = time.time()
        return episode

    def _attach_outcomes(self, episode: EpisodeRecord, chosen_at: dict[int, float], started: float) -> None:
        with self._lock:
            events = list(self._plan_events)
        finished: dict[int, float] = {}
        for stamp, msg in events:
            if msg.detail:
                finished[msg.step_index] = stamp
                for step in episode.steps:
                    if step.index == msg.step_index and step.outcome is None:
                        ok = msg.detail == "ok"
                        step.outcome = SkillOutcome(ok, 0, "" if ok else msg.detail)
        for step in episode.steps:
            if step.chosen == "done" and step.outcome is None:
                step.outcome = SkillOutcome(True, 0, "task complete")
            # planning time: from the previous step's end (or the goal) to this step's decision
            previous_end = finished.get(step.index - 1, started)
            if step.index in chosen_at:
                step.scoring_ms = max(0.0, (chosen_at[step.index] - previous_end) * 1000)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def _wait(future, timeout_s: float, message: str, graph=None):
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    deadline = time.monotonic() + timeout_s
    while not done.wait(0.5):
        if graph is not None:
            graph.check_alive()
        if time.monotonic() > deadline:
            raise SayCanError(message)
    return future.result()


def _status_name(code: int) -> str:
    from saycan_msgs.action import ExecuteInstruction

    names = {getattr(ExecuteInstruction.Result, n): n.lower() for n in dir(ExecuteInstruction.Result)
             if n.isupper() and isinstance(getattr(ExecuteInstruction.Result, n), int)}
    return names.get(code, f"error_{code}")


def run_exec_mode(episodes: Sequence[Episode], kitchen: Kitchen, args, affordance: str, out_dir: Path,
                  progress: Callable[[int, int, EpisodeResult], None] | None = None
                  ) -> tuple[list[EpisodeResult], list[str]]:
    """Run every episode through the graph; returns (results, notes about skipped episodes)."""
    from saycan_ros.eval.harness import judge
    from saycan_ros.launch_runner import LaunchedGraph

    if affordance not in ("graph", "perception", "none"):
        raise ConfigError(f"exec mode uses the graph's camera-based affordance model (or none with --no-affordance); "
                          f"'{affordance}' is a plan-mode model")
    library = SkillLibrary.from_kitchen(kitchen)
    runnable = [(i, ep) for i, ep in enumerate(episodes, 1) if unsupported_reason(ep) is None]
    notes = [f"skipped {ep.id}: {unsupported_reason(ep)}" for ep in episodes if unsupported_reason(ep)]
    work = Path(tempfile.mkdtemp(prefix="saycan-eval-"))
    kitchen_path = write_eval_kitchen(Path(args.kitchen) if args.kitchen else default_kitchen_file(), episodes, work)
    nodes = graph_nodes(args, kitchen_path, affordance)
    results: list[EpisodeResult] = []
    print(f"exec mode: starting {len(nodes)} nodes ({', '.join(n.name for n in nodes)}); logs in {out_dir / 'logs'}",
          flush=True)
    with LaunchedGraph(nodes, log_dir=out_dir / "logs") as graph:
        client = ExecClient(graph)
        try:
            client.wait_until_ready(STARTUP_TIMEOUT_S)
            for n, (index, ep) in enumerate(runnable, 1):
                at = ep.start["robot"]["at"]
                pose = kitchen.locations[at].pose if at in kitchen.locations else None
                world = client.set_scene(scene_name(index), pose)
                where = world.get("robot_location")
                if at != USER and where != at:
                    notes.append(f"skipped {ep.id}: the robot should start at the {at} but sim/reset put it at "
                                 f"{where or 'no location'} (sim/reset does not apply start_pose)")
                    continue
                started = time.perf_counter()
                record = client.execute(ep.instruction, ep.max_steps or args.max_steps, args.timeout)
                final, _ = client.world()
                result = judge(ep, record, state_from_world(final or {}), library, kitchen)
                result.elapsed_s = time.perf_counter() - started
                results.append(result)
                if progress:
                    progress(n, len(runnable), result)
        finally:
            client.close()
    return results, notes
