"""Names of the typed error codes in saycan_msgs action results, for logs and reports."""
from __future__ import annotations


def status_name(code: int) -> str:
    """ExecuteInstruction result code -> its constant's name in lower case ('service_unavailable')."""
    from saycan_msgs.action import ExecuteInstruction

    names = {getattr(ExecuteInstruction.Result, n): n.lower() for n in dir(ExecuteInstruction.Result)
             if n.isupper() and isinstance(getattr(ExecuteInstruction.Result, n), int)}
    return names.get(code, f"error_{code}")


# PlanStatus.state of the last message of an instruction that did not end in 'done': no skill is
# chosen in it and `detail` says why. (One that ends in 'done' ends with state 'succeeded'.)
PLAN_FAILED, PLAN_CANCELED, PLAN_REJECTED = "failed", "canceled", "rejected"
PLAN_SUCCEEDED = "succeeded"  # the state of the step that chose 'done'
PLAN_END_STATES = frozenset({PLAN_FAILED, PLAN_CANCELED, PLAN_REJECTED})

# ScoreSkills.error_msg starts with this when the scoring backend (an OpenAI-compatible server) is
# down or too slow, not the request bad: the planner then ends with SERVICE_UNAVAILABLE, not
# SCORING_FAILED. (A text convention: ScoreSkills has no error code field.)
BACKEND_UNAVAILABLE = "scoring backend unavailable: "

# GetAffordances.error_msg starts with this while affordance_node has no camera observation (it has
# just started, or ~/reset dropped the frames of the world before): the planner waits for the first
# one (observation_wait_s) instead of failing the step. (A text convention, like BACKEND_UNAVAILABLE.)
NO_OBSERVATION_YET = "no camera observation yet: "
