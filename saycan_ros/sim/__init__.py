"""The embedded simulator: a PyBullet SayCan kitchen (kitchen_world) and joint trajectory following
(controllers); the robot's geometry it builds from is core.robot_geometry. Importing this package
does not import pybullet; kitchen_world does."""
