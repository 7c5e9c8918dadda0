"""Start the node set of a standard ROS 2 YAML launch file without launch_ros.

launch_ros is not installable from wheels, so `saycan launch` reads the same launch/*.launch.yaml
that `ros2 launch` would and starts each node as its own process with the equivalent
`--ros-args` (node name, remaps, parameter files and values). Shutdown is staged like
ros2 launch: SIGINT, then SIGTERM, then SIGKILL.

Supported: `arg` (name, default), `node` (pkg, exec, name, namespace, param: from/name+value,
remap: from/to, args), `include` (file, arg: name+value; the included file's arguments come only
from that list and its defaults), substitutions `$(var x)`, `$(env X [default])` and
`$(find-pkg-share pkg)`.
"""
from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Mapping, Sequence

import yaml

from saycan_ros.core.errors import ConfigError, SayCanError

_SUBST = re.compile(r"\$\((var|env|find-pkg-share|find-pkg-prefix)\s+([^)\s]+)(?:\s+([^)]*))?\)")


@dataclass
class NodeSpec:
    pkg: str
    executable: str
    name: str
    namespace: str = ""
    params: list[tuple[str, str]] = field(default_factory=list)  # ("file", path) or (name, value)
    remaps: list[tuple[str, str]] = field(default_factory=list)
    args: list[str] = field(default_factory=list)

    def ros_args(self) -> list[str]:
        out = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace:
            out += ["-r", f"__ns:={self.namespace if self.namespace.startswith('/') else '/' + self.namespace}"]
        for src, dst in self.remaps:
            out += ["-r", f"{src}:={dst}"]
        for key, value in self.params:
            out += ["--params-file", value] if key == "file" else ["-p", f"{key}:={_param_literal(value)}"]
        return out


def _param_literal(value: str) -> str:
    # An empty string must stay a string parameter, not "no value".
    return value if value != "" else "''"


def package_share(pkg: str) -> Path:
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        return Path(get_package_share_directory(pkg))
    except PackageNotFoundError:
        raise ConfigError(f"package '{pkg}' is not installed (did you source env.sh?)") from None


def package_prefix(pkg: str) -> Path:
    return package_share(pkg).parents[1]


def resolve(text: str, args: Mapping[str, str]) -> str:
    def sub(match: re.Match) -> str:
        kind, name, extra = match.group(1), match.group(2), match.group(3)
        if kind == "var":
            if name not in args:
                raise ConfigError(f"launch argument '{name}' is not declared")
            return args[name]
        if kind == "env":
            return os.environ.get(name, extra or "")
        return str(package_share(name) if kind == "find-pkg-share" else package_prefix(name))

    previous = None
    while previous != text:  # defaults may themselves contain substitutions
        previous, text = text, _SUBST.sub(sub, text)
    return text


MAX_INCLUDE_DEPTH = 8


def parse_launch_file(path: str | Path, overrides: Mapping[str, str] | None = None, _depth: int = 0) -> list[NodeSpec]:
    """Node specs of a YAML launch file (and the files it includes) with arguments resolved.
    ConfigError on bad content."""
    path = Path(path)
    if _depth > MAX_INCLUDE_DEPTH:
        raise ConfigError(f"{path}: includes nest deeper than {MAX_INCLUDE_DEPTH} (an include cycle?)")
    if not path.is_file():
        raise ConfigError(f"launch file not found: {path}")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("launch"), list):
        raise ConfigError(f"{path}: expected a top-level 'launch:' list")
    overrides = dict(overrides or {})
    args: dict[str, str] = {}
    nodes = []
    for entry in data["launch"]:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ConfigError(f"{path}: each launch entry must be one of arg/node/include, got {entry!r}")
        (kind, body), = entry.items()
        if kind == "arg":
            name = body["name"]
            value = overrides.pop(name, body.get("default"))
            if value is None:
                raise ConfigError(f"{path}: launch argument '{name}' needs a value ({name}:=...)")
            args[name] = resolve(str(value), args)
        elif kind == "node":
            for key in ("pkg", "exec"):
                if key not in body:
                    raise ConfigError(f"{path}: node entry lacks '{key}'")
            spec = NodeSpec(body["pkg"], body["exec"], body.get("name", body["exec"]), resolve(str(body.get("namespace", "")), args))
            for p in body.get("param", []) or []:
                if "from" in p:
                    spec.params.append(("file", resolve(str(p["from"]), args)))
                else:
                    spec.params.append((str(p["name"]), resolve(str(p["value"]), args)))
            spec.remaps = [(resolve(str(r["from"]), args), resolve(str(r["to"]), args)) for r in body.get("remap", []) or []]
            spec.args = resolve(str(body.get("args", "")), args).split()
            nodes.append(spec)
        elif kind == "include":
            if not isinstance(body, dict) or "file" not in body:
                raise ConfigError(f"{path}: include entry lacks 'file'")
            try:
                passed = {str(a["name"]): resolve(str(a["value"]), args) for a in body.get("arg", []) or []}
            except (KeyError, TypeError):
                raise ConfigError(f"{path}: include args look like {{name: x, value: y}}, got {body.get('arg')!r}") from None
            nodes.extend(parse_launch_file(resolve(str(body["file"]), args), passed, _depth + 1))
        else:
            raise ConfigError(f"{path}: unsupported launch entry '{kind}' (supported: arg, node, include)")
    if overrides:
        raise ConfigError(f"{path}: unknown launch argument(s): {', '.join(overrides)}; "
                          f"declared: {', '.join(args) or 'none'}")
    return nodes


def find_launch_file(name: str) -> Path:
    """'sim' -> <share>/launch/sim.launch.yaml (or a path as given)."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml"):
        return as_path
    return package_share("saycan_ros") / "launch" / f"{name}.launch.yaml"


def use_private_ros_domain(domain_id: int | None = None) -> int:
    """Give a self-contained graph (the simulated demo, exec-mode evaluation) a ROS domain of its
    own on this machine only, so it cannot talk to another graph running here (a second demo, a
    robot's nodes). Call before rclpy is initialised; returns the domain id chosen."""
    import random

    if domain_id is None:
        current = os.environ.get("ROS_DOMAIN_ID")
        domain_id = random.choice([d for d in range(1, 102) if str(d) != current])  # 0..101: safe with Fast DDS ports
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return domain_id


def spawn_process(argv: Sequence[str], env: dict[str, str] | None = None, stdout: IO | int | None = None
                  ) -> subprocess.Popen:
    """Start one node process in its own process group (a Ctrl-C in the terminal reaches only us,
    and we stop the nodes in order) with SIGINT at its default: a launcher started in the
    background (`saycan launch sim &`) has SIGINT ignored, and children would inherit that and
    never see the polite first stage of the shutdown."""
    return subprocess.Popen(list(argv), env=env, stdout=stdout, stderr=subprocess.STDOUT if stdout else None,
                            start_new_session=True, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class LaunchedGraph:
    """The processes of one launch. Use as a context manager; `shutdown()` is idempotent."""

    def __init__(self, nodes: list[NodeSpec], log_dir: str | Path | None = None, env: Mapping[str, str] | None = None):
        self.nodes = nodes
        self.log_dir = Path(log_dir) if log_dir else None
        self.env = {**os.environ, **(env or {})}
        self.processes: dict[str, subprocess.Popen] = {}
        self.stopped_on_purpose: set[str] = set()  # killed by kill(): not a failure of the graph
        self._logs: dict[str, IO] = {}
        self._previous_handlers: dict[int, object] = {}

    def start(self) -> "LaunchedGraph":
        self._install_signal_handlers()
        atexit.register(self.shutdown)
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.nodes:
            try:
                self._spawn(spec, "w")
            except ConfigError:
                self.shutdown()
                raise
        return self

    def _spawn(self, spec: NodeSpec, mode: str) -> None:
        exe = package_prefix(spec.pkg) / "lib" / spec.pkg / spec.executable
        if not exe.exists():
            raise ConfigError(f"executable '{spec.executable}' of package '{spec.pkg}' not found at {exe}")
        out: IO | None = None
        if self.log_dir:
            if spec.name in self._logs:
                self._logs[spec.name].close()
            out = self._logs[spec.name] = open(self.log_dir / f"{spec.name}.log", mode)
        self.processes[spec.name] = spawn_process([str(exe), *spec.args, *spec.ros_args()], self.env, out)

    def kill(self, name: str, sig: int = signal.SIGKILL, wait_s: float = 10.0) -> None:
        """Stop one node on purpose (fault injection): check_alive no longer counts it as dead."""
        process = self.processes[name]
        self.stopped_on_purpose.add(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5.0)

    def restart(self, name: str) -> None:
        """Start a node again (after kill() or a crash); its log continues."""
        if self.processes[name].poll() is None:
            self.kill(name)
        self._spawn(next(spec for spec in self.nodes if spec.name == name), "a")
        self.stopped_on_purpose.discard(name)

    def _install_signal_handlers(self) -> None:
        """SIGTERM/SIGHUP become KeyboardInterrupt, so `with LaunchedGraph(...)` blocks unwind and
        stop the nodes: they run in their own sessions and would otherwise outlive us."""
        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")

        self._previous_handlers = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def dead(self) -> dict[str, int]:
        """Processes that have exited (not those stopped on purpose), with their exit codes."""
        return {name: p.returncode for name, p in self.processes.items()
                if p.poll() is not None and name not in self.stopped_on_purpose}

    def log_tail(self, name: str, lines: int = 15) -> str:
        if not self.log_dir or not (self.log_dir / f"{name}.log").exists():
            return ""
        return "\n".join((self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        dead = self.dead()
        if dead:
            name, code = next(iter(dead.items()))
            tail = self.log_tail(name)
            raise SayCanError(f"node '{name}' exited with code {code}" + (f"; its last output:\n{tail}" if tail else ""))

    def shutdown(self, grace_s: float = 5.0) -> dict[str, int]:
        """SIGINT, then SIGTERM, then SIGKILL; returns the exit codes."""
        for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
            alive = [p for p in self.processes.values() if p.poll() is None]
            if not alive:
                break
            for p in alive:
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait_s
            for p in alive:
                try:
                    p.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for f in self._logs.values():
            f.close()
        self._logs.clear()
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers = {}
        atexit.unregister(self.shutdown)
        return {name: p.returncode for name, p in self.processes.items()}

    def __enter__(self) -> "LaunchedGraph":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()
