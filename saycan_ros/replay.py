"""`saycan replay RUN`: an episode's recording again, as tables and on its original topics.

RUN is a run folder (`runs/demo-<time>`, its episode.mcap) or an .mcap file. Prints the demo's
per-step candidate tables and each skill's outcome from the recorded `saycan/plan` decisions
(decoded from the file's own schemas: no message package needed), then re-publishes every
recorded message on its original topic with its original spacing, scaled by --rate
(`--no-publish`: only print).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from saycan_ros.core.episode import EpisodeRecord
from saycan_ros.ros_io.codes import PLAN_END_STATES
from saycan_ros.ros_io.recording import PLAN_TOPIC, RecordedMessage, Recording, RecordingError, read_recording


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    from saycan_ros.cli_types import bounded

    parser = argparse.ArgumentParser(prog="saycan replay", description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder with episode.mcap, or an .mcap file")
    parser.add_argument("--rate", type=bounded(float, 0.01, 100.0), default=1.0,
                        help="playback speed: 2 plays twice as fast, 0.5 half (default 1: the original timing)")
    parser.add_argument("--no-publish", action="store_true", help="only print the step tables")
    parser.add_argument("--topic", action="append", default=[], metavar="TOPIC",
                        help="re-publish only this topic (repeatable; default: every recorded topic)")
    parser.add_argument("--delay", type=bounded(float, 0.0, 60.0), default=1.0,
                        help="wait up to this many seconds for a subscriber on every topic before the first "
                             "message (default 1)")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    recording = read_recording(args.run, decode_topics=(PLAN_TOPIC,))
    messages = recording.messages
    if args.topic:
        topics = {t if t.startswith("/") else "/" + t for t in args.topic}
        unknown = sorted(topics - set(recording.channels))
        if unknown:
            raise RecordingError(f"not in the recording: {', '.join(unknown)} (it has {', '.join(sorted(recording.channels))})")
        messages = [m for m in messages if m.topic in topics]
    print_recording(recording)
    if args.no_publish:
        return 0
    print(f"\n  re-publishing {len(messages)} message(s) at {args.rate:g}x "
          f"({_duration_s(messages) / args.rate:.1f} s); Ctrl-C stops", flush=True)
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("saycan_replay", context=context)
    try:
        sent = publish_recording(node, recording.channels, messages, args.rate, args.delay)
    finally:
        node.destroy_node()
        context.try_shutdown()
    print(f"  published {sent} message(s)")
    return 0


def _duration_s(messages: Sequence[RecordedMessage]) -> float:
    return (messages[-1].log_time_ns - messages[0].log_time_ns) / 1e9 if messages else 0.0


def recorded_episode(recording: Recording) -> EpisodeRecord:
    """The episode's decisions and outcomes as the demo saw them, from the recorded saycan/plan."""
    from saycan_ros.graph_client import merge_plan_events

    plans = [m.decoded for m in recording.on(PLAN_TOPIC)]
    episode = EpisodeRecord(next((p.instruction for p in plans if p.instruction), recording.metadata.get("instruction", "")))
    events = [(m.log_time_ns / 1e9, m.decoded) for m in recording.on(PLAN_TOPIC) if m.decoded.state not in PLAN_END_STATES]
    merge_plan_events(episode, events, {}, events[0][0] if events else 0.0)
    ends = [p for p in plans if p.state in PLAN_END_STATES or p.state == "succeeded"]
    if ends:
        episode.status = "done" if ends[-1].state == "succeeded" else ends[-1].state
        episode.error_msg = ends[-1].detail if ends[-1].state != "succeeded" else ""
    return episode


def print_recording(recording: Recording) -> EpisodeRecord:
    """The demo's output for the recorded episode: a table per step and the skill's outcome."""
    from saycan_ros.demo import print_outcome, print_step

    episode = recorded_episode(recording)
    print(f"Replay of {recording.path}: \"{episode.instruction}\" ({_duration_s(recording.messages):.1f} s recorded)")
    for topic, type_name in sorted(recording.channels.items()):
        print(f"  {topic:<40} {type_name:<52} {len(recording.on(topic)):>5} message(s)")
    print()
    steps = {s.index: s for s in episode.steps}
    shown: set[int] = set()
    for message in recording.on(PLAN_TOPIC):  # in recorded order, as the demo printed them live
        plan = message.decoded
        if plan.state not in PLAN_END_STATES:
            if plan.step_index in steps and plan.step_index not in shown:
                shown.add(plan.step_index)
                print_step(steps[plan.step_index])
            if plan.detail:
                print_outcome(plan.detail)
    if not episode.steps:
        print("  (no decisions on saycan/plan in this recording)")
    print(f"\n  planner: {'finished with done' if episode.status == 'done' else episode.status or 'no end recorded'}"
          + (f" ({episode.error_msg})" if episode.error_msg else ""))
    print(f"  executed: {', '.join(episode.executed) or 'nothing'}")
    sys.stdout.flush()
    return episode


def publish_recording(node, channels: dict[str, str], messages: Sequence[RecordedMessage], rate: float = 1.0,
                      delay_s: float = 1.0) -> int:
    """Publish each message's CDR bytes on its topic at its original offset from the first, divided
    by `rate`, after every publisher has a subscriber or `delay_s` has passed (a late subscriber
    misses what came before). Publishers are reliable, so best-effort and reliable subscribers
    both match. Returns the number published."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from saycan_ros.ros_io.recording import message_class

    qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    used = {m.topic for m in messages}
    publishers = {topic: node.create_publisher(message_class(type_name), topic, qos)
                  for topic, type_name in channels.items() if topic in used}
    deadline = time.monotonic() + delay_s
    while time.monotonic() < deadline and not all(p.get_subscription_count() for p in publishers.values()):
        time.sleep(0.05)
    if time.monotonic() < deadline:
        time.sleep(min(0.25, deadline - time.monotonic()))  # the subscriber's side of the match may trail ours
    if not messages:
        return 0
    first, started = messages[0].log_time_ns, time.monotonic()
    for message in messages:
        wait = started + (message.log_time_ns - first) / 1e9 / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        publishers[message.topic].publish(message.data)  # rclpy publishes serialized bytes as they are
    return len(messages)
