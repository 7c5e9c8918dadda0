"""Episode recordings as MCAP files that rosbag2 and Foxglove read (storage id `mcap`, profile ros2).

The pure part (no rclpy): `RecordingWriter` takes messages already serialized to CDR (the bytes a
raw subscription hands over, or rclpy.serialization.serialize_message) and writes them with the
`ros2msg` schema rosbag2 writes: the type's .msg text, then every type it uses after a
`====...` line and `MSG: pkg/Type`. `read_recording` reads one back and decodes the topics asked
for with mcap-ros2-support, from the file's own schemas (its parser refuses the action feedback's
rosidl name, `<Action>_FeedbackMessage`: that channel is re-published, not decoded).
The rclpy part (`TopicRecorder`) subscribes raw and feeds a writer.
"""
from __future__ import annotations

import importlib
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from saycan_ros.core.errors import SayCanError

SEPARATOR = "=" * 80
PRIMITIVES = frozenset({"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
                        "uint32", "int64", "uint64", "string", "wstring"})


class RecordingError(SayCanError):
    """A recording that is missing, unreadable, or of a type this machine does not know."""


# -- message definitions --------------------------------------------------------------------

def _split_type(type_name: str) -> tuple[str, str, str]:
    """'std_msgs/msg/String' -> ('std_msgs', 'msg', 'String'); the interface kind may be 'action'."""
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] not in ("msg", "action") or not all(parts):
        raise RecordingError(f"'{type_name}' is not a message type name like std_msgs/msg/String")
    return parts[0], parts[1], parts[2]


def _interface_file(package: str, kind: str, name: str) -> Path:
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        path = Path(get_package_share_directory(package)) / kind / f"{name}.{kind}"
    except PackageNotFoundError:
        raise RecordingError(f"package '{package}' is not installed (no share/{package} on AMENT_PREFIX_PATH)") from None
    if not path.is_file():
        raise RecordingError(f"no definition of {package}/{kind}/{name} ({path} does not exist)")
    return path


# An action's feedback topic carries a wrapper rosidl generates without a .msg file: the goal id
# and `<Action>_Feedback`, which is the .action file's third section (goal --- result --- feedback).
FEEDBACK_MESSAGE = "unique_identifier_msgs/UUID goal_id\n{action}_Feedback feedback\n"


def _own_text(package: str, kind: str, name: str) -> str:
    """The definition text of one type (no dependencies)."""
    if kind == "msg":
        return _interface_file(package, "msg", name).read_text()
    action, _, suffix = name.rpartition("_")
    if suffix == "FeedbackMessage":
        return FEEDBACK_MESSAGE.format(action=action)
    if suffix == "Feedback":
        return _interface_file(package, "action", action).read_text().split("\n---")[2].lstrip("\n")
    raise RecordingError(f"recording {package}/action/{name} is not supported (only <Action>_FeedbackMessage)")


def _field_types(package: str, text: str) -> list[tuple[str, str]]:
    """The complex field types of a definition as (package, name), in order of appearance."""
    types = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        base = line.split(None, 1)[0].split("[", 1)[0].split("<=", 1)[0]
        if base in PRIMITIVES:  # constants are always of a primitive type
            continue
        if base == "Header":  # the one name ROS resolves outside the package
            types.append(("std_msgs", "Header"))
        elif "/" in base:
            pkg, _, short = base.partition("/")
            types.append((pkg, short))
        else:
            types.append((package, base))
    return types


def message_definition(type_name: str) -> str:
    """The concatenated `ros2msg` definition of a type with every type it uses, as rosbag2 writes it."""
    package, kind, name = _split_type(type_name)
    main = _own_text(package, kind, name)
    blocks: list[str] = []
    seen: set[tuple[str, str]] = set()
    pending = _field_types(package, main)
    while pending:  # breadth first, each dependency once
        dep_package, dep = pending.pop(0)
        if (dep_package, dep) in seen:
            continue
        seen.add((dep_package, dep))
        # names with an underscore in an action's package are its generated sections
        dep_kind = "action" if kind == "action" and dep_package == package and "_" in dep else "msg"
        text = _own_text(dep_package, dep_kind, dep)
        blocks.append(f"{SEPARATOR}\nMSG: {dep_package}/{dep}\n{text.rstrip()}\n")
        pending.extend(_field_types(dep_package, text))
    return main.rstrip() + "\n" + "".join(blocks)


def message_class(type_name: str) -> type:
    """The Python class of a type name (std_msgs/msg/String, or pkg/action/<Action>_FeedbackMessage)."""
    package, kind, name = _split_type(type_name)
    try:
        module = importlib.import_module(f"{package}.{kind}")
        if kind == "action":
            action, _, suffix = name.rpartition("_")
            return getattr(getattr(module, action).Impl, suffix)
        return getattr(module, name)
    except (ImportError, AttributeError):
        raise RecordingError(f"message type {type_name} is not installed here") from None


def type_name_of(msg_class: type) -> str:
    """'std_msgs/msg/String' for std_msgs.msg.String; ExecuteInstruction.Impl.FeedbackMessage is
    saycan_msgs/action/ExecuteInstruction_FeedbackMessage (rosidl's class name)."""
    package, kind = msg_class.__module__.split(".")[:2]
    return f"{package}/{kind}/{msg_class.__name__}"


# -- writing and reading --------------------------------------------------------------------

class RecordingWriter:
    """Writes CDR-serialized ROS 2 messages into an MCAP file (zstd chunks). Not thread-safe:
    TopicRecorder serializes its callbacks with a lock."""

    def __init__(self, path: str | Path, metadata: dict[str, str] | None = None):
        from mcap.well_known import Profile
        from mcap.writer import CompressionType, Writer

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")
        self._writer = Writer(self._file, compression=CompressionType.ZSTD)
        self._writer.start(profile=Profile.ROS2, library="saycan_ros")
        if metadata:
            self._writer.add_metadata("saycan", {k: str(v) for k, v in metadata.items()})
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._sequence = 0
        self.counts: dict[str, int] = {}
        self.closed = False

    def add_channel(self, topic: str, type_name: str) -> None:
        """Register a topic and its type (once; the schema is looked up here, so a bad type fails early)."""
        from mcap.well_known import MessageEncoding, SchemaEncoding

        if topic in self._channels:
            return
        if type_name not in self._schemas:
            self._schemas[type_name] = self._writer.register_schema(
                type_name, SchemaEncoding.ROS2, message_definition(type_name).encode())
        self._channels[topic] = self._writer.register_channel(topic, MessageEncoding.CDR, self._schemas[type_name])
        self.counts[topic] = 0

    def write(self, topic: str, data: bytes, log_time_ns: int | None = None) -> None:
        """One message, serialized (CDR), on a registered topic; log time defaults to now."""
        if topic not in self._channels:
            raise RecordingError(f"topic '{topic}' was not added to the recording")
        stamp = time.time_ns() if log_time_ns is None else int(log_time_ns)
        self._sequence += 1
        self._writer.add_message(self._channels[topic], log_time=stamp, data=bytes(data), publish_time=stamp,
                                 sequence=self._sequence)
        self.counts[topic] += 1

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._writer.finish()
            finally:
                self._file.close()

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass
class RecordedMessage:
    topic: str
    type_name: str
    log_time_ns: int
    data: bytes           # CDR, as published
    decoded: Any = None   # fields as attributes (mcap-ros2-support's dynamic message), when decoded


@dataclass
class Recording:
    path: Path
    channels: dict[str, str]                        # topic -> type name
    messages: list[RecordedMessage]                 # in log-time order
    metadata: dict[str, str] = field(default_factory=dict)

    def on(self, topic: str) -> list[RecordedMessage]:
        return [m for m in self.messages if m.topic == topic]


def resolve_recording_path(run: str | Path) -> Path:
    """A run folder (its episode.mcap) or an .mcap file; RecordingError when there is none."""
    path = Path(run)
    if path.is_dir():
        path = path / "episode.mcap"
    if not path.is_file():
        raise RecordingError(f"no recording at {path}" + ("" if Path(run).exists() else f" ('{run}' does not exist)"))
    return path


def _decode(factory, schema, channel, message, path: Path) -> Any:
    try:
        return factory.decoder_for(channel.message_encoding, schema)(message.data)
    except Exception as exc:  # noqa: BLE001 - the schema parser and CDR reader raise many kinds on bad input
        raise RecordingError(f"{path}: cannot decode {channel.topic} with its recorded {schema.name} schema "
                             f"({type(exc).__name__}: {exc})") from None


def read_recording(run: str | Path, decode_topics: Iterable[str] = ()) -> Recording:
    """Every message of a recording, in log-time order; those on `decode_topics` also decoded.

    A missing, truncated or otherwise unreadable file raises RecordingError naming it."""
    from mcap.exceptions import McapError
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from zstandard import ZstdError  # the writer's chunk compression

    path = resolve_recording_path(run)
    decode = set(decode_topics)
    factory = DecoderFactory()
    channels: dict[str, str] = {}
    messages: list[RecordedMessage] = []
    metadata: dict[str, str] = {}
    try:
        with path.open("rb") as stream:
            reader = make_reader(stream, validate_crcs=True)
            summary = reader.get_summary()
            if summary is not None:  # every channel, also those that got no message
                for channel in summary.channels.values():
                    schema = summary.schemas.get(channel.schema_id)
                    channels[channel.topic] = schema.name if schema else ""
            for record in reader.iter_metadata():
                metadata.update(record.metadata)
            for schema, channel, message in reader.iter_messages(log_time_order=True):
                if schema is None or schema.encoding != "ros2msg" or channel.message_encoding != "cdr":
                    raise RecordingError(f"{path}: topic {channel.topic} is not a ROS 2 (ros2msg/cdr) channel")
                channels[channel.topic] = schema.name
                item = RecordedMessage(channel.topic, schema.name, message.log_time, message.data)
                if channel.topic in decode:
                    item.decoded = _decode(factory, schema, channel, message, path)
                messages.append(item)
            if summary is not None and summary.statistics is not None \
                    and summary.statistics.message_count != len(messages):
                raise RecordingError(f"{path} is damaged: {len(messages)} of its "
                                     f"{summary.statistics.message_count} messages could be read")
    except RecordingError:
        raise
    except (McapError, ZstdError, struct.error, EOFError, ValueError, KeyError, IndexError, OSError) as exc:
        # the library's own errors and those a damaged file raises underneath it (struct, zstd, parse)
        raise RecordingError(f"{path} is not a readable MCAP recording, truncated or damaged "
                             f"({type(exc).__name__}: {exc})") from None
    return Recording(path, channels, messages, metadata)


# -- the rclpy side ---------------------------------------------------------------------------

@dataclass
class RecordedTopic:
    topic: str                 # as subscribed (relative names resolve in the recorder node's namespace)
    msg_class: type
    qos: Any = 10              # an rclpy QoSProfile or depth
    min_period_s: float = 0.0  # keep at most one message per period (0: all)


class TopicRecorder:
    """Raw subscriptions on an existing node that write every (or every n-th second's) message.

    Messages are stamped with their wall-clock arrival time, like `ros2 bag record`. `close()`
    removes the subscriptions and finishes the file. `next_file()` finishes the file and goes on
    into another with the same subscriptions: a run of many episodes keeps one recorder, since
    rclpy 9 can crash an executor that is waiting while a subscription is destroyed."""

    def __init__(self, node, writer: RecordingWriter, topics: Sequence[RecordedTopic]):
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

        self.node, self.writer = node, writer
        group = MutuallyExclusiveCallbackGroup()  # its own: writing never holds up the node's other callbacks
        self._lock = threading.Lock()
        self._subscriptions = []
        self._channels: list[tuple[str, str]] = []
        self._last: dict[str, int] = {}
        try:
            for spec in topics:
                name = node.resolve_topic_name(spec.topic)
                self._channels.append((name, type_name_of(spec.msg_class)))
                writer.add_channel(*self._channels[-1])
                period_ns = int(spec.min_period_s * 1e9)
                self._subscriptions.append(node.create_subscription(
                    spec.msg_class, spec.topic, lambda data, n=name, p=period_ns: self._on_message(n, p, data),
                    spec.qos, callback_group=group, raw=True))
        except BaseException:  # no half-made recorder: drop the subscriptions made so far, finish the file
            self.close()
            raise

    def _on_message(self, topic: str, period_ns: int, data: bytes) -> None:
        now = time.time_ns()
        with self._lock:
            if self.writer.closed or (period_ns and now - self._last.get(topic, -period_ns) < period_ns):
                return
            self._last[topic] = now
            self.writer.write(topic, data, now)

    def next_file(self, writer: RecordingWriter) -> dict[str, int]:
        """Finish the current file and record into `writer` from now on; returns the finished
        file's message count per topic."""
        for channel in self._channels:
            writer.add_channel(*channel)
        with self._lock:
            finished, self.writer, self._last = self.writer, writer, {}
            finished.close()
        return dict(finished.counts)

    def close(self) -> dict[str, int]:
        """Stop recording; returns the message count per topic."""
        for subscription in self._subscriptions:
            self.node.destroy_subscription(subscription)
        self._subscriptions = []
        with self._lock:
            self.writer.close()
        return dict(self.writer.counts)


# What `saycan demo` and exec-mode evaluation record per episode. The camera's color image is
# kept at most every IMAGE_PERIOD_S (the simulator renders 5 Hz; 320x240 rgb8 is 230 kB a frame).
PLAN_TOPIC = "/saycan/plan"
FEEDBACK_TOPIC = "/execute_instruction/_action/feedback"
IMAGE_PERIOD_S = 0.5


def episode_topics() -> list[RecordedTopic]:
    """Camera color image (throttled), odometry, the planner's decisions (saycan/plan), its action
    feedback and the command topic. cmd_vel is left out on purpose: replaying it would drive a robot."""
    from nav_msgs.msg import Odometry
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from saycan_msgs.action import ExecuteInstruction
    from saycan_msgs.msg import PlanStatus

    return [RecordedTopic("/camera/color/image_raw", Image, qos_profile_sensor_data, IMAGE_PERIOD_S),
            RecordedTopic("/odom", Odometry, 50),
            RecordedTopic(PLAN_TOPIC, PlanStatus, 50),
            RecordedTopic(FEEDBACK_TOPIC, ExecuteInstruction.Impl.FeedbackMessage, 50),
            RecordedTopic("/saycan/command", String, 10)]


def record_episode(node, path: str | Path, metadata: dict[str, str] | None = None) -> TopicRecorder:
    """Start recording the episode topics on `node` (which must be spinning) into `path`."""
    return TopicRecorder(node, RecordingWriter(path, metadata), episode_topics())
