"""The embedded simulator: a PyBullet SayCan kitchen (kitchen_world), the robot's geometry
(robot_geometry, also read by the executor and perception) and joint trajectory following
(controllers). Importing this package does not import pybullet; kitchen_world does."""
