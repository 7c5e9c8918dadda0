"""declare_params: start-up validation, read-only parameters, checked dynamic changes."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rclpy.exceptions import InvalidHandle
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from saycan_ros.core.errors import ConfigError
from saycan_ros.nodes.common import Param, declare_params, destroyed_if_init_fails, positive

sys.path.insert(0, str(Path(__file__).parent))
from helpers import RefusingPublisher  # noqa: E402

PARAMS = (Param("rate_hz", 10.0, "a start-up parameter", positive),
          Param("scene", "default", "a dynamic parameter", lambda v: None if v else "must not be empty", dynamic=True))


def test_bad_start_value_names_node_parameter_and_reason(ros_context):
    node = Node("checked", context=ros_context, parameter_overrides=[Parameter("rate_hz", value=-1.0)])
    with pytest.raises(ConfigError, match=r"checked: parameter 'rate_hz'=-1.0 must be > 0"):
        declare_params(node, PARAMS)


def test_changes_are_refused_when_read_only_or_invalid(ros_context):
    node = Node("checked", context=ros_context)
    assert declare_params(node, PARAMS) == {"rate_hz": 10.0, "scene": "default"}
    read_only = node.set_parameters([Parameter("rate_hz", value=5.0)])[0]
    assert not read_only.successful and node.get_parameter("rate_hz").value == 10.0
    invalid = node.set_parameters([Parameter("scene", value="")])[0]
    assert not invalid.successful and "must not be empty" in invalid.reason
    assert node.set_parameters([Parameter("scene", value="kitchen2")])[0].successful
    assert node.get_parameter("scene").value == "kitchen2"


class _HalfBuilt(Node):
    """A node whose constructor fails after Node.__init__, as a bad parameter makes any of ours fail."""
    built: list[Node] = []

    @destroyed_if_init_fails
    def __init__(self, context) -> None:
        super().__init__("half_built", context=context, parameter_overrides=[Parameter("rate_hz", value=-1.0)])
        _HalfBuilt.built.append(self)
        declare_params(self, PARAMS)


def assert_no_node_named(name: str, context) -> None:
    observer = Node("observer", context=context)
    try:
        assert name not in observer.get_node_names()
    finally:
        observer.destroy_node()


def test_a_node_whose_constructor_fails_is_destroyed_at_once(ros_context):
    """Not left to the garbage collector (whose teardown of the DDS participant at a random later
    moment once hung a whole test run): the half-built node is gone before the error arrives."""
    with pytest.raises(ConfigError, match="half_built: parameter 'rate_hz'"):
        _HalfBuilt(ros_context)
    node = _HalfBuilt.built.pop()
    with pytest.raises(InvalidHandle), node.handle:
        pass
    assert_no_node_named("half_built", ros_context)


class _FailsInsideNodeInit(Node):
    @destroyed_if_init_fails
    def __init__(self, context) -> None:  # use_sim_time must be a bool: rclpy's own __init__ raises
        super().__init__("fails_inside", context=context, parameter_overrides=[Parameter("use_sim_time", value=1)])


def test_a_failure_inside_node_init_keeps_its_own_error_and_leaves_no_node(ros_context):
    with pytest.raises(Exception, match="use_sim_time") as raised:
        _FailsInsideNodeInit(ros_context)
    assert "destroy" not in str(raised.value)
    assert_no_node_named("fails_inside", ros_context)


def test_a_refused_publish_is_dropped_not_raised(ros_context):
    from saycan_ros.nodes.common import publish_or_drop

    node = Node("publisher_side", context=ros_context)
    try:
        refusing = RefusingPublisher()
        assert publish_or_drop(node, refusing, object()) is False and refusing.calls == 1
        real = node.create_publisher(String, "dropped_or_not", 1)
        assert publish_or_drop(node, real, String(data="x")) is True
    finally:
        node.destroy_node()


@pytest.mark.parametrize("module, expected", [
    ("skill_executor_node", "SingleThreadedExecutor"),  # awaits rclpy futures: EventsExecutor would busy-loop
    ("sim_node", "EventsExecutor"), ("affordance_node", "EventsExecutor"), ("llm_scoring_node", "EventsExecutor"),
    ("planner_node", "SingleThreadedExecutor"),  # awaits the thread its blocking loop runs in
])
def test_each_node_process_spins_the_executor_its_callbacks_need(monkeypatch, module, expected) -> None:
    """What each node's main() hands run_node decides its executor; a wrong one either spins a core
    (rclpy 9.1's EventsExecutor under an awaiting coroutine) or deadlocks (one thread, a blocking callback)."""
    import importlib

    from saycan_ros.nodes.common import executor_class

    node_module = importlib.import_module(f"saycan_ros.nodes.{module}")
    asked = {}

    def fake_run_node(make_node, args=None, threads=4, single_threaded=False, awaits=False):
        asked.update(single_threaded=single_threaded, awaits=awaits)
        return 0

    monkeypatch.setattr(node_module, "run_node", fake_run_node)
    try:
        node_module.main([])
    except SystemExit as exc:
        assert exc.code in (0, None)
    assert executor_class(**asked).__name__ == expected
