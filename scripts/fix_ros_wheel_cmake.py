"""Rewrite the build-host include folders that the ROS 2 wheels bake into their CMake exports.

The `*__rosidl_generator_pyExport.cmake` files shipped in the ros-kilted-* wheels name
`/opt/python/cpXY-cpXY/include/pythonX.Y` and that host's numpy include folder. CMake's
generate step rejects include folders that do not exist, so `colcon build` of any
interface package fails until they point at this interpreter's folders. Idempotent.
"""
from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_HOST_NUMPY = re.compile(r"/opt/python/cp\d+-cp\d+/lib/python3\.\d+/site-packages/numpy/_core/include")
BUILD_HOST_PYTHON = re.compile(r"/opt/python/cp\d+-cp\d+/include/python3\.\d+")


def fix(prefix: Path) -> int:
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in (prefix / "share").glob("*/cmake/*__rosidl_generator_pyExport.cmake"):
        text = path.read_text()
        fixed = BUILD_HOST_PYTHON.sub(python_include, BUILD_HOST_NUMPY.sub(numpy_include, text))
        if fixed != text:
            path.write_text(fixed)
            changed += 1
    return changed


if __name__ == "__main__":
    count = fix(Path(sys.prefix))
    print(f"fixed build-host include paths in {count} CMake export file(s)")
