"""System test: `saycan view` in a real headless Chromium.

`saycan view` runs as its own process (as a user starts it); this test plays the graph in-process:
a real visualization_node fed with odometry, the simulator's world state and a planner decision
(so the markers are the ones rviz gets), plus camera frames. Chromium (Debian's package) opens
the printed URL. Checked: every file of the page came from the local servers (the network here is
closed: nothing needed from a CDN), the page received the logged data on its gRPC stream, and the
screenshot shows the robot's heading arrow, the score bars in their three colours and the camera
frame. The screenshot is kept in the test's tmp folder (its path is printed).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from saycan_ros.viz.scene_markers import HEADING_RGBA
from saycan_ros.viz.score_chart import BARS

sys.path.insert(0, str(Path(__file__).parent))
from headless_browser import HeadlessChromium, find_chromium  # noqa: E402

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]
CAMERA_RGB = (230, 40, 200)  # a magenta test frame, a colour nothing else on the page has


def needed(what: str, present: bool) -> None:
    """Skip on a developer machine without the optional parts; CI (`make test` installs them) fails."""
    if not present:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing: `make test` (scripts/setup.sh --with-viewer --with-browser) installs it")
        pytest.skip(f"{what} is not installed (scripts/setup.sh --with-viewer --with-browser)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def colour_pixels(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    return int((np.abs(image[:, :, :3].astype(int) - np.array(rgb)).max(axis=2) <= tolerance).sum())


def decode_png(png: bytes) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_browser_view_shows_robot_scores_and_camera(tmp_path):
    try:
        import rerun  # noqa: F401
        has_rerun = True
    except ImportError:
        has_rerun = False
    needed("rerun-sdk", has_rerun)
    needed("chromium", find_chromium() is not None)
    import rclpy
    from nav_msgs.msg import Odometry
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from saycan_msgs.msg import PlanStatus, SkillCandidate
    from saycan_ros.nodes.visualization_node import VisualizationNode
    from saycan_ros.ros_io.images import numpy_to_image

    sys.path.insert(0, str(ROOT / "test/node"))
    from helpers import Spinner, wait_for

    domain = int(os.environ["ROS_DOMAIN_ID"])  # the run's own (test/conftest.py): no other graph's topics
    web_port, grpc_port = free_port(), free_port()
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    log = open(tmp_path / "view.log", "w")
    view = subprocess.Popen([sys.executable, "-m", "saycan_ros.cli", "view", "--port", str(web_port),
                             "--grpc-port", str(grpc_port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    try:
        viz = VisualizationNode(context=context, parameter_overrides=[Parameter("objects_from", value="sim_world_state")])
        graph = Node("graph", context=context)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        odom_pub = graph.create_publisher(Odometry, "odom", reliable)
        world_pub = graph.create_publisher(String, "sim/world_state", latched)
        plan_pub = graph.create_publisher(PlanStatus, "saycan/plan", reliable)
        camera_pub = graph.create_publisher(Image, "camera/color/image_raw", reliable)
        # the upper half magenta (to find on the screenshot), the lower half noise: it cannot be
        # compressed, so the bytes on the page's data stream show that frames arrived
        frame = np.zeros((240, 320, 3), np.uint8)
        frame[:120] = CAMERA_RGB
        frame[120:] = np.random.default_rng(0).integers(0, 256, (120, 320, 3), dtype=np.uint8)
        noise_bytes = 120 * 320 * 3

        def tick() -> None:  # like the running graph: odometry, world state and camera keep coming
            odom = Odometry()
            odom.pose.pose.position.x, odom.pose.pose.position.y = 0.6, -0.2
            odom.pose.pose.orientation.w = 1.0  # facing +x: the heading arrow points right
            odom_pub.publish(odom)
            world_pub.publish(String(data=json.dumps({"objects": {"apple": {"xyz": [1.55, 0.05, 0.93]}}})))
            camera_pub.publish(numpy_to_image(frame, "rgb8"))
        graph.create_timer(0.5, tick)
        candidates = [SkillCandidate(skill="pick up the apple", llm_log_likelihood=-0.4, affordance=0.93, combined=-0.47),
                      SkillCandidate(skill="go to the table", llm_log_likelihood=-1.9, affordance=0.9, combined=-2.0),
                      SkillCandidate(skill="find an apple", llm_log_likelihood=-2.4, affordance=0.6, combined=-2.9)]
        decision = PlanStatus(instruction="throw away the apple", step_index=1, executed_steps=["find an apple"],
                              candidates=candidates, chosen="pick up the apple", state="executing")
        with Spinner(context, viz, graph):
            wait_for(lambda: "browser view:" in (tmp_path / "view.log").read_text() or view.poll() is not None, 60,
                     "saycan view to serve")
            assert view.poll() is None, (tmp_path / "view.log").read_text()
            wait_for(lambda: plan_pub.get_subscription_count() >= 2, 30, "viewer_node and visualization_node on saycan/plan")
            plan_pub.publish(decision)
            url = next(line for line in (tmp_path / "view.log").read_text().splitlines() if "browser view:" in line)
            url = url.split("browser view: ", 1)[1].split()[0]
            assert url == f"http://localhost:{web_port}/?url=rerun%2Bhttp%3A%2F%2Flocalhost%3A{grpc_port}%2Fproxy&hide_welcome_screen"
            with HeadlessChromium(tmp_path / "profile") as browser:
                browser.open(url)
                stream = browser.wait_received(f"localhost:{grpc_port}/", noise_bytes, 90)
                received, failed = browser.traffic()
                pixels, shot = None, tmp_path / "browser_view.png"
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:  # the software rasteriser on a busy machine takes a while
                    time.sleep(4)
                    pixels = decode_png(browser.screenshot(shot))
                    if all(colour_pixels(pixels, colour) > 200 for _, colour in BARS):
                        break
                print(f"\nbrowser view screenshot: {shot}")
        assert stream >= noise_bytes, (stream, received)  # at least a camera frame's worth, as sent
        local = [u for u in received if u.startswith(f"http://localhost:{web_port}/")]
        assert any(u.endswith(".wasm") for u in local) and received[next(u for u in local if u.endswith(".wasm"))] > 10_000_000
        assert not [u for u in failed if "localhost" in u], failed  # everything of ours loaded
        assert all("localhost" in u or u.startswith("data:") for u in received), received  # nothing came from outside
        # the screenshot: the three bar colours, the robot's orange heading arrow, the magenta camera frame
        for name, colour in BARS:
            assert colour_pixels(pixels, colour) > 200, f"no {name} bars in {shot}"
        heading = tuple(round(255 * c) for c in HEADING_RGBA[:3])
        assert colour_pixels(pixels, heading, 30) > 100, f"no robot heading arrow in {shot}"
        assert colour_pixels(pixels, CAMERA_RGB) > 2000, f"no camera frame in {shot}"
    finally:
        view.terminate()
        try:
            code = view.wait(timeout=20)
        except subprocess.TimeoutExpired:
            view.kill()
            code = view.wait()
        log.close()
        context.try_shutdown()
    assert code in (0, -15), (tmp_path / "view.log").read_text()[-3000:]
