"""An rclpy ActionClient whose goal requests are safe to send while another thread spins.

rclpy 9.1.2 (ROS 2 Kilted, the wheel pinned in requirements.txt) registers each goal request
twice in `ActionClient.send_goal_async`: once under the client's lock, then again after the lock
with a second Future (a merge leftover upstream). Two things follow:
- the first Future stays in the client's future list for ever: one leaked Future per goal;
- when an executor thread takes the goal response between the lock's release and the second
  registration, either `add_done_callback` runs the removal on a Future not yet added
  (`ValueError: list.remove(x): x not in list`, seen in CI as a crash of `saycan demo`), or
  the response completes the first Future, which nobody holds, and the caller waits for ever.
This subclass registers one Future, and the feedback callback, under the lock before the request
leaves: the executor takes responses under the same lock, so none can arrive half-registered.
Every action client in the package (planner, graph client, benchmarks, tests) uses it.

destroy_actions: what rclpy's destroy_node leaves of a node's actions.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from rclpy.action import ActionClient as _RclpyActionClient
from rclpy.node import Node
from rclpy.task import Future


class ActionClient(_RclpyActionClient):
    """rclpy's ActionClient with a race-free, leak-free `send_goal_async` (same signature)."""

    def send_goal_async(self, goal: Any, feedback_callback: Optional[Callable[[Any], Any]] = None,
                        goal_uuid: Any = None) -> Future:
        if not isinstance(goal, self._action_type.Goal):
            raise TypeError(f"Expected goal type ({type(self._action_type.Goal)}) but received ({type(goal)})")
        request = self._action_type.Impl.SendGoalService.Request()
        request.goal_id = self._generate_random_uuid() if goal_uuid is None else goal_uuid
        request.goal = goal
        future: Future = Future()
        with self._lock:
            if feedback_callback is not None:
                self._feedback_callbacks[bytes(request.goal_id.uuid)] = feedback_callback
            sequence_number = self._client_handle.send_goal_request(request)
            if sequence_number in self._pending_goal_requests:
                raise RuntimeError(f"Sequence ({sequence_number}) conflicts with pending goal request")
            self._pending_goal_requests[sequence_number] = future
            self._goal_sequence_number_to_goal_id[sequence_number] = request.goal_id
            future.add_done_callback(self._remove_pending_goal_request)
            self.add_future(future)  # so the executor wakes for it
        return future


def destroy_actions(node: Node) -> None:
    """Destroy the node's action servers and clients; call from destroy_node before Node's own.
    rclpy's destroy_node leaves them, and they keep the node, and with it the context's DDS
    participant and the actions' endpoints, alive in reference cycles until the cyclic GC runs."""
    for waitable in list(node.waitables):
        destroy = getattr(waitable, "destroy", None)
        if callable(destroy):
            destroy()
