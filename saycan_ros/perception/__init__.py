"""Perception without rclpy: object detection from segmentation + depth, camera sources, and the
robot geometry perception needs (robot_adapter); the pinhole camera model is core.camera_model."""
