#!/bin/bash
# Re-creates the shipped 64 px toy-faces generators exactly as they were trained (stages, steps, settings).
#
#   bash training/recipes/toyfaces64.sh baseline    # -> checkpoints/toyfaces64-baseline
#   bash training/recipes/toyfaces64.sh linked      # -> checkpoints/toyfaces64-linked
#   bash training/recipes/toyfaces64.sh semantic    # the baseline fine-tuned with semantic links that follow their
#                                                   # parts (runs/sC), and the baseline for as many steps (runs/base4)
#   bash training/recipes/toyfaces64.sh variety     # the linked generator fine-tuned with those links and the variety
#                                                   # term (runs/sV), and the baseline at the same total (runs/base5)
#
# and trains one more stage from any weight set, exported with its metrics (not shipped: see the README):
#
#   bash training/recipes/toyfaces64.sh continue NAME FROM STEPS [overrides...]          # no links
#   bash training/recipes/toyfaces64.sh continue-linked NAME FROM STEPS [overrides...]   # the three links
#   e.g. continue-linked lM toyfaces64-linked 20000 link.lambda_out=300 -> runs/lM, runs/exports/lM
#   (a NAME of its own: the `linked` stages use runs/lB .. runs/lL, and a stage resumes a folder it finds)
#
# and builds what the app's text edits and photo inversion need for a generator folder, with the settings of the
# shipped ones (their cards): global directions, their per-prompt alpha / beta, the nine mappers and the encoder:
#
#   bash training/recipes/toyfaces64.sh zoo GENERATOR   # -> GENERATOR/styleclip/..., GENERATOR/encoder/
#   (MAPPER_STEPS, ENCODER_STEPS, DIRECTION_IMAGES, TUNE_SEEDS shrink it for a smoke run; a stopped zoo continues
#   with the same command: finished parts are kept, the directions and the encoder resume)
#
# FROM is a stage exported under runs/exports/ or any weight set (registry name, folder, Hub id).
# STAGE_SECONDS=N stops a stage after N seconds of training (checkpointed; the same command continues it) and
# still exports it: a fixed budget, such as one call on a lent GPU.
# Each stage is one train_gan.py run stopped at the step count the shipped model was stopped at, exported
# (EMA generator + discriminator) and fine-tuned by the next stage with --init. The baseline stages and lB-lD
# were trained on a lent H100 (about 9-12 steps/s per run, four runs sharing the GPU); lH, lJ and lL on a 2-core
# CPU (THREADS=2, run.workers=1), where the linked stages run at about 0.28 steps/s (9 images/s): 1-4 hours each.
# A stopped stage continues with the same command (it resumes from runs/NAME/checkpoint.pt).
{   # one block: bash parses it whole before running, so editing this file while a stage trains is safe
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
CMD="bash training/recipes/toyfaces64.sh $*"   # for the cards of the stages it exports
THREADS=${THREADS:-2}
BASELINE_INIT=${BASELINE_INIT:-checkpoints/toyfaces64-baseline}   # the semantic stages start from the baseline
COMMON="generator.noise=false optim.r1_gamma=1 optim.batch_size=32 optim.ema_kimg=10 run.workers=3
        run.ckpt_every=500 run.sample_every=1000 run.eval_every=1000 run.eval_seeds=64"
LINKS='link.links=[{"name": "eyes", "axes": [0, 32], "box": [0.25, 0.33, 0.75, 0.58]}, {"name": "mouth", "axes": [32, 64], "box": [0.35, 0.58, 0.65, 0.77]}, {"name": "hair", "axes": [64, 128], "label": 2}]'
# The semantic links: each owns the parts its factors draw (hair colour also colours brows and beard; glasses sit
# over the eyes), follows them when they change shape, and names the attributes the region-control metric reads.
# The regularizer moves axes by resampling them from other faces' w, on half the batch (docs/linking.md).
SEMANTIC='link.links=[{"name": "eyes", "axes": [0, 32], "parts": ["eyes", "glasses"], "follow": true, "attributes": ["eye_color", "eyes", "glasses"]}, {"name": "mouth", "axes": [32, 64], "parts": ["mouth"], "follow": true, "attributes": ["mouth"]}, {"name": "hair", "axes": [64, 128], "parts": ["hair", "brows", "beard"], "follow": true, "attributes": ["hair_color", "hair_style", "beard"]}]'
SEMANTIC_SETTINGS="link.lambda_in=3 link.lambda_out=10 link.ramp_kimg=20 link.perturb=resample link.batch_shrink=2 link.adversarial_subset=true"
# The variety term: a link's resample must change its region as much as two real faces differ there (docs/linking.md)
VARIETY="link.lambda_var=3"
# Discriminators of the eye and mouth boxes (linkgan.data.EYES_BOX, MOUTH_BOX), each read at 32 x 32 (docs/linking.md)
PARTS='parts.crops=[{"name": "eyes", "box": [0.25, 0.33, 0.75, 0.58], "size": 32}, {"name": "mouth", "box": [0.35, 0.58, 0.65, 0.77], "size": 32}]'

stage() {   # stage NAME STEPS INIT [overrides...]
  local name=$1 steps=$2 init=$3; shift 3
  local args=(--out runs/$name --threads "$THREADS")
  [ -n "$init" ] && [ -d "runs/exports/$init" ] && init=runs/exports/$init
  [ -n "$init" ] && args+=(--init "$init")
  [ -f runs/$name/checkpoint.pt ] && args+=(--resume)
  if [ -n "${STAGE_SECONDS:-}" ]; then   # SIGTERM: train_gan checkpoints and returns; timeout then exits 124
    timeout -s TERM "$STAGE_SECONDS" $PY training/train_gan.py "${args[@]}" $COMMON run.steps=$steps "$@" \
      || [ $? -eq 124 ]
  else
    $PY training/train_gan.py "${args[@]}" $COMMON run.steps=$steps "$@"
  fi
  $PY training/export_gan.py --run runs/$name --name $name --out-dir runs/exports --command "$CMD (stage $name)"
}

case "${1:-}" in
  baseline)
    stage base 5044 ""
    stage base2 4393 base
    stage base3 4660 base2
    $PY training/export_gan.py --run runs/base3 --name toyfaces64-baseline --earlier runs/base --earlier runs/base2 \
      --links-of checkpoints/toyfaces64-linked --command "bash training/recipes/toyfaces64.sh baseline" ;;
  linked)
    stage lB 3689 "" "$LINKS" link.lambda_in=10 link.lambda_out=30
    stage lB2 3179 lB "$LINKS" link.lambda_in=10 link.lambda_out=30
    stage lD 3472 lB2 "$LINKS" link.lambda_in=10 link.lambda_out=100
    stage lH 1266 lD "$LINKS" link.lambda_in=10 link.lambda_out=300
    stage lJ 4281 lH "$LINKS" link.lambda_in=10 link.lambda_out=300
    stage lL 921 lJ "$LINKS" link.lambda_in=10 link.lambda_out=300 optim.lr=0.001 optim.ema_kimg=20
    $PY training/export_gan.py --run runs/lL --name toyfaces64-linked --earlier runs/lB --earlier runs/lB2 \
      --earlier runs/lD --earlier runs/lH --earlier runs/lJ --command "bash training/recipes/toyfaces64.sh linked" ;;
  semantic)   # fine-tunes the baseline with the semantic links; the same steps without links give its equal-budget
              # baseline (stage base4). STEPS (default 4000) is where both stop.
    steps=${STEPS:-4000}
    stage sC "$steps" "$BASELINE_INIT" "$SEMANTIC" $SEMANTIC_SETTINGS run.workers=1 run.sample_every=250 \
      run.eval_every=500
    stage base4 "$steps" "$BASELINE_INIT" run.workers=1 ;;
  variety)   # the shipped linked generator fine-tuned with the semantic links and the variety term (runs/sV), and
             # the baseline continued to the same total step count (runs/base5: the linked lineage's 16,808 steps plus
             # STEPS, against the baseline's 14,097 plus the difference). STEPS (default 4000) is where sV stops.
    steps=${STEPS:-4000}
    stage sV "$steps" "${LINKED_INIT:-checkpoints/toyfaces64-linked}" "$SEMANTIC" $SEMANTIC_SETTINGS $VARIETY \
      run.workers=1 run.sample_every=250 run.eval_every=250
    stage base5 $((steps + 16808 - 14097)) "$BASELINE_INIT" run.workers=1 ;;
  continue|continue-linked)
    [ $# -ge 4 ] || { echo "usage: $0 $1 NAME FROM STEPS [overrides...]" >&2; exit 2; }
    kind=$1 name=$2 from=$3 steps=$4
    shift 4
    if [ "$kind" = continue-linked ]; then set -- "$LINKS" "$@"; fi
    stage "$name" "$steps" "$from" "$@" ;;
  zoo)
    [ $# -eq 2 ] || { echo "usage: $0 zoo GENERATOR (a stage under runs/exports/ or a generator folder)" >&2; exit 2; }
    gen=$2
    [ -d "runs/exports/$gen" ] && gen=runs/exports/$gen
    [ -f "$gen/config.json" ] || { echo "$0: no generator folder $gen" >&2; exit 2; }
    sc=$gen/styleclip enc_run=runs/encoder-$(basename "$gen")
    # a stopped zoo continues where it stopped: finished parts are kept, the directions and the encoder resume
    if [ ! -f "$sc/global_directions.safetensors" ]; then
      rm -f "$sc/global_prompts.json"
      $PY training/compute_directions.py --generator "$gen" --out "$sc/global_directions.safetensors" \
        --n-images "${DIRECTION_IMAGES:-40}" --threads "$THREADS"
    fi
    [ -f "$sc/global_prompts.json" ] ||
      $PY training/tune_directions.py --generator "$gen" --seeds "${TUNE_SEEDS:-60}" --threads "$THREADS"
    names=$($PY -c 'from linkgan.styleclip import ZOO_PROMPTS; print(*(z.name for z in ZOO_PROMPTS))')
    for name in $names; do   # each with its prompt's text, region, weights and groups (linkgan.styleclip.ZOO_PROMPTS)
      if $PY -c 'import json, sys; c = json.load(open(sys.argv[1])); sys.exit(c["steps_done"] != int(sys.argv[2]))' \
          "$sc/mappers/$name/config.json" "${MAPPER_STEPS:-1000}" 2>/dev/null; then
        echo "mapper $name: trained, kept"; continue
      fi
      $PY training/train_mapper.py --generator "$gen" --zoo "$name" --out "$sc/mappers/$name" \
        --steps "${MAPPER_STEPS:-1000}" --fp16 --threads "$THREADS"
    done
    resume=()
    [ -f "$enc_run/checkpoint.pt" ] && resume=(--resume)
    $PY training/train_encoder.py --generator "$gen" --out "$enc_run" "${resume[@]}" --threads "$THREADS" --half \
      run.steps="${ENCODER_STEPS:-3000}" 'optim.lpips="alex"'
    rm -rf "$gen/encoder" && cp -r "$enc_run/encoder" "$gen/encoder" ;;
  *) echo "usage: $0 baseline|linked|semantic|variety|continue|continue-linked|zoo" >&2; exit 2 ;;
esac
exit
}
