"""`saycan view`: SayCan live in a web browser (Rerun's web viewer), for people without rviz.

Serves a page with the kitchen seen from above (locations, objects, the robot, the chosen
skill's target), the camera image, and the score bars and table of the current step, updated
live from the running graph's topics (viewer_node). With --draw-scene it also builds the scene
itself (an in-process visualization_node), for a replay, whose recording has no markers.
"""
from __future__ import annotations

import argparse
import os
from typing import Sequence

from saycan_ros.core.errors import SayCanError


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    from saycan_ros.cli_types import bounded

    parser = argparse.ArgumentParser(prog="saycan view", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=bounded(int, 1, 65535), default=9090, help="HTTP port of the page (default 9090)")
    parser.add_argument("--grpc-port", type=bounded(int, 1, 65535), default=9876,
                        help="port of the data stream the page connects to (default 9876)")
    parser.add_argument("--domain-id", type=bounded(int, 0, 232), default=None,
                        help="ROS_DOMAIN_ID of the graph to watch (default: the environment's; `saycan demo` prints its own)")
    parser.add_argument("--draw-scene", action="store_true",
                        help="also build the kitchen scene from odom and saycan/plan (for `saycan replay`, which has no markers)")
    parser.add_argument("--camera-rate", type=bounded(float, 0.0, 60.0), default=2.0,
                        help="camera frames drawn per second at most (default 2; 0: all)")
    return parser.parse_args(argv)


def check_can_serve(web_port: int, grpc_port: int) -> None:
    """Refuse before anything starts: rerun-sdk missing, or a port taken."""
    from saycan_ros.viz.rerun_view import require_rerun
    from saycan_ros.viz.web_view import free_port_error

    require_rerun()
    problem = free_port_error({"web": web_port, "gRPC": grpc_port})
    if problem:
        raise SayCanError(f"cannot serve the browser view: {problem} (--port / --grpc-port)")


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    check_can_serve(args.port, args.grpc_port)
    if args.domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
    from rclpy.parameter import Parameter

    from saycan_ros.nodes.common import init_without_signal_handlers, spin_until_signalled, use_package_dds_profile
    from saycan_ros.nodes.viewer_node import ViewerNode

    use_package_dds_profile()
    init_without_signal_handlers()
    context = rclpy.get_default_context()
    nodes = []
    executor = MultiThreadedExecutor(num_threads=3, context=context)
    try:
        viewer = ViewerNode(context=context, parameter_overrides=[
            Parameter("web_port", value=args.port), Parameter("grpc_port", value=args.grpc_port),
            Parameter("camera_rate_hz", value=float(args.camera_rate))])
        nodes.append(viewer)
        if args.draw_scene:
            from saycan_ros.nodes.visualization_node import VisualizationNode

            nodes.append(VisualizationNode(context=context))
        for node in nodes:
            executor.add_node(node)
        print(f"[saycan] browser view: {viewer.view.url}  (Ctrl-C stops it)", flush=True)
        spin_until_signalled(executor, context)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=5.0)
        for node in nodes:
            node.destroy_node()
        context.try_shutdown()
    return 0
