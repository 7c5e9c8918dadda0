"""Lint: no rclpy logging call site may be used with more than one severity.

rclpy remembers the severity of each logging call site (file + line) and raises
`ValueError('Logger severity cannot be changed between calls.')` when it changes. A call site
like `log = logger.info if ok else logger.warning; log(...)` therefore works the first time and
raises ever after: it once made every action result after the first failure come back ABORTED.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "saycan_ros"
SEVERITIES = {"debug", "info", "warning", "warn", "error", "fatal"}


def _is_logger(node: ast.AST) -> bool:
    """`x.get_logger()`, `get_logger(...)`, or a name/attribute called like a logger."""
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name == "get_logger"
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name.lower().endswith("logger")


def severity_switching_sites(source: str, filename: str = "<src>") -> list[str]:
    tree = ast.parse(source, filename)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in SEVERITIES and _is_logger(node.value):
            if id(node) not in called:  # the bound method escapes: one call site, any severity
                problems.append(f"{filename}:{node.lineno}: logger.{node.attr} used without being called")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "log"
                and _is_logger(node.func.value)):
            severity = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "severity"), None)
            if severity is not None and not isinstance(severity, (ast.Constant, ast.Attribute)):
                problems.append(f"{filename}:{node.lineno}: logger.log with a computed severity")
    return problems


def test_the_checker_finds_the_patterns_that_raise():
    bad = (
        "log = self.get_logger().info if ok else self.get_logger().warning\n"
        "log('x')\n"
        "logger = node.get_logger()\n"
        "pick = logger.error\n"
        "logger.log('x', LoggingSeverity.INFO if ok else LoggingSeverity.WARN)\n"
    )
    assert len(severity_switching_sites(bad)) == 4
    good = "self.get_logger().info('a')\nlogger.warning('b')\nlogger.log('c', LoggingSeverity.INFO)\n"
    assert severity_switching_sites(good) == []


def test_no_logging_call_site_in_the_package_switches_severity():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += severity_switching_sites(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    assert problems == [], "\n".join(problems)
