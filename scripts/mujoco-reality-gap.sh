#!/usr/bin/env bash
# Reproduces the "Reality from another engine" figures of docs/world-model.md for one robot:
#   scripts/mujoco-reality-gap.sh cartpole|reacher|arm7 [OUT]
# "Reality" is MuJoCo (scripts/mujoco_reality.py) loading the scenario's own URDF, twice: as it
# is, and with rotor armature and a payload rapier's nominal model lacks. For each, 200 training
# episodes (seed 0) and 100 held-out (seed 9001) are logged (cart-pole: 100 and 50); a hybrid and a learned model are
# trained on the same data with the same settings and measured open loop (`wm eval`, with the
# disagreement flag's precision and recall). Last, the model trained on MuJoCo as it is is
# evaluated on the armature-and-payload episodes: a reality it has not seen, where the flag
# should fire. Then the policy rankings: a zoo scored in MuJoCo by the scenario's own task, and in
# the scenario as shipped and the hybrid (scripts/mujoco_compare.py).
# Existing data and models in OUT are reused: delete OUT after changing scripts/mujoco_reality.py.
# Needs the project's Python environment (scripts/python-env.sh) with the dreamrig package
# installed (`pip install ./python`, as scripts/python-tests.sh does).
set -euo pipefail
robot=${1:?usage: scripts/mujoco-reality-gap.sh cartpole|reacher|arm7 [OUT]}
out=${2:-results/mujoco-reality-gap/$robot}
# noise: the ranking zoo's action-noise levels, spanning clean to failing for that robot.
# engine: options for both realities. The arm's wrist (0.0004 kg·m² about joint 7 under a servo
# with kd 20 N·m·s/rad: a 20 µs time constant) needs MuJoCo's force-limited servo stepped below
# about 40 µs, or it chatters between its force limits; rapier's implicit motor steps it at 2 ms.
# episodes, heldout: episodes logged for training and held out; the cart-pole's run 500 steps
# (the others' 100 or 200), so half as many give it about as many transitions.
engine=()
episodes=200
heldout=100
case $robot in
  cartpole) scenario=cartpole-balance; noise=0,0.9,1.0,1.1,1.2,1.3,1.4; episodes=100; heldout=50
    changes=(--armature slider=0.2 --payload pole=0.03@0,0,1.0) ;;
  reacher) scenario=reacher-2link; noise=0,0.5,0.75,1,1.25,1.5,2
    changes=(--armature shoulder=0.0001 elbow=0.0001 --payload fingertip=0.01) ;;
  arm7) scenario=arm7-reach; engine=(--substeps 64); noise=0,0.05,0.1,0.15,0.2,0.3,0.4
    changes=(--armature joint1=0.1 joint2=0.1 joint3=0.05 joint4=0.05 joint5=0.02 joint6=0.02 joint7=0.01 --payload ee=1.0) ;;
  *) echo "unknown robot $robot (cartpole, reacher, arm7)" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python="$(scripts/python-env.sh)"
dreamrig=${DREAMRIG:-"cargo run --release --quiet --"}
epochs=${EPOCHS:-30}
ensemble=${ENSEMBLE:-3}
mkdir -p "$out"
for reality in as-is changed; do
  extra=("${engine[@]}")
  [ "$reality" = changed ] && extra+=("${changes[@]}")
  [ -d "$out/$reality-data" ] || "$python" scripts/mujoco_reality.py "$scenario" --out "$out/$reality-data" \
    --episodes "$episodes" "${extra[@]}"
  [ -d "$out/$reality-heldout" ] || "$python" scripts/mujoco_reality.py "$scenario" --out "$out/$reality-heldout" \
    --seed 9001 --episodes "$heldout" "${extra[@]}"
  for kind in hybrid learned; do
    model="$out/$reality-$kind.json"
    [ -f "$model" ] || $dreamrig wm train --dataset "$out/$reality-data" --scenario "$scenario" --kind "$kind" \
      --out "$model" --epochs "$epochs" --ensemble "$ensemble" --seed 1 | tee "$out/train-$reality-$kind.txt"
    $dreamrig wm eval --model "$model" --dataset "$out/$reality-heldout" --json "$out/fidelity-$reality-$kind.json" \
      | tee "$out/fidelity-$reality-$kind.txt"
  done
done
# Policy rankings with MuJoCo as the real robot (scripts/mujoco_compare.py): the controller with
# growing action noise and the baselines, 40 paired episodes each, scored by the scenario's task,
# against the scenario as shipped and the hybrid trained on that reality.
for reality in as-is changed; do
  extra=("${engine[@]}")
  [ "$reality" = changed ] && extra+=("${changes[@]}")
  [ -f "$out/compare-$reality.json" ] || "$python" scripts/mujoco_compare.py "$scenario" "${extra[@]}" \
    --noise "$noise" --candidate physics --candidate "hybrid:$out/$reality-hybrid.json" --json "$out/compare-$reality.json" \
    | tee "$out/compare-$reality.txt"
done
# The model of MuJoCo as it is, on the changed robot's episodes.
$dreamrig wm eval --model "$out/as-is-hybrid.json" --dataset "$out/changed-heldout" --json "$out/fidelity-shift-hybrid.json" \
  | tee "$out/fidelity-shift-hybrid.txt"
