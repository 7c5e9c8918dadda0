"""The pure SayCan core (numpy and yaml only, no ROS): kitchen, skills, symbolic world, prompt,
planner loop, and the robot's geometry and camera model that every other floor shares."""
