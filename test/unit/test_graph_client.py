"""merge_plan_events: what the demo and exec-mode eval record when action feedback trails the result.

The PlanStatus messages are stand-ins (SimpleNamespace with the message's fields); the merge
reads nothing else of them."""
from __future__ import annotations

from types import SimpleNamespace

from saycan_ros.core.episode import EpisodeRecord, StepRecord
from saycan_ros.core.scoring import Candidate
from saycan_ros.graph_client import merge_plan_events


def plan(index: int, chosen: str, detail: str = "", candidates=()) -> SimpleNamespace:
    cands = [SimpleNamespace(skill=s, llm_log_likelihood=l, affordance=a, combined=l) for s, l, a in candidates]
    return SimpleNamespace(step_index=index, chosen=chosen, detail=detail, candidates=cands)


def test_a_decision_missing_from_feedback_is_rebuilt_from_the_plan_topic():
    episode = EpisodeRecord("throw away the apple")
    episode.steps = [StepRecord(1, [Candidate("find an apple", -0.7, 0.9, -0.8)], "find an apple"),
                     StepRecord(2, [Candidate("pick up the apple", -0.5, 0.95, -0.55)], "pick up the apple")]
    chosen_at = {1: 10.0, 2: 13.0}
    events = [(10.0, plan(1, "find an apple")), (12.0, plan(1, "find an apple", "ok")),
              (13.0, plan(2, "pick up the apple")), (20.0, plan(2, "pick up the apple", "failed (205): missed")),
              (22.5, plan(3, "done", candidates=[("done", -0.1, 1.0), ("find an apple", -6.0, 0.9)]))]
    merge_plan_events(episode, events, chosen_at, started=9.0)

    assert [s.index for s in episode.steps] == [1, 2, 3]
    last = episode.steps[-1]
    assert last.chosen == "done" and [c.skill for c in last.candidates] == ["done", "find an apple"]
    assert last.outcome.success  # done ends the episode: nothing to execute
    assert not episode.steps[1].outcome.success and "missed" in episode.steps[1].outcome.message
    assert episode.executed == ["find an apple", "done"]
    # planning time: from the previous step's end to the decision
    assert episode.steps[0].scoring_ms == 1000.0 and episode.steps[2].scoring_ms == 2500.0


def test_feedback_steps_are_kept_and_not_duplicated():
    episode = EpisodeRecord("x")
    episode.steps = [StepRecord(1, [Candidate("done", -0.1, 1.0, -0.1)], "done")]
    merge_plan_events(episode, [(1.0, plan(1, "done", candidates=[("done", -0.1, 1.0)]))], {1: 1.0}, started=0.5)
    assert len(episode.steps) == 1 and episode.executed == ["done"]


def test_wait_done_gives_up_with_the_reason_as_soon_as_it_is_given():
    import time
    from concurrent.futures import Future

    import pytest

    from saycan_ros.core.errors import SayCanError
    from saycan_ros.graph_client import wait_done

    calls = []

    def give_up():  # the simulated-time limit says "over" on its third look
        calls.append(1)
        return "no result within 300 s of simulated time" if len(calls) >= 3 else None

    started = time.monotonic()
    with pytest.raises(SayCanError, match="300 s of simulated time"):
        wait_done(Future(), 60.0, "wall-clock limit", give_up=give_up)
    assert time.monotonic() - started < 5.0 and len(calls) == 3
    done = Future()
    done.set_result("result")
    assert wait_done(done, 1.0, "never", give_up=lambda: "over") == "result"  # a finished future wins


def test_speed_note_sums_simulated_and_wall_clock_time():
    from saycan_ros.eval.exec_mode import speed_note
    from saycan_ros.eval.report import EpisodeResult

    results = [EpisodeResult("a", "f", "x", True, "done", elapsed_s=10.0, meta={"sim_s": 30.0}),
               EpisodeResult("b", "f", "y", False, "timeout", elapsed_s=20.0, meta={"sim_s": 30.0}),
               EpisodeResult("c", "f", "z", False, "error", elapsed_s=5.0)]  # no simulator clock: left out
    assert speed_note(results, 3.0) == ("simulation: 60 s simulated in 30 s of wall-clock time over 2 episodes "
                                        "(2.00 simulated seconds per second; real-time factor 3 asked while skills run)")


class _LosesFirstRequests:
    """Fakes an rclpy service client whose first `lost` requests go to a server that is gone (a
    node just restarted): their futures never complete; later requests are answered."""

    def __init__(self, lost: int) -> None:
        from concurrent.futures import Future

        self.lost, self.sent, self.removed, self._future = lost, 0, [], Future

    def call_async(self, request):
        self.sent += 1
        future = self._future()
        if self.sent > self.lost:
            future.set_result(f"answer to {request}")
        return future

    def remove_pending_request(self, future) -> None:
        self.removed.append(future)


def test_an_idempotent_call_is_sent_again_until_a_server_answers(monkeypatch):
    import pytest

    from saycan_ros import graph_client
    from saycan_ros.graph_client import NoAnswer, call_idempotent

    monkeypatch.setattr(graph_client, "RESEND_AFTER_S", 0.6)
    client = _LosesFirstRequests(lost=2)
    assert call_idempotent(client, "reset", 10.0, "no answer") == "answer to reset"
    assert client.sent == 3 and len(client.removed) == 2  # lost requests are not left pending
    with pytest.raises(NoAnswer, match="no answer"):
        call_idempotent(_LosesFirstRequests(lost=100), "reset", 1.5, "no answer")


def test_a_dead_node_ends_an_idempotent_call_at_once(monkeypatch):
    import time

    import pytest

    from saycan_ros.core.errors import SayCanError
    from saycan_ros.graph_client import NoAnswer, call_idempotent

    class DeadGraph:  # fakes LaunchedGraph.check_alive after a node exited
        def check_alive(self) -> None:
            raise SayCanError("node 'skill_executor_node' exited with code -9")

    started = time.monotonic()
    with pytest.raises(SayCanError, match="exited") as raised:
        call_idempotent(_LosesFirstRequests(lost=100), "reset", 30.0, "no answer", DeadGraph())
    assert not isinstance(raised.value, NoAnswer) and time.monotonic() - started < 2.0
