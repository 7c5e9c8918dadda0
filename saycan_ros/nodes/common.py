"""What every saycan_ros node shares: validated parameters and a main() with clean shutdown."""
from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy._rclpy_pybind11 import RCLError
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.experimental import EventsExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future

from saycan_ros.core.errors import ConfigError, SayCanError
from saycan_ros.core.kitchen import config_dir

if TYPE_CHECKING:
    from saycan_ros.ros_io.joint_map import JointMap

DDS_PROFILE_VARS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def use_package_dds_profile() -> None:
    """Point Fast DDS at config/fastdds.xml unless the user chose a profile: it shortens the
    discovery lease (20 s -> 3 s), so a node that dies without goodbye (SIGKILL, a crash) leaves
    the graph within seconds and its clients report it instead of waiting for a timeout.
    Call before rclpy.init; other RMW implementations ignore the variable."""
    if not any(os.environ.get(name) for name in DDS_PROFILE_VARS):
        profile = config_dir() / "fastdds.xml"
        if profile.is_file():
            os.environ[DDS_PROFILE_VARS[0]] = str(profile)


RESULT_FLUSH_S = 0.3  # spinning after a stopped goal's result, so it goes out before the process ends


def init_without_signal_handlers(**kwargs: Any) -> None:
    """rclpy.init for a process that stops through spin_until_signalled, not rclpy's handlers."""
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO, **kwargs)


def spin_until_signalled(executor: Executor, context: Context | None = None, poll_s: float = 0.2) -> None:
    """Spin until SIGINT or SIGTERM arrives or the context shuts down; call from the main thread.

    rclpy's own handlers once left a process blocked in rcl_wait for good after SIGTERM (`saycan
    view` on a loaded machine, about one stop in ten): here a signal only sets a flag, and the
    wait is bounded so the flag is seen within poll_s. Start rclpy with init_without_signal_handlers.
    """
    context = context or rclpy.get_default_context()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while context.ok() and not stop.is_set():
            executor.spin_once(timeout_sec=poll_s)
    finally:  # a second Ctrl-C during clean-up gets the usual KeyboardInterrupt
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class Param:
    """A node parameter: its default (which fixes its type), what it means, and an optional check.

    `check` returns None when the value is fine, or a short reason ("must be > 0").
    Parameters are read once at start and declared read-only, unless `dynamic` (the node reads
    them again later); changes to dynamic ones go through the same check.
    """

    name: str
    default: Any
    description: str
    check: Callable[[Any], str | None] | None = None
    dynamic: bool = False


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be > 0"


def destroyed_if_init_fails(init: Callable[..., None]) -> Callable[..., None]:
    """Decorate a Node subclass's __init__: if it raises (a bad parameter, a missing file), destroy
    the half-built node at once and re-raise the original error. Left to the garbage collector, its
    DDS participant was torn down at a random later moment, and once that hung a test run inside
    Fast DDS with the GIL held."""
    @functools.wraps(init)
    def wrapper(self: Node, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except BaseException:
            _destroy_half_built(self)
            raise
    return wrapper


def _destroy_half_built(node: Node) -> None:
    """Destroy what exists of a node whose constructor failed; never hide the constructor's error."""
    try:
        handle = node.handle
    except Exception:  # Node.__init__ failed before it created the rcl node
        return
    try:
        node.destroy_node()
    except Exception:  # Node.__init__ (or the subclass) failed part-way: at least free the rcl node
        try:
            handle.destroy_when_not_in_use()
        except Exception:
            pass


def publish_or_drop(node: Node, publisher: Any, msg: Any) -> bool:
    """Publish `msg`; if the middleware refuses it, drop this one message with a warning (at most
    one per 5 s) instead of ending the node. Seen under load: Fast DDS answers "cannot publish data"
    when a reliable reader's history stays full past its blocking time; for a stream the next tick
    replaces the message, and a simulator that died of it ended a whole evaluation run."""
    try:
        publisher.publish(msg)
        return True
    except RCLError as exc:
        node.get_logger().warning(f"dropped a message on {publisher.topic_name}: {exc}", throttle_duration_sec=5.0)
        return False


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be >= 0"


def probability(value: Any) -> str | None:
    return None if 0.0 <= value <= 1.0 else "must be within [0, 1]"


def one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def declare_params(node: Node, params: Sequence[Param]) -> dict[str, Any]:
    """Declare every parameter with its description, read them, and validate.

    Raises ConfigError naming the node, the parameter and the reason on the first bad value.
    Later changes (ros2 param set) to dynamic parameters are refused with the same reason.
    """
    values = {}
    for p in params:
        descriptor = ParameterDescriptor(description=p.description, read_only=not p.dynamic)
        try:
            value = node.declare_parameter(p.name, p.default, descriptor).value
        except Exception as exc:  # wrong type given on the command line / in YAML
            raise ConfigError(f"{node.get_name()}: parameter '{p.name}': {exc}") from None
        reason = _problem(p, value)
        if reason:
            raise ConfigError(f"{node.get_name()}: parameter '{p.name}'={value!r} {reason}")
        values[p.name] = value
    specs = {p.name: p for p in params}

    def on_set(changes: list) -> SetParametersResult:
        for change in changes:
            spec = specs.get(change.name)
            reason = _problem(spec, change.value) if spec else None
            if reason:
                return SetParametersResult(successful=False, reason=f"{change.name}={change.value!r} {reason}")
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values


def _problem(spec: Param, value: Any) -> str | None:
    if value is None:  # e.g. an empty list on the command line has no type
        return f"needs a value like {spec.default!r}"
    return spec.check(value) if spec.check else None


def joint_map_params() -> list[Param]:
    """The parameters that map our logical joints to a real robot's (executor and affordance node
    must agree: config/robots/*.yaml sets them for both)."""
    from saycan_ros.core.robot_geometry import ARM, JOINTS

    return [
        Param("joint_names", list(JOINTS), f"the robot's joint for each of {', '.join(JOINTS)} in joint_states and "
              f"trajectories; '' for {ARM}: the robot has no telescoping joint (it reads as the arm's minimum)"),
        Param("joint_scales", [1.0] * len(JOINTS), "per joint of joint_names: robot position = offset + scale * ours"),
        Param("joint_offsets", [0.0] * len(JOINTS), "per joint of joint_names: robot position = offset + scale * ours"),
    ]


def held_object_params() -> list[Param]:
    """How the fingers' opening says something is held (`core.robot_geometry.fingers_hold_something`):
    the executor and the affordance node must judge it alike, or the planner picks skills the
    executor refuses."""
    from saycan_ros.core.robot_geometry import HOLD_MIN_OPENING, OPEN_MARGIN

    return [
        Param("hold_min_opening", HOLD_MIN_OPENING, "fingers stopped above this opening (per finger, m) after "
              "closing hold something; at or below it they missed", positive),
        Param("open_margin", OPEN_MARGIN, "fingers within this of fully open (m) are open: nothing held", positive),
    ]


def joint_map_from(node: Node, p: dict[str, Any], arm_min: float) -> "JointMap":
    """The validated JointMap of joint_map_params() values (ConfigError naming the node)."""
    from saycan_ros.core.robot_geometry import ARM
    from saycan_ros.ros_io.joint_map import JointMap

    return JointMap.from_params(p["joint_names"], p["joint_scales"], p["joint_offsets"], fixed={ARM: arm_min},
                                owner=node.get_name())

def clock_seconds(node: Node) -> float:
    """The node's clock in seconds: simulated time under use_sim_time (a paused simulator pauses
    timeouts and ages measured with it), the wall clock otherwise."""
    return node.get_clock().now().nanoseconds * 1e-9


async def in_thread(executor: Executor, work: Callable[[], Any], name: str) -> Any:
    """Await `work()` run in a thread of its own: for a callback that blocks on rclpy calls (a
    service, an action) whose responses the node's own executor thread must take in meanwhile."""
    done = Future(executor=executor)
    done.add_done_callback(lambda _: None)  # setting it from the thread then wakes the executor

    def run() -> None:
        try:
            done.set_result(work())
        except BaseException as exc:  # the awaiting callback re-raises it
            done.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await done


def executor_class(single_threaded: bool = False, awaits: bool = False) -> type[Executor]:
    """The executor run_node spins a node on (see there for why each)."""
    if single_threaded:
        return SingleThreadedExecutor if awaits else EventsExecutor
    return MultiThreadedExecutor


def run_node(make_node: Callable[[], Node], args: Sequence[str] | None = None, threads: int = 4,
             single_threaded: bool = False, awaits: bool = False) -> int:
    """Create a node, spin it, and always shut down cleanly.

    The executor is a MultiThreadedExecutor, or with `single_threaded` rclpy's EventsExecutor: for
    a node whose callbacks never block, it costs a fraction of the CPU per message (rclpy's own
    executors rebuild a wait set over every entity two or three times per message, which at the
    simulator's 50 Hz odometry, joint states and /clock was most of a sensor node's CPU). Such a node
    must not start threads of its own that publish: a publish into a subscription of the same
    process while the EventsExecutor spins in another thread can deadlock.
    With `single_threaded` and `awaits` (callbacks that are coroutines awaiting rclpy futures) it is
    rclpy's SingleThreadedExecutor instead: rclpy 9.1's EventsExecutor resumes an awaiting coroutine
    in a busy loop (a full core for as long as it waits), and a thread pool is not needed either.
    A SayCanError while starting (bad parameter, missing model file) prints one line, not a traceback.
    """
    node = None
    executor = None
    code = 0
    try:
        use_package_dds_profile()
        init_without_signal_handlers(args=args)
        node = make_node()
        kind = executor_class(single_threaded, awaits)
        executor = kind(num_threads=threads) if kind is MultiThreadedExecutor else kind()
        executor.add_node(node)
        spin_until_signalled(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except SayCanError as exc:
        print(f"[saycan] error: {exc}", file=sys.stderr)
        code = 2
    except RCLError as exc:  # starting: e.g. a --params-file that does not exist; running: the middleware
        what = "bad ROS arguments" if executor is None else "the ROS middleware failed"
        print(f"[saycan] error: {what}: {exc}", file=sys.stderr)
        code = 2
    finally:
        try:
            if executor is not None:  # no callback may still be running when close() releases resources
                stop = getattr(node, "stop", None)
                if callable(stop):  # let long-running callbacks end first (they may wait on a sim clock)
                    pending = stop()
                    if isinstance(pending, Future) and rclpy.ok():  # what stop() ended still reports (a goal's result)
                        executor.spin_until_future_complete(pending, timeout_sec=2.0)
                        # rclpy's action server sends that result from a task of its own, on later spins
                        flush_until = time.monotonic() + RESULT_FLUSH_S
                        while time.monotonic() < flush_until:
                            executor.spin_once(timeout_sec=0.05)
                executor.shutdown(timeout_sec=5.0)
            if node is not None:
                close = getattr(node, "close", None)
                if callable(close):
                    close()
                node.destroy_node()
        except KeyboardInterrupt:  # a second Ctrl-C during clean-up: finish shutting down quietly
            pass
        rclpy.try_shutdown()
    return code
