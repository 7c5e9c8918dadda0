"""QoS profiles that publishers and subscribers of one topic must agree on."""
from __future__ import annotations

from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy

# `e_stop` is latched like /map or robot_description: reliable, transient_local, last value only, so
# a node that (re)starts after the e-stop was engaged hears it at once instead of starting released.
# A volatile publisher does not match a transient_local subscription (DDS: offered durability must
# be >= requested): publishers of e_stop must use this profile (`ros2 topic pub --qos-durability
# transient_local --qos-reliability reliable e_stop std_msgs/Bool "{data: true}"`).
E_STOP_QOS = QoSProfile(depth=1, history=QoSHistoryPolicy.KEEP_LAST, reliability=QoSReliabilityPolicy.RELIABLE,
                        durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
