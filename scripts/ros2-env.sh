#!/usr/bin/env bash
# Sets up (once) a ROS 2 Kilted installation from the Python registry's `ros-*` wheels, for
# `dreamrig serve --transport rcl` (a build with the `ros2` feature) and for the rclpy nodes of
# its tests, then prints the path of a file to `source`:
#
#   source "$(scripts/ros2-env.sh)"
#   cargo build --release --features ros2
#   dreamrig serve diffdrive-nav --transport rcl
#
# The venv (DREAMRIG_ROS2_ENV, default ~/.cache/dreamrig-ros2) is a ROS prefix: include/, lib/
# and share/ with the ament index. Versions are pinned. What the wheels lack, and how this file
# makes up for it (docs/ros2.md, "rcl from the wheels"):
# - librmw_implementation.so: the wheels link librcl straight to Fast DDS (rmw_fastrtps_cpp),
#   so there is no RMW to choose; r2r links -lrmw_implementation, which becomes a link to
#   librmw_fastrtps_cpp.so in the venv's lib/.
# - the wheels' librcl needs CPython's symbols (through *_rosidl_generator_py.so): the build
#   links libpython (DREAMRIG_ROS2_PYTHON_LIB, bridges/build.rs).
# - r2r 0.9.7 knows no `kilted`: ROS_DISTRO is set to `rolling`, which Kilted branched from and
#   which r2r treats as it does jazzy and lyrical.
# - bindgen needs libclang: the `libclang` wheel's, with the C compiler's own headers.
# - tf2_msgs is not among the wheels: scripts/ros2_tf2_msgs.py generates and compiles it with the
#   wheels' rosidl generators (catkin_pkg is what their .msg → .idl step needs).
# Idempotent.
set -euo pipefail
shopt -s nullglob
venv="${DREAMRIG_ROS2_ENV:-$HOME/.cache/dreamrig-ros2}"
stamp="$venv/.dreamrig-requirements"
requirements="ros-rclpy==9.1.2 ros-rcl==10.1.3 ros-rmw-fastrtps-cpp==9.3.3 ros-std-msgs==5.5.1 ros-sensor-msgs==5.5.1 ros-geometry-msgs==5.5.1 ros-nav-msgs==5.5.1 ros-rosgraph-msgs==2.3.0 ros-builtin-interfaces==2.3.0 catkin_pkg==1.0.0 libclang==18.1.1 pytest>=8"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $requirements >&2
  echo "$requirements" > "$stamp"
fi
ln -sf librmw_fastrtps_cpp.so "$venv/lib/librmw_implementation.so"
# tf2_msgs (for /tf and /tf_static) is not among the wheels: build it with their rosidl generators
# from the definition dreamrig ships (scripts/ros2_tf2_msgs.py).
AMENT_PREFIX_PATH="$venv" LD_LIBRARY_PATH="$venv/lib" "$venv/bin/python" "$(dirname "$0")/ros2_tf2_msgs.py" "$venv" "$(cd "$(dirname "$0")/.." && pwd)/bridges/msgs/tf2_msgs" >&2

site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
libpython="$("$venv/bin/python" -c 'import sysconfig, os; print(os.path.join(sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")))')"
if [ ! -f "$libpython" ] || [[ "$libpython" != *.so ]]; then
  echo "ros2-env: this Python ($(python3 --version)) has no shared libpython (looked for $libpython); the wheels' librcl needs one: use a Python built with --enable-shared (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared) or install libpython3-dev" >&2
  exit 1
fi
# The wheels keep their bundled libraries (Fast DDS's OpenSSL, lttng, tinyxml2, …) in *.libs.
libraries="$venv/lib"
for dir in "$site"/*.libs; do
  libraries="$libraries:$dir"
done
libraries="$libraries:$(dirname "$libpython")"
compiler_headers="$(gcc -print-file-name=include)"

env_file="$venv/dreamrig-ros2.env"
cat > "$env_file.tmp" <<EOF
# ROS 2 Kilted from the ros-* wheels in $venv (written by dreamrig's scripts/ros2-env.sh).
export AMENT_PREFIX_PATH="$venv"
export LD_LIBRARY_PATH="$libraries\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PATH="$venv/bin:\$PATH"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
# For building r2r (cargo build --features ros2):
export ROS_DISTRO=rolling
export IDL_PACKAGE_FILTER="builtin_interfaces;std_msgs;geometry_msgs;sensor_msgs;nav_msgs;rosgraph_msgs;tf2_msgs"
export LIBCLANG_PATH="$site/clang/native"
export BINDGEN_EXTRA_CLANG_ARGS="-I$compiler_headers"
export DREAMRIG_ROS2_PYTHON_LIB="$libpython"
export DREAMRIG_ROS2_LIBRARY_PATH="$libraries"
EOF
mv "$env_file.tmp" "$env_file"
echo "$env_file"
