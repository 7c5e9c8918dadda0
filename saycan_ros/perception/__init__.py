"""Perception without rclpy: camera geometry, object detection from segmentation + depth, camera sources."""
