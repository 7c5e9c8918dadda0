"""What rviz shows, as plain data: scene markers and the per-step score chart (no rclpy here)."""
