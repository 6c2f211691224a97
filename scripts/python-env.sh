#!/usr/bin/env bash
# Creates (once) the Python environment that dreamrig's interop tests use to read its outputs
# with the other side's real libraries (pyarrow, pandas, rosbags, mcap, eclipse-zenoh, rerun-sdk),
# that the Python package is installed into and tested in (gymnasium with MuJoCo, pytest; see
# scripts/python-tests.sh), the public robots the URDF corpus test walks (example-robot-data, pybullet_data) with the `xacro` command, and prints its python
# path. Idempotent.
set -euo pipefail
venv="${DREAMRIG_PYTHON_ENV:-$HOME/.cache/dreamrig-python}"
stamp="$venv/.dreamrig-requirements"
requirements="pyarrow>=15 pandas>=2.1 numpy>=1.26 rosbags>=0.10 mcap>=1.1 mcap-ros2-support>=0.5 eclipse-zenoh==1.10.* rerun-sdk==0.36.* example-robot-data==6.0.0 pybullet==3.2.7 xacro==2.1.1 ros-ament-index-python==1.11.0 gymnasium[mujoco]==1.4.* pyyaml>=6 pytest>=8"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $requirements >&2
  echo "$requirements" > "$stamp"
fi
echo "$venv/bin/python"
