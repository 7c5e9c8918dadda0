"""Conversions between ROS messages and plain numpy/dataclass values (the only place nodes share)."""
