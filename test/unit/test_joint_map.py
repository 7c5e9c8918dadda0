"""Logical joints <-> a robot's joint names and units (saycan_ros.ros_io.joint_map)."""
from __future__ import annotations

import pytest

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.robot_geometry import ARM, JOINTS, LEFT, LIFT, RIGHT
from saycan_ros.ros_io.joint_map import JointMap

STRETCH = JointMap.from_params(["joint_lift", "wrist_extension", "joint_gripper_finger_left", "joint_gripper_finger_right"],
                               [1.0, 1.0, 11.6, 11.6], [0.0, 0.0, 0.0, 0.0], {})
TIAGO = JointMap.from_params(["torso_lift_joint", "", "gripper_left_finger_joint", "gripper_right_finger_joint"],
                             [1.0, 1.0, 1.0, 1.0], [-0.72, 0.0, 0.0, 0.0], {ARM: 0.0})


def test_identity_keeps_our_names_and_units():
    m = JointMap.identity()
    assert m.to_ours(JOINTS, [0.5, 0.1, 0.03, 0.03]) == dict(zip(JOINTS, [0.5, 0.1, 0.03, 0.03]))
    assert m.to_robot({LIFT: 0.5, ARM: 0.1}) == ([LIFT, ARM], [0.5, 0.1])


def test_names_and_linear_units_round_trip():
    ours = STRETCH.to_ours(["joint_head_pan", "joint_gripper_finger_left", "wrist_extension", "joint_arm_l0"],
                           [1.0, 0.29, 0.2, 0.05])
    assert ours == pytest.approx({LEFT: 0.025, ARM: 0.2})  # head pan and the arm segments are not ours
    names, positions = STRETCH.to_robot({LEFT: 0.025, RIGHT: 0.025})
    assert names == ["joint_gripper_finger_left", "joint_gripper_finger_right"]
    assert positions == pytest.approx([0.29, 0.29])


def test_an_absent_joint_is_left_out_and_reads_fixed():
    assert TIAGO.fixed == {ARM: 0.0}
    assert TIAGO.to_robot({LIFT: 0.95, ARM: 0.3}) == (["torso_lift_joint"], [pytest.approx(0.23)])
    assert TIAGO.to_ours(["torso_lift_joint"], [0.23]) == {LIFT: pytest.approx(0.95)}
    assert JointMap.identity().fixed == {}  # a present joint never reads fixed


@pytest.mark.parametrize("names, scales, words", [
    (["a", "b"], [1.0] * 4, "needs 4 entries"),
    (["a", "b", "c", "d"], [1.0, 1.0, 1.0], "'joint_scales' needs 4"),
    (["a", "b", "", "d"], [1.0] * 4, "'joint_gripper_left' must map"),
    (["a", "a", "c", "d"], [1.0] * 4, "twice"),
    (["a", "b", "c", "d"], [1.0, 0.0, 1.0, 1.0], "must not contain 0"),
])
def test_bad_maps_are_clear_errors(names, scales, words):
    with pytest.raises(ConfigError, match=words):
        JointMap.from_params(names, scales, [0.0] * 4, {ARM: 0.0}, owner="node")
