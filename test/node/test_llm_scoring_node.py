"""llm_scoring_node with the real embedded language model on a real rclpy graph."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node

from saycan_msgs.srv import ScoreSkills
from saycan_ros.nodes.llm_scoring_node import LlmScoringNode

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_for, wait_future  # noqa: E402


@pytest.fixture(scope="module")
def scoring_context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = LlmScoringNode(context=ctx)  # loads the model once for the module
    yield ctx, node
    node.close()
    node.destroy_node()
    ctx.try_shutdown()


def call(ctx, client, **fields):
    return wait_future(client.call_async(ScoreSkills.Request(**fields)), 120)


def test_scores_follow_the_plan_so_far(scoring_context):
    ctx, node = scoring_context
    user = Node("user", context=ctx)
    client = user.create_client(ScoreSkills, "score_skills")
    diagnostics = []
    user.create_subscription(DiagnosticArray, "diagnostics", diagnostics.append, 10)
    skills = ["pick up the apple", "go to the table", "find a sponge", "done"]
    with Spinner(ctx, node, user):
        assert client.wait_for_service(timeout_sec=20)
        res = call(ctx, client, instruction="throw away the apple", steps_so_far=["find an apple"], skills=skills)
        wait_for(lambda: diagnostics, 10, "diagnostics")
    user.destroy_node()
    assert res.success, res.error_msg
    assert len(res.log_likelihoods) == len(skills) == len(res.token_counts)
    scores = dict(zip(skills, res.log_likelihoods))
    assert max(scores, key=scores.get) == "pick up the apple"
    assert all(v < 0 for v in res.log_likelihoods)
    for total, mean, n in zip(res.log_likelihoods, res.mean_log_likelihoods, res.token_counts):
        assert mean == pytest.approx(total / n)
    values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
    assert float(values["service_ms"]) > 0 and values["skills"] == "4"


def test_bad_request_is_an_error_response_not_a_crash(scoring_context):
    ctx, node = scoring_context
    user = Node("user2", context=ctx)
    client = user.create_client(ScoreSkills, "score_skills")
    with Spinner(ctx, node, user):
        assert client.wait_for_service(timeout_sec=20)
        bad = call(ctx, client, instruction="", steps_so_far=[], skills=["done"])
        worse = call(ctx, client, instruction="throw away the apple", steps_so_far=[], skills=["  "])
        good = call(ctx, client, instruction="throw away the apple", steps_so_far=[], skills=["find an apple"])
    user.destroy_node()
    assert not bad.success and "empty" in bad.error_msg
    assert not worse.success and "skill" in worse.error_msg
    assert good.success


def test_missing_model_is_one_clear_line(tmp_path):
    exe = Path(os.environ.get("SAYCAN_ROOT", ".")) / "install/saycan_ros/lib/saycan_ros/llm_scoring_node"
    if not exe.exists():
        pytest.skip("the workspace is not built (run make setup)")
    proc = subprocess.run([str(exe), "--ros-args", "-p", f"model:={tmp_path / 'no-such-model'}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "no-such-model" in proc.stderr
