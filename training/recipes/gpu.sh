#!/bin/bash
# Several training configurations at once on one lent GPU, within a fixed time budget, for a session that has a
# GPU for a few minutes: each run checkpoints when its time is up (SIGTERM), and its run folder (checkpoint.pt,
# config.json, log.jsonl, sample sheets) is copied to $OUT so that the CPU machine resumes or exports it
# (`bash training/recipes/toyfaces64.sh semantic` resumes runs/sC and runs/base4 where they stopped).
#
#   OUT=/tmp/gpu BUDGET=420 bash training/recipes/gpu.sh              # the default set below
#   OUT=/tmp/gpu BUDGET=420 bash training/recipes/gpu.sh sC base4     # some of them
#
# A run folder already under runs/ (carried from the CPU machine) is resumed, not restarted. Small runs leave
# most of an H100 idle, so the runs share it (about 9-12 steps/s each with four at once).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
OUT=${OUT:?set OUT to the folder the run folders are copied to}
BUDGET=${BUDGET:-420}
source <(sed -n '/^SEMANTIC=/p; /^SEMANTIC_SETTINGS=/p' training/recipes/toyfaces64.sh)
INIT=${BASELINE_INIT:-checkpoints/toyfaces64-baseline}
COMMON="generator.noise=false optim.r1_gamma=1 optim.batch_size=32 optim.ema_kimg=10 run.workers=3 run.steps=100000
        run.ckpt_every=500 run.sample_every=1000 run.eval_every=1000 run.eval_seeds=64"

config() {   # config NAME: sets OVERRIDES to that run's settings
  case "$1" in
    sC) OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS) ;;                             # the recipe's semantic links
    sC-out30) OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS link.lambda_out=30) ;;    # a stronger outside term
    sC-noise) OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS link.perturb=noise) ;;    # the paper's perturbation
    base4) OVERRIDES=() ;;                                                        # the equal-budget baseline
    *) echo "unknown configuration $1" >&2; exit 2 ;;
  esac
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(sC sC-out30 sC-noise base4)
mkdir -p "$OUT" runs
pids=()
for name in "${names[@]}"; do
  config "$name"
  args=(--out "runs/$name")
  if [ -f "runs/$name/checkpoint.pt" ]; then args+=(--resume); else args+=(--init "$INIT"); fi
  # shellcheck disable=SC2086  # COMMON is a list of words
  (timeout -s TERM "$BUDGET" $PY training/train_gan.py "${args[@]}" $COMMON "${OVERRIDES[@]}" > "$OUT/$name.log" 2>&1 \
    || [ $? -eq 124 ]) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || echo "a run failed: see $OUT/*.log" >&2; done
for name in "${names[@]}"; do
  mkdir -p "$OUT/$name"
  cp runs/"$name"/{checkpoint.pt,config.json,log.jsonl} "$OUT/$name/" 2>/dev/null || true
  cp runs/"$name"/samples_*.png "$OUT/$name/" 2>/dev/null || true
done
ls -la "$OUT"/*
