#!/bin/bash
# The 3D half's models (docs/3d.md, "Training"): the part segmenter of the 3D toy heads, then the tri-plane generator
# without links (the baseline) and with them, each from scratch for the same steps from the same seed (equal budgets),
# each exported with its link metrics over views (the baseline's on the linked model's axes and regions).
#
#   bash training/recipes/heads3d.sh segmenter   # -> runs/exports/heads3d64-segmenter
#   bash training/recipes/heads3d.sh baseline    # -> runs/h3-base, runs/exports/heads3d64-baseline
#   bash training/recipes/heads3d.sh linked      # -> runs/h3-linked, runs/exports/heads3d64-linked (with the segmenter)
#   bash training/recipes/heads3d.sh all         # the three in that order
#
# STEPS (default 20000) is where both generator runs stop; SEG_STEPS (4000) the segmenter's; EVAL_SEEDS (200) the
# faces the exported metrics read. STAGE_SECONDS=N stops a generator run after N seconds of training (checkpointed:
# the same command continues it) and still exports it. A stopped run continues with the same command (it resumes
# runs/NAME/checkpoint.pt). RUNS (default runs) moves every output; EXTRA adds overrides to both generator runs
# (e.g. a tiny config for a smoke run). On a lent GPU: training/recipes/gpu.sh h3-base h3-linked.
# Nothing here has been trained to the end yet: the settings are the 2D semantic recipe's, not tuned on 3D.
{   # one block: bash parses it whole before running, so editing this file while a stage trains is safe
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
# the card's re-create command names the settings that change the model (a run with EXTRA or its own STEPS)
CMD="${EXTRA:+EXTRA='${EXTRA//$'\n'/ }' }${STEPS:+STEPS=$STEPS }bash training/recipes/heads3d.sh $*"
THREADS=${THREADS:-2}
RUNS=${RUNS:-runs}
STEPS=${STEPS:-20000}
SEGMENTER=${SEGMENTER:-$RUNS/exports/heads3d64-segmenter}
COMMON3D="optim.batch_size=32 optim.ema_kimg=10 run.workers=3 run.ckpt_every=500 run.sample_every=1000
          run.eval_every=1000 run.eval_seeds=64"
# Eyes (with the glasses over them) and mouth, 64 axes each (the paper: "around 64 axes per linked region"), regions
# that follow their parts in every render. The regularizer moves axes by resampling them from other faces' w, on half
# the batch, with the 2D semantic recipe's weights (training/recipes/toyfaces64.sh, docs/linking.md).
LINKS3D='link.links=[{"name": "eyes", "axes": [0, 64], "parts": ["eyes", "glasses"], "follow": true, "attributes": ["eye_color", "eyes", "glasses"]}, {"name": "mouth", "axes": [64, 128], "parts": ["mouth"], "follow": true, "attributes": ["mouth"]}]'
LINK_SETTINGS3D="link.lambda_in=3 link.lambda_out=10 link.ramp_kimg=20 link.perturb=resample link.batch_shrink=2 link.adversarial_subset=true"

gan() {   # gan NAME EXPORT [overrides...]: train runs/NAME to STEPS (resuming it if stopped), export it as EXPORT
  local name=$1 export=$2; shift 2
  local args=(--out "$RUNS/$name" --threads "$THREADS")
  [ -f "$RUNS/$name/checkpoint.pt" ] && args+=(--resume)
  # shellcheck disable=SC2086  # COMMON3D and EXTRA are lists of words
  if [ -n "${STAGE_SECONDS:-}" ]; then   # SIGTERM: the trainer checkpoints and returns; timeout then exits 124
    timeout -s TERM "$STAGE_SECONDS" $PY training/train_gan3d.py "${args[@]}" $COMMON3D run.steps="$STEPS" "$@" \
      ${EXTRA:-} || [ $? -eq 124 ]
  else
    $PY training/train_gan3d.py "${args[@]}" $COMMON3D run.steps="$STEPS" "$@" ${EXTRA:-}
  fi
  local measure=()    # the baseline is measured on the linked model's axes and regions
  [ -f "$SEGMENTER/config.json" ] && measure=(--links "${LINKS3D#link.links=}" --segmenter "$SEGMENTER")
  # float16 weights: the zoo's size budget (checkpoints/ < 40 MB); the metrics are measured on the stored weights
  $PY training/export_gan3d.py --run "$RUNS/$name" --name "$export" --out-dir "$RUNS/exports" \
    --eval-seeds "${EVAL_SEEDS:-200}" --command "$CMD" --weights-dtype float16 "${measure[@]}"
}

segmenter() {
  [ -f "$SEGMENTER/config.json" ] && { echo "segmenter $SEGMENTER: trained, kept"; return; }
  $PY training/train_segmenter.py --data heads3d --out "$SEGMENTER" --steps "${SEG_STEPS:-4000}" --batch-size 32 \
    --threads "$THREADS" --eval-faces "${SEG_EVAL_FACES:-500}"
}

case "${1:-}" in
  segmenter) segmenter ;;
  baseline) gan h3-base heads3d64-baseline ;;
  linked) gan h3-linked heads3d64-linked "$LINKS3D" $LINK_SETTINGS3D run.segmenter="$SEGMENTER" ;;
  all)
    segmenter
    gan h3-base heads3d64-baseline
    gan h3-linked heads3d64-linked "$LINKS3D" $LINK_SETTINGS3D run.segmenter="$SEGMENTER" ;;
  *) echo "usage: $0 segmenter|baseline|linked|all" >&2; exit 2 ;;
esac
exit
}
