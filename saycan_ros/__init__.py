"""SayCan for ROS 2."""
