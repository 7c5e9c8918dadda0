"""A client of the running SayCan graph: readiness checks, instruction goals, the sim's world state.

Used by `saycan demo` and by exec-mode evaluation. An rclpy node spins in a background thread;
every wait also watches the launched processes, so a node that dies is reported at once.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Sequence

from saycan_ros.core.episode import EpisodeRecord, SkillOutcome, StepRecord
from saycan_ros.core.errors import SayCanError
from saycan_ros.core.scoring import Candidate
from saycan_ros.ros_io.codes import PLAN_END_STATES, status_name


class GraphClient:
    """An rclpy node (spinning in a background thread) that drives the launched graph."""

    def __init__(self, graph, name: str = "saycan_client"):
        import rclpy
        from rcl_interfaces.srv import SetParameters
        from saycan_ros.ros_io.actions import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        from saycan_msgs.action import ExecuteInstruction
        from saycan_msgs.msg import PlanStatus
        from saycan_msgs.srv import GetAffordances, ScoreSkills

        self.graph = graph
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.action = ActionClient(self.node, ExecuteInstruction, "execute_instruction")
        self.reset_client = self.node.create_client(Trigger, "sim/reset")
        # after a reset, the nodes that keep beliefs about the gripper must forget them
        self.forget_clients = [self.node.create_client(Trigger, f"{name}/reset")
                               for name in ("skill_executor_node", "affordance_node")]
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
        # One thread: no callback of this node blocks (the caller's thread waits on futures with
        # wait_done); the multi-threaded executor's pool doubled the CPU of the recorder's ~200
        # messages a second in exec mode (41 -> 20 CPU-s over the single family).
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()
        self._Trigger, self._SetParameters, self._Goal = Trigger, SetParameters, ExecuteInstruction.Goal
        self._GetAffordances = GetAffordances
        # optional live hooks (the demo prints with them): a decided step, an executor phase, a skill outcome
        self.on_step: Callable[[StepRecord], None] | None = None
        self.on_phase: Callable[[str], None] | None = None
        self.on_outcome: Callable[[int, str], None] | None = None
        self.last_result = None  # the ExecuteInstruction result of the last execute(), if it came

    # -- subscriptions ---------------------------------------------------------------------
    def _on_world(self, msg) -> None:
        try:
            world = json.loads(msg.data)
        except ValueError:
            return
        with self._lock:
            self._world, self._world_stamp = world, time.monotonic()

    def _on_plan(self, msg) -> None:
        if msg.state in PLAN_END_STATES:  # the instruction's own end; the action result says it too
            return
        with self._lock:
            self._plan_events.append((time.monotonic(), msg))
        if msg.detail and self.on_outcome is not None:
            self.on_outcome(msg.step_index, msg.detail)

    def world(self) -> tuple[dict[str, Any] | None, float]:
        with self._lock:
            return self._world, self._world_stamp

    def sim_time(self) -> float | None:
        """The simulator's clock as its last world state said (None without a simulator)."""
        world, _ = self.world()
        return float(world["sim_time"]) if world and "sim_time" in world else None

    # -- calls -------------------------------------------------------------------------------
    def wait_until_ready(self, timeout_s: float, progress: Callable[[str], None] | None = None) -> None:
        """Wait, stage by stage, until the graph answers; `progress` hears each stage's label."""
        deadline = time.monotonic() + timeout_s
        for label, ready in (("planner action server", self.action.server_is_ready),
                             ("sim/reset service", self.reset_client.service_is_ready),
                             ("sim_node parameters", self.params_client.service_is_ready),
                             ("language model service", self.score_client.service_is_ready),
                             ("simulator world state", lambda: self.world()[0] is not None),
                             ("affordances from the camera", self._affordance_probe)):
            if progress is not None:
                progress(label)
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

    def set_scene(self, name: str, pose: Sequence[float] | None, holding: str | None = None,
                  timeout_s: float = 30.0, fault_seed: int | None = None) -> dict[str, Any]:
        """Set sim_node's scene, start pose and the object in the gripper (and, if given, the seed of
        its injected faults), reset, have the executor and the affordance node forget their gripper
        beliefs, and return the fresh world state."""
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue

        def text(key: str, value: str) -> Parameter:
            return Parameter(name=key, value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value))
        settings = [text("scene", name), text("start_holding", holding or "")]
        if fault_seed is not None:
            settings.append(Parameter(name="fault_seed", value=ParameterValue(
                type=ParameterType.PARAMETER_INTEGER, integer_value=int(fault_seed))))
        refused = self._set_parameters(settings, timeout_s)
        if refused:
            raise SayCanError(f"sim_node refused scene '{name}' (holding: {holding or 'nothing'}): {refused}")
        if pose is not None:  # best effort: the check after the reset tells whether it took effect
            self._set_parameters([Parameter(name="start_pose", value=ParameterValue(
                type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=[float(v) for v in pose]))], timeout_s)
        before = time.monotonic()
        reply = wait_done(self.reset_client.call_async(self._Trigger.Request()), timeout_s, "sim/reset did not answer", self.graph)
        if not reply.success:
            raise SayCanError(f"sim/reset failed: {reply.message}")
        for client in self.forget_clients:
            if not client.wait_for_service(timeout_sec=timeout_s):
                raise SayCanError(f"service '{client.srv_name}' is not available")
            reply = call_idempotent(client, self._Trigger.Request(), timeout_s, f"{client.srv_name} did not answer",
                                    self.graph)
            if not reply.success:
                raise SayCanError(f"{client.srv_name} refused: {reply.message}")
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
        reply = wait_done(self.params_client.call_async(self._SetParameters.Request(parameters=params)), timeout_s,
                      "sim_node did not answer set_parameters", self.graph)
        return "; ".join(r.reason or "refused" for r in reply.results if not r.successful)

    def execute(self, instruction: str, max_steps: int, timeout_s: float,
                sim_time_limit_s: float | None = None) -> EpisodeRecord:
        """Send one goal; return the episode as seen from feedback and saycan/plan. The goal is
        canceled (status "timeout") after timeout_s of wall-clock time or, with a simulator,
        sim_time_limit_s of simulated time, whichever comes first."""
        with self._lock:
            self._plan_events.clear()
        episode = EpisodeRecord(instruction)
        chosen_at: dict[int, float] = {}

        def on_feedback(msg) -> None:
            fb = msg.feedback
            if fb.phase != "chosen":
                if self.on_phase is not None and fb.phase:
                    self.on_phase(fb.phase)
                return
            if any(s.index == fb.step_index for s in episode.steps):
                return
            chosen_at[fb.step_index] = time.monotonic()
            step = StepRecord(fb.step_index, [Candidate(c.skill, c.llm_log_likelihood, c.affordance, c.combined)
                                              for c in fb.candidates], fb.chosen_skill)
            episode.steps.append(step)
            if self.on_step is not None:
                self.on_step(step)

        started, sim_started = time.monotonic(), self.sim_time()
        send = self.action.send_goal_async(self._Goal(instruction=instruction, max_steps=max_steps),
                                           feedback_callback=on_feedback)
        handle = wait_done(send, 30.0, "the planner did not answer the goal", self.graph)
        if not handle.accepted:
            raise SayCanError("the planner rejected the goal (is another instruction running?)")
        limit = None
        if sim_time_limit_s is not None and sim_started is not None:
            def limit() -> str | None:
                now = self.sim_time()
                over = now is not None and now - sim_started > sim_time_limit_s
                return f"no result within {sim_time_limit_s:.0f} s of simulated time" if over else None
        try:
            response = wait_done(handle.get_result_async(), timeout_s, f"no result within {timeout_s:.0f} s", self.graph,
                                 give_up=limit)
        except SayCanError as exc:
            cancel = handle.cancel_goal_async()
            wait_done(cancel, 30.0, "the planner did not answer the cancel", self.graph)
            episode.status, episode.error_msg = "timeout", f"{exc} (canceled)"
            response = None
        time.sleep(0.5)  # the last PlanStatus and world state may trail the result
        self._attach_outcomes(episode, chosen_at, started)
        if response is not None:
            self.last_result = response.result
            episode.status = "done" if response.result.success else status_name(response.result.error_code)
            episode.error_msg = response.result.error_msg
        episode.finished_at = time.time()
        return episode

    def _attach_outcomes(self, episode: EpisodeRecord, chosen_at: dict[int, float], started: float) -> None:
        with self._lock:
            events = list(self._plan_events)
        merge_plan_events(episode, events, chosen_at, started)

    def close(self) -> None:
        from saycan_ros.ros_io.actions import destroy_actions

        self.executor.shutdown()
        self._spin.join(timeout=5.0)  # destroying the node while the spin thread waits on it raises there
        destroy_actions(self.node)
        self.node.destroy_node()
        self.context.try_shutdown()


def merge_plan_events(episode: EpisodeRecord, events: list[tuple[float, Any]], chosen_at: dict[int, float],
                      started: float) -> None:
    """Complete an episode seen through action feedback with the saycan/plan events (monotonic
    stamp, PlanStatus): missing decisions, skill outcomes and planning time per step."""
    # Action feedback is not guaranteed to arrive before the result (the last step's often
    # trails it): a decision seen only on saycan/plan is rebuilt from that message.
    known = {s.index for s in episode.steps}
    for stamp, msg in events:
        if msg.step_index not in known and msg.chosen:
            known.add(msg.step_index)
            chosen_at.setdefault(msg.step_index, stamp)
            episode.steps.append(StepRecord(msg.step_index, [
                Candidate(c.skill, c.llm_log_likelihood, c.affordance, c.combined) for c in msg.candidates],
                msg.chosen))
    episode.steps.sort(key=lambda s: s.index)
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


RESEND_AFTER_S = 5.0


class NoAnswer(SayCanError):
    """A call or goal got no answer in time (a dead node is reported as itself, not as this)."""


def call_idempotent(client, request, timeout_s: float, message: str, graph=None):
    """Call a service whose request may safely arrive twice, sending it again every RESEND_AFTER_S
    until timeout_s: right after a node restarts, the graph may still list the dead server, and a
    request sent before the new one is matched is lost (a bench case once waited 30 s for that)."""
    deadline = time.monotonic() + timeout_s
    while True:
        future = client.call_async(request)
        try:
            return wait_done(future, min(RESEND_AFTER_S, max(deadline - time.monotonic(), 0.0)), message, graph)
        except NoAnswer:
            client.remove_pending_request(future)
            if time.monotonic() >= deadline:
                raise


def wait_done(future, timeout_s: float, message: str, graph=None,
              give_up: Callable[[], str | None] | None = None):
    """The future's result; SayCanError(message) after timeout_s, or with give_up's message as
    soon as give_up returns one (checked every half second, like the graph's processes)."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    deadline = time.monotonic() + timeout_s
    while not done.wait(0.5):
        if graph is not None:
            graph.check_alive()
        if time.monotonic() > deadline:
            raise NoAnswer(message)
        reason = give_up() if give_up is not None else None
        if reason:
            raise SayCanError(reason)
    return future.result()
