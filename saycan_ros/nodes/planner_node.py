"""planner_node: the SayCan loop as an ExecuteInstruction action server and a command topic.

Each step it asks llm_scoring_node (ScoreSkills) and affordance_node (GetAffordances) for the two
scores of every skill, chooses in the pure core, and sends the winner to skill_executor_node
(ExecuteSkill). Decisions go out as action feedback and on `saycan/plan` (PlanStatus); an
instruction that does not end in "done" ends there with state failed/canceled, and a command
refused while another instruction runs with state rejected. A scoring or affordance server that
is absent or vanishes mid-call (its node died) is waited for `service_restart_wait_s` (feedback
phase "waiting for <node>"; a cancel still works) and the step re-sent when it is back; after that,
and at once for the executor's action, the instruction ends with SERVICE_UNAVAILABLE (ros_calls).

A new instruction (goal or command) while one runs: `on_new_goal` preempt (default, like nav2)
stops the running one, which ends with PREEMPTED, and then runs the new one; reject refuses it.
A skill stopped by the executor's emergency stop ends the instruction with EMERGENCY_STOP at once.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Sequence

from action_msgs.msg import GoalStatus
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from saycan_msgs.action import ExecuteInstruction, ExecuteSkill
from saycan_msgs.msg import PlanStatus, Skill as SkillMsg, SkillCandidate
from saycan_msgs.srv import GetAffordances, ScoreSkills
from saycan_ros.core.episode import (STATUS_CANCELED, STATUS_DONE, STATUS_ERROR, STATUS_MAX_STEPS, STATUS_SKILL_FAILED,
                                     EpisodeRecord, SkillOutcome, StepRecord)
from saycan_ros.core.errors import EmptyInstructionError, InvalidInstructionError, SayCanError
from saycan_ros.core.instruction_slot import InstructionSlot, Run
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.planner import SayCanPlanner
from saycan_ros.core.prompt import normalize_instruction
from saycan_ros.core.skills import Skill, SkillLibrary
from saycan_ros.nodes.common import (Param, declare_params, destroyed_if_init_fails, in_thread, non_negative, one_of,
                                     positive, run_node)
from saycan_ros.nodes.ros_calls import CallCanceled, ServiceUnavailable, call_service, run_action
from saycan_ros.ros_io.actions import ActionClient, destroy_actions
from saycan_ros.ros_io.codes import (BACKEND_UNAVAILABLE, NO_OBSERVATION_YET, PLAN_CANCELED, PLAN_FAILED,
                                     PLAN_REJECTED, PLAN_SUCCEEDED, status_name)

Result = ExecuteInstruction.Result
OBSERVATION_POLL_S = 0.1  # wall-clock s between GetAffordances calls while the first frame is awaited
PARAMS = (
    Param("kitchen_file", "", "kitchen description (locations, objects, skill templates); empty: the package's config/kitchen.yaml"),
    Param("max_steps", 12, "step limit per instruction when the goal gives 0", positive),
    Param("top_k", 5, "candidates reported per step in feedback and on saycan/plan", positive),
    Param("max_failures", 3, "consecutive failed skills that end an episode", positive),
    Param("failure_penalty", 0.3, "affordance factor per failure of the same skill since the last success",
          lambda v: None if 0.0 < v <= 1.0 else "must be in (0, 1]"),
    Param("outcome_feedback", True, "write a failed skill into the language model's prompt with why it failed "
          "(Inner Monologue), so it replans from what happened; false: leave it out of the prompt (use false "
          "with a model that was not trained to read it, such as the `packaged` adapter)"),
    Param("score_mode", "sum", "task grounding: sum of the skill's token log-probs (SayCan) or their mean", one_of("sum", "mean")),
    Param("scoring_timeout_s", 120.0, "time limit of one ScoreSkills call", positive),
    Param("affordance_timeout_s", 10.0, "time limit of one GetAffordances call", positive),
    Param("observation_wait_s", 10.0, "how long a step waits for affordance_node's first camera observation (it "
          "has just started, or was reset with the world) before the instruction fails", non_negative),
    Param("skill_timeout_s", 300.0, "wall-clock limit of one ExecuteSkill goal (a safety net above the "
          "executor's own per-skill timeouts)", positive),
    Param("service_wait_s", 5.0, "how long to wait for a service/action server to appear", positive),
    Param("service_restart_wait_s", 60.0, "a scoring or affordance server that is gone (its node died) is waited for "
          "this long to come back, then the step resumes; after it the instruction ends with SERVICE_UNAVAILABLE "
          "(0: at once). The embedded model takes about 30 s to load on 2 busy cores", non_negative),
    Param("on_new_goal", "preempt", "a new instruction while one runs: preempt it (it ends with PREEMPTED) "
          "or reject the new one", one_of("preempt", "reject")),
    Param("preempt_timeout_s", 30.0, "how long a new instruction waits for the preempted one to stop", positive),
)


class RosGrounding:
    """TaskGrounding + WorldGrounding + SkillRunner over the other nodes' services and action."""

    def __init__(self, node: "PlannerNode", feedback: Callable[[str], None], should_cancel: Callable[[], bool]):
        self.node, self.feedback, self.should_cancel = node, feedback, should_cancel
        self.last_skill_error = 0
        self.observation_waited_out = False  # one wait per instruction for a first camera frame, not one per call

    def score(self, instruction: str, steps: Sequence[str], skills: Sequence[str],
              holding: str | None = None) -> list[float]:
        self.feedback("scoring")
        req = ScoreSkills.Request(instruction=instruction, steps_so_far=list(steps), skills=list(skills),
                                  holding=holding or "")
        res = self._call(self.node.score_client, req, self.node.p["scoring_timeout_s"], "llm_scoring_node")
        if not res.success:
            if res.error_msg.startswith(BACKEND_UNAVAILABLE):  # the node is up, its model server is not
                raise ServiceUnavailable(res.error_msg)
            raise SayCanError(res.error_msg or "llm_scoring_node reported a failure")
        if len(res.log_likelihoods) != len(skills):
            raise SayCanError(f"llm_scoring_node returned {len(res.log_likelihoods)} scores for {len(skills)} skills")
        return list(res.log_likelihoods if self.node.p["score_mode"] == "sum" else res.mean_log_likelihoods)

    def affordances(self, skills: Sequence[Skill]) -> list[float]:
        self.feedback("affordances")
        req = GetAffordances.Request(skills=[s.text for s in skills])
        res = self._after_first_observation(lambda: self._call(
            self.node.affordance_client, req, self.node.p["affordance_timeout_s"], "affordance_node"))
        if not res.success:
            raise SayCanError(res.error_msg or "affordance_node reported a failure")
        if len(res.probabilities) != len(skills):
            raise SayCanError(f"affordance_node returned {len(res.probabilities)} values for {len(skills)} skills")
        return list(res.probabilities)

    def held_object(self) -> str | None:
        """What affordance_node sees in the gripper now (None: nothing, not identified, or still no
        observation after observation_wait_s: the first step then reports the affordance node's error
        itself, after waiting for a dead node to come back, which this query does not)."""
        try:
            res = self._after_first_observation(lambda: call_service(
                self.node.affordance_client, GetAffordances.Request(skills=[]), self.node.p["affordance_timeout_s"],
                self.node.p["service_wait_s"], should_cancel=self.should_cancel))
        except CallCanceled:
            return None  # the planner sees the cancel request before its first step
        except SayCanError as exc:
            self.node.get_logger().info(f"what the gripper holds is not known: {exc}")
            return None
        held = (res.holding or None) if res.success else None
        if held:
            self.node.get_logger().info(f"the gripper holds the {held} as the instruction begins")
        return held

    def _after_first_observation(self, call: Callable[[], GetAffordances.Response]) -> GetAffordances.Response:
        """`call()` again while affordance_node answers that it has no camera observation yet, for up to
        observation_wait_s: after a reset (sim/reset, a hand-over) it waits for a frame of the new world.
        Once a wait has run out, later calls of the same instruction answer at once."""
        deadline = time.monotonic() + (0.0 if self.observation_waited_out else self.node.p["observation_wait_s"])
        while True:
            res = call()
            if res.success or not res.error_msg.startswith(NO_OBSERVATION_YET):
                return res
            if time.monotonic() >= deadline:
                self.observation_waited_out = True
                return res
            if self.should_cancel():
                raise CallCanceled("stopped on request while waiting for the first camera observation")
            time.sleep(OBSERVATION_POLL_S)

    def _call(self, client, request, timeout_s: float, server_node: str):
        """call_service that waits service_restart_wait_s for a server that died to come back (the
        step resumes), saying so in the log and as the feedback phase 'waiting for <node>'."""
        wait_s = self.node.p["service_restart_wait_s"]

        def waiting() -> None:
            self.node.get_logger().warning(f"{server_node} ('{client.srv_name}') is gone: waiting up to "
                                           f"{wait_s:.0f} s for it to come back")
            self.feedback(f"waiting for {server_node}")

        return call_service(client, request, timeout_s, self.node.p["service_wait_s"], restart_wait_s=wait_s,
                            should_cancel=self.should_cancel, on_waiting=waiting)

    def run(self, skill: Skill) -> SkillOutcome:
        self.feedback("executing")
        goal = ExecuteSkill.Goal(skill=SkillMsg(text=skill.text, kind=skill.kind, object=skill.object, location=skill.location))
        status, result = run_action(
            self.node.skill_client, goal, self.node.p["skill_timeout_s"], wait_s=self.node.p["service_wait_s"],
            on_feedback=lambda fb: self.feedback(fb.phase), should_cancel=self.should_cancel)
        if status == GoalStatus.STATUS_CANCELED:
            return SkillOutcome(False, ExecuteSkill.Result.CANCELED, "canceled")
        return SkillOutcome(bool(result.success), int(result.error_code), result.error_msg)


class PlannerNode(Node):
    @destroyed_if_init_fails
    def __init__(self, **node_kwargs) -> None:
        super().__init__("planner_node", **node_kwargs)
        self.p = declare_params(self, PARAMS)
        self.library = SkillLibrary.from_kitchen(load_kitchen(self.p["kitchen_file"] or None))
        group = ReentrantCallbackGroup()
        self.score_client = self.create_client(ScoreSkills, "score_skills", callback_group=group)
        self.affordance_client = self.create_client(GetAffordances, "get_affordances", callback_group=group)
        self.skill_client = ActionClient(self, ExecuteSkill, "execute_skill", callback_group=group)
        self.plan_pub = self.create_publisher(PlanStatus, "saycan/plan", 10)
        self._slot = InstructionSlot(preempt=self.p["on_new_goal"] == "preempt")
        self._claims: dict[int, Run] = {}  # goal request id -> its run, from _on_goal to _execute
        self._server = ActionServer(
            self, ExecuteInstruction, "execute_instruction", execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=group)
        self.create_subscription(String, "saycan/command", self._on_command, 10, callback_group=group)
        self.get_logger().info(f"ready: {len(self.library)} skills; waiting for instructions on "
                               f"'execute_instruction' (action) and 'saycan/command' (topic)")

    # -- entry points ------------------------------------------------------------------
    def _on_goal(self, goal_request) -> GoalResponse:
        # Claimed here and released when _execute ends: with on_new_goal=reject two goals (or a
        # goal and a command) arriving together cannot both be accepted; with preempt the running
        # one is asked to stop as soon as the new goal is accepted. An unusable instruction claims
        # nothing (it must not preempt a good one): _execute gives it its error code.
        if not self._usable(goal_request.instruction):
            return GoalResponse.ACCEPT
        run = self._slot.claim(goal_request.instruction)
        if run is None:
            self.get_logger().warning(f"rejecting '{goal_request.instruction}': an instruction is already running")
            return GoalResponse.REJECT
        self._claims[id(goal_request)] = run
        return GoalResponse.ACCEPT

    @staticmethod
    def _usable(instruction: str) -> bool:
        try:
            normalize_instruction(instruction)
        except InvalidInstructionError:
            return False
        return True

    async def _execute(self, goal_handle) -> ExecuteInstruction.Result:
        # The loop blocks on service calls and the skill action: it runs in a thread of its own while
        # the node's one executor thread takes their responses (and /clock, the goal's cancel) in.
        return await in_thread(self.executor, lambda: self._execute_blocking(goal_handle), "saycan-goal")

    def _execute_blocking(self, goal_handle) -> ExecuteInstruction.Result:
        goal = goal_handle.request
        run = self._claims.pop(id(goal), None)

        def feedback(step: StepRecord | None, phase: str) -> None:
            msg = ExecuteInstruction.Feedback(phase=phase)
            if step is not None:
                msg.step_index, msg.chosen_skill = step.index, step.chosen
                msg.candidates = self._candidate_msgs(step)
            goal_handle.publish_feedback(msg)

        try:
            if run is None:  # unusable: no slot, just its error code
                episode, code, message = self.run_episode(goal.instruction, goal.max_steps, feedback,
                                                          lambda: goal_handle.is_cancel_requested)
            else:
                episode, code, message = self._run_claimed(run, goal.max_steps, feedback,
                                                           lambda: goal_handle.is_cancel_requested)
        finally:
            if run is not None:
                self._slot.release(run)  # claimed in _on_goal
        result = Result(success=code == Result.NONE, executed_steps=episode.executed if episode else [],
                        error_code=code, error_msg=message)
        # Every path sets a terminal state itself: a goal left without one is reported by rclpy as
        # ABORTED with an empty result, which is what every action client would then see.
        if code == Result.CANCELED and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif code == Result.NONE:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result

    def _on_command(self, msg: String) -> None:
        """Text/voice commands: run like an action goal, in a worker thread (no caller to answer)."""
        if not self._usable(msg.data):  # its error goes out on saycan/plan; a running one goes on
            # (no service call on the way: this runs on the node's one executor thread)
            self.run_episode(msg.data, 0, lambda step, phase: None, lambda: False)
            return
        run = self._slot.claim(msg.data)
        if run is None:
            reason = "an instruction is already running"
            self.get_logger().warning(f"rejecting command '{msg.data}': {reason}")
            # the sender (a voice front end, a script) has no result to wait for: tell it on saycan/plan
            self._publish_end(msg.data, PLAN_REJECTED, reason, steps=0)
            return

        def work() -> None:
            try:
                self._run_claimed(run, 0, lambda step, phase: None, lambda: not self.context.ok())
            finally:
                self._slot.release(run)

        threading.Thread(target=work, name="saycan-command", daemon=True).start()

    def _run_claimed(self, run: Run, max_steps: int, feedback: Callable[[StepRecord | None, str], None],
                     should_cancel: Callable[[], bool]) -> tuple[EpisodeRecord | None, int, str]:
        """Wait for the slot (a preempted instruction stops first), then run the episode; a newer
        instruction's arrival counts as a cancel request and ends this one with PREEMPTED."""
        if not self._slot.wait_turn(run, self.p["preempt_timeout_s"]):
            if run.preempted_by is not None:
                code, message = Result.PREEMPTED, f"preempted before it started by '{run.preempted_by}'"
            else:
                code, message = Result.UNKNOWN, (f"the running instruction did not stop within "
                                                 f"{self.p['preempt_timeout_s']:g} s (preempt_timeout_s)")
            self.get_logger().warning(f"'{run.instruction}': {message}")
            self._publish_end(run.instruction, PLAN_CANCELED if run.preempted_by else PLAN_FAILED, message, steps=0)
            return None, code, message
        return self.run_episode(run.instruction, max_steps, feedback,
                                lambda: should_cancel() or run.preempted_by is not None,
                                stop_reason=lambda: None if should_cancel() or run.preempted_by is None
                                else f"preempted by a new instruction: '{run.preempted_by}'")

    # -- the loop ----------------------------------------------------------------------
    def run_episode(self, instruction: str, max_steps: int, feedback: Callable[[StepRecord | None, str], None],
                    should_cancel: Callable[[], bool],
                    stop_reason: Callable[[], str | None] = lambda: None) -> tuple[EpisodeRecord | None, int, str]:
        """Run the SayCan loop; returns (episode, error_code, error_msg). Never raises: user
        mistakes and failures alike end in a code, and on saycan/plan in a terminal PlanStatus.
        `stop_reason`: why a stop was requested other than by a cancel (a preemption), if so."""
        try:
            episode, code, message = self._run_loop(instruction, max_steps, feedback, should_cancel)
            reason = stop_reason() if code == Result.CANCELED else None
            if reason:
                code, message = Result.PREEMPTED, f"{reason} (after {len(episode.executed)} executed step(s))"
        except Exception as exc:  # a bug must still end the goal with a code and a message
            if not self.context.ok():  # shutting down: nobody is left to tell
                return None, Result.UNKNOWN, "the planner is shutting down"
            self.get_logger().error(f"'{instruction}' ended by an internal error: {exc!r}")
            episode, code, message = None, Result.UNKNOWN, f"internal planner error: {exc!r}"
        if code == Result.NONE:
            self.get_logger().info(f"'{episode.instruction}': done after {len(episode.steps)} step(s)")
        else:
            # One call site per severity: rclpy refuses a logging call site whose severity changes.
            self.get_logger().warning(f"'{_shortened(instruction, 80)}': {status_name(code)}"
                                      + (f" after {len(episode.steps)} step(s)" if episode else "")
                                      + (f": {message}" if message else ""))
            state = PLAN_CANCELED if code in (Result.CANCELED, Result.PREEMPTED) else PLAN_FAILED
            self._publish_end(instruction, state, message or status_name(code),
                              steps=len(episode.steps) if episode else 0, executed=episode.executed if episode else [])
        return episode, code, message

    def _run_loop(self, instruction: str, max_steps: int, feedback: Callable[[StepRecord | None, str], None],
                  should_cancel: Callable[[], bool]) -> tuple[EpisodeRecord | None, int, str]:
        current: list[StepRecord | None] = [None]
        executed: list[str] = []
        grounding = RosGrounding(self, lambda phase: feedback(current[0], phase), should_cancel)

        def on_step(step: StepRecord, phase: str) -> None:
            current[0] = step
            if phase == "finished" and step.outcome is not None and step.outcome.success:
                executed.append(step.chosen)
            state = "executing" if phase == "chosen" and step.chosen != "done" else (
                PLAN_SUCCEEDED if step.chosen == "done" else "planning")
            detail = "" if step.outcome is None else (
                "ok" if step.outcome.success else f"failed ({step.outcome.error_code}): {step.outcome.message}")
            self._publish_plan(instruction, step, state, detail, executed)
            if phase == "chosen":
                self._log_step(step)
                feedback(step, "chosen")

        planner = SayCanPlanner(self.library, grounding, grounding, grounding, max_steps=self.p["max_steps"],
                                top_k=self.p["top_k"], max_failures=self.p["max_failures"],
                                failure_penalty=self.p["failure_penalty"], outcome_feedback=self.p["outcome_feedback"],
                                on_step=on_step, should_stop=should_cancel,
                                final_codes=frozenset({ExecuteSkill.Result.EMERGENCY_STOP}))
        try:
            normalize_instruction(instruction)  # a user mistake is answered before any service call
            episode = planner.run(instruction, max_steps or None, holding=grounding.held_object())
        except InvalidInstructionError as exc:
            code = Result.EMPTY_INSTRUCTION if isinstance(exc, EmptyInstructionError) else Result.INVALID_INSTRUCTION
            return None, code, str(exc)
        return episode, self._error_code(episode), episode.error_msg

    @staticmethod
    def _error_code(episode: EpisodeRecord) -> int:
        if episode.status == STATUS_DONE:
            return Result.NONE
        if episode.status == STATUS_ERROR:
            if episode.judgement.get("error_type") == ServiceUnavailable.__name__:
                return Result.SERVICE_UNAVAILABLE
            if episode.judgement.get("error_type") == CallCanceled.__name__:  # stopped while waiting for a server
                return Result.CANCELED
            return {"scoring": Result.SCORING_FAILED, "affordance": Result.AFFORDANCE_FAILED,
                    "execution": Result.SKILL_FAILED}.get(episode.judgement.get("failed_stage"), Result.UNKNOWN)
        last = episode.steps[-1].outcome if episode.steps else None
        if episode.status == STATUS_SKILL_FAILED and last is not None \
                and last.error_code == ExecuteSkill.Result.EMERGENCY_STOP:
            return Result.EMERGENCY_STOP
        return {STATUS_MAX_STEPS: Result.MAX_STEPS_REACHED, STATUS_SKILL_FAILED: Result.SKILL_FAILED,
                STATUS_CANCELED: Result.CANCELED}.get(episode.status, Result.UNKNOWN)

    # -- reporting ---------------------------------------------------------------------
    def _candidate_msgs(self, step: StepRecord) -> list[SkillCandidate]:
        """The top-k by combined score, plus the language model's favourite when it is not among
        them, so that a viewer can always tell what the affordances overruled."""
        shown = step.top(self.p["top_k"])
        favourite = max(step.candidates, key=lambda c: c.llm)
        if favourite not in shown:
            shown = [*shown, favourite]
        return [SkillCandidate(skill=c.skill, llm_log_likelihood=c.llm, affordance=c.affordance, combined=c.combined)
                for c in shown]

    def _publish_plan(self, instruction: str, step: StepRecord, state: str, detail: str,
                      executed: Sequence[str]) -> None:
        msg = PlanStatus(instruction=instruction, step_index=step.index, chosen=step.chosen, state=state,
                         detail=detail, executed_steps=list(executed))
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.candidates = self._candidate_msgs(step)
        self.plan_pub.publish(msg)

    def _publish_end(self, instruction: str, state: str, detail: str, steps: int,
                     executed: Sequence[str] = ()) -> None:
        """The last PlanStatus of an instruction that did not end in 'done' (failed, canceled) or
        never started (rejected): no skill is chosen in it, `detail` says why."""
        msg = PlanStatus(instruction=_shortened(instruction), step_index=steps, chosen="", state=state, detail=detail,
                         executed_steps=list(executed))
        msg.header.stamp = self.get_clock().now().to_msg()
        self.plan_pub.publish(msg)

    def _log_step(self, step: StepRecord) -> None:
        best = step.candidates[0]
        self.get_logger().info(f"step {step.index}: '{best.skill}' (LLM {best.llm:.2f}, affordance {best.affordance:.2f}, "
                               f"combined {best.combined:.2f})")

    def destroy_node(self) -> None:
        destroy_actions(self)
        super().destroy_node()


def _shortened(text: str, limit: int = 400) -> str:
    """What a refused instruction is echoed as: not 100 kB on every subscriber's screen."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(PlannerNode, args, single_threaded=True, awaits=True))


if __name__ == "__main__":
    main()
