"""Speech to instruction text (pure: no rclpy): audio helpers, the kitchen's spoken language, recognisers."""
