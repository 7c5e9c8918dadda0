from glob import glob

from setuptools import find_packages, setup

PACKAGE = "saycan_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.yaml")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml") + glob("config/*.rviz")),
        (f"share/{PACKAGE}/config/robots", glob("config/robots/*.yaml")),
        (f"share/{PACKAGE}/config/gazebo", glob("config/gazebo/*.yaml")),
        (f"share/{PACKAGE}/config/eval", glob("config/eval/*.yaml")),
        (f"share/{PACKAGE}/config/examples", glob("config/examples/*.yaml")),
        (f"share/{PACKAGE}/config/training", glob("config/training/*.yaml")),
        (f"share/{PACKAGE}/config/voice", glob("config/voice/*.yaml")),
        (f"share/{PACKAGE}/models/planner-lora", glob("models/planner-lora/*")),
        (f"share/{PACKAGE}/models/planner-lora-feedback", glob("models/planner-lora-feedback/*")),
        (f"share/{PACKAGE}/models/planner-lora-holding", glob("models/planner-lora-holding/*")),
        (f"share/{PACKAGE}/models/affordance", glob("models/affordance/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="saycan_ros developers",
    maintainer_email="dev@saycan-ros.example",
    description="SayCan for ROS 2: language model x value function skill selection for a mobile manipulator.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "saycan = saycan_ros.cli:main",
            "camera_node = saycan_ros.nodes.camera_node:main",
            "llm_scoring_node = saycan_ros.nodes.llm_scoring_node:main",
            "affordance_node = saycan_ros.nodes.affordance_node:main",
            "skill_executor_node = saycan_ros.nodes.skill_executor_node:main",
            "planner_node = saycan_ros.nodes.planner_node:main",
            "sim_node = saycan_ros.nodes.sim_node:main",
            "visualization_node = saycan_ros.nodes.visualization_node:main",
            "voice_command_node = saycan_ros.nodes.voice_command_node:main",
            "viewer_node = saycan_ros.nodes.viewer_node:main",
        ],
    },
)
