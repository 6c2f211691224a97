#!/usr/bin/env bash
# Reproduces the "Reality from another engine" figures of docs/world-model.md for one robot:
#   scripts/mujoco-reality-gap.sh reacher|arm7 [OUT]
# "Reality" is MuJoCo (scripts/mujoco_reality.py) loading the scenario's own URDF, twice: as it
# is, and with rotor armature and a payload rapier's nominal model lacks. For each, 200 training
# episodes (seed 0) and 100 held-out (seed 9001) are logged; a hybrid and a learned model are
# trained on the same data with the same settings and measured open loop (`wm eval`, with the
# disagreement flag's precision and recall). Last, the model trained on MuJoCo as it is is
# evaluated on the armature-and-payload episodes: a reality it has not seen, where the flag
# should fire.
# Existing data and models in OUT are reused: delete OUT after changing scripts/mujoco_reality.py.
# Needs the project's Python environment (scripts/python-env.sh) with the dreamrig package
# installed (`pip install ./python`, as scripts/python-tests.sh does).
set -euo pipefail
robot=${1:?usage: scripts/mujoco-reality-gap.sh reacher|arm7 [OUT]}
out=${2:-results/mujoco-reality-gap/$robot}
case $robot in
  reacher) scenario=reacher-2link; changes=(--armature shoulder=0.0001 elbow=0.0001 --payload fingertip=0.01) ;;
  arm7) scenario=arm7-reach
    changes=(--armature joint1=0.1 joint2=0.1 joint3=0.05 joint4=0.05 joint5=0.02 joint6=0.02 joint7=0.01 --payload ee=1.0) ;;
  *) echo "unknown robot $robot (reacher, arm7)" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python="$(scripts/python-env.sh)"
dreamrig=${DREAMRIG:-"cargo run --release --quiet --"}
epochs=${EPOCHS:-30}
ensemble=${ENSEMBLE:-3}
mkdir -p "$out"
for reality in as-is changed; do
  extra=()
  [ "$reality" = changed ] && extra=("${changes[@]}")
  [ -d "$out/$reality-data" ] || "$python" scripts/mujoco_reality.py "$scenario" --out "$out/$reality-data" "${extra[@]}"
  [ -d "$out/$reality-heldout" ] || "$python" scripts/mujoco_reality.py "$scenario" --out "$out/$reality-heldout" \
    --seed 9001 --episodes 100 "${extra[@]}"
  for kind in hybrid learned; do
    model="$out/$reality-$kind.json"
    [ -f "$model" ] || $dreamrig wm train --dataset "$out/$reality-data" --scenario "$scenario" --kind "$kind" \
      --out "$model" --epochs "$epochs" --ensemble "$ensemble" --seed 1 | tee "$out/train-$reality-$kind.txt"
    $dreamrig wm eval --model "$model" --dataset "$out/$reality-heldout" --json "$out/fidelity-$reality-$kind.json" \
      | tee "$out/fidelity-$reality-$kind.txt"
  done
done
# The model of MuJoCo as it is, on the changed robot's episodes.
$dreamrig wm eval --model "$out/as-is-hybrid.json" --dataset "$out/changed-heldout" --json "$out/fidelity-shift-hybrid.json" \
  | tee "$out/fidelity-shift-hybrid.txt"
