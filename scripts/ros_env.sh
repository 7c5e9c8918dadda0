# Minimal environment for building before install/ exists (used by setup.sh).
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VIRTUAL_ENV="$_root/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
_libs="$VIRTUAL_ENV/lib"
for _d in "$VIRTUAL_ENV"/lib/python3.11/site-packages/ros_*.libs; do _libs="$_libs:$_d"; done
export LD_LIBRARY_PATH="$_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# OpenMP's default busy-waiting threads slow torch several-fold on a shared 2-core machine.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
mkdir -p "$_root/log"
unset _root _libs _d
