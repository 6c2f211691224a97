#!/usr/bin/env bash
# Reproduces the reality-gap figures of docs/world-model.md for one robot:
#   scripts/reality-gap.sh cartpole|reacher|arm7 [OUT]
# Logs "real" data (scenarios/reality-gap/*-real.yaml) with the data spec, draws held-out
# episodes with another seed, trains a hybrid and a learned model on the same data, measures
# both open loop against the physics prior, and (where a zoo exists) compares policy rankings.
# The hybrid's prior is identified from the data; hybrid-nominal is the ablation without that.
set -euo pipefail
robot=${1:?usage: scripts/reality-gap.sh cartpole|reacher|arm7 [OUT]}
out=${2:-results/reality-gap/$robot}
case $robot in
  cartpole) nominal=cartpole-balance; real=cartpole-balance-real ;;
  reacher) nominal=reacher-2link; real=reacher-2link-real ;;
  arm7) nominal=arm7-reach; real=arm7-reach-real ;;
  *) echo "unknown robot $robot (cartpole, reacher, arm7)" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
dreamrig=${DREAMRIG:-"cargo run --release --quiet --"}
epochs=${EPOCHS:-30}
ensemble=${ENSEMBLE:-3}
mkdir -p "$out"
cd "$root"
[ -d "$out/data" ] || $dreamrig eval "evals/reality-gap/$robot-data.yaml" --out "$out/data-run" --record-dataset "$out/data"
[ -d "$out/heldout" ] || $dreamrig eval "evals/reality-gap/$robot-data.yaml" --seed 9001 --out "$out/heldout-run" --record-dataset "$out/heldout"
# hybrid-nominal: the same hybrid on the nominal physics, without identifying the prior first.
for model in hybrid learned hybrid-nominal; do
  case $model in
    hybrid-nominal) options=(--kind hybrid --prior nominal) ;;
    *) options=(--kind "$model") ;;
  esac
  [ -f "$out/$model.json" ] || $dreamrig wm train --dataset "$out/data/$real" --scenario "$nominal" "${options[@]}" \
    --out "$out/$model.json" --epochs "$epochs" --ensemble "$ensemble" --seed 1
  $dreamrig wm eval --model "$out/$model.json" --dataset "$out/heldout/$real" --json "$out/fidelity-$model.json" | tee "$out/fidelity-$model.txt"
done
for zoo in zoo mixed-zoo; do
  spec="evals/reality-gap/$robot-$zoo.yaml"
  [ -f "$spec" ] || continue
  for candidate in "hybrid:$out/hybrid.json" "physics:$nominal"; do
    name="compare-$zoo-${candidate%%:*}"
    [ -d "$out/$name" ] || $dreamrig wm compare "$spec" --reference "physics:scenarios/reality-gap/$real.yaml" \
      --candidate "$candidate" --out "$out/$name" | tee "$out/$name.txt"
  done
done
