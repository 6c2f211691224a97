#!/usr/bin/env bash
# A LeRobot policy trained on a dreamrig dataset with lerobot's own training script, then
# evaluated in the dreamrig scenario with lerobot's own evaluation loop (examples/lerobot/).
#
#   scripts/lerobot-example.sh [--steps N] [--episodes N] [--eval-episodes N] [--out DIR]
#
# 1. Creates (once) a Python environment with lerobot (pinned below; it brings PyTorch) and
#    installs dreamrig's package into it (`pip install ./python`).
# 2. Runs the dreamrig/LeRobot tests (python/tests/test_lerobot.py) there.
# 3. `dreamrig dataset generate arm7-reach --policy auto`: 200 demonstrations of the controller.
# 4. `lerobot-train --policy.type=act` on that dataset (a small ACT, on the CPU: about 8 min
#    for 1500 steps on 2 cores).
# 5. examples/lerobot/evaluate.py --check: the checkpoint in dreamrig's arm7-reach next to the
#    controller and the random baseline, on the same seeds; fails unless the policy is
#    clearly better than random.
# CI runs it with fewer training steps (.ci/run).
set -euo pipefail
caller="$PWD"
cd "$(dirname "$0")/.."
repo="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
venv="${DREAMRIG_LEROBOT_ENV:-$HOME/.cache/dreamrig-lerobot}"
# lerobot and what it was tested with (PyTorch from PyPI, with its CUDA libraries: about 8 GB).
requirements="lerobot==0.4.4 torch==2.10.0 torchvision==0.25.0 gymnasium==1.4.0 pytest>=8"
steps=1500
episodes=200
eval_episodes=50
out="$repo/results/lerobot-example"
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --episodes) episodes="$2"; shift 2 ;;
    --eval-episodes) eval_episodes="$2"; shift 2 ;;
    --out) out="$2"; case "$out" in /*) ;; *) out="$caller/$out" ;; esac; shift 2 ;;
    *) echo "lerobot-example.sh: unknown argument $1 (expected --steps, --episodes, --eval-episodes or --out)" >&2; exit 2 ;;
  esac
done

# Only a folder this script made is replaced (it leaves a marker file in it).
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -f "$out/.lerobot-example" ]; then
  echo "lerobot-example.sh: --out $out exists and was not written by this script; choose another folder" >&2
  exit 2
fi

stamp="$venv/.dreamrig-requirements"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$requirements" ]; then
  echo "== creating $venv with $requirements" >&2
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $requirements >&2
  echo "$requirements" > "$stamp"
fi
# rosbags reads the ROS 2 bags scripts/rosbag_to_lerobot.py converts (python/tests/test_lerobot.py).
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "rosbags>=0.10,<0.12"
echo "== pip install ./python into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check ./python
if [ ! -x "$CARGO_TARGET_DIR/release/dreamrig" ]; then
  cargo build --release --bin dreamrig
fi
dreamrig="$CARGO_TARGET_DIR/release/dreamrig"
# Everything is local: no Hugging Face Hub access.
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

echo "== pytest python/tests/test_lerobot.py" >&2
"$venv/bin/python" -m pytest -q python/tests/test_lerobot.py

rm -rf "$out"
mkdir -p "$out"
touch "$out/.lerobot-example"
echo "== dreamrig dataset generate arm7-reach --policy auto --episodes $episodes" >&2
"$dreamrig" dataset generate arm7-reach --policy auto --episodes "$episodes" --out "$out/data"

echo "== lerobot-train --policy.type=act --steps $steps" >&2
"$venv/bin/lerobot-train" \
  --dataset.repo_id=dreamrig/arm7-reach --dataset.root="$out/data" \
  --policy.type=act --policy.device=cpu --policy.push_to_hub=false \
  --policy.dim_model=128 --policy.n_heads=4 --policy.dim_feedforward=512 --policy.n_encoder_layers=2 \
  --policy.chunk_size=10 --policy.n_action_steps=10 --policy.optimizer_lr=3e-4 \
  --batch_size=64 --steps="$steps" --num_workers=0 --seed=1000 \
  --log_freq=500 --save_freq="$steps" --wandb.enable=false \
  --output_dir="$out/train" > "$out/train.log" 2>&1 || { tail -n 40 "$out/train.log" >&2; exit 1; }
grep -a -o "step:[0-9A-Z.]* smpl:[^ ]* ep:[^ ]* epch:[^ ]* loss:[^ ]*" "$out/train.log" | tail -n 3 >&2 || true

echo "== examples/lerobot/evaluate.py --check" >&2
"$venv/bin/python" examples/lerobot/evaluate.py "$out/train/checkpoints/last/pretrained_model" \
  --scenario arm7-reach --episodes "$eval_episodes" --out "$out/evaluation.json" --check
