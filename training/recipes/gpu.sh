#!/bin/bash
# Several training configurations at once on one lent GPU, within a fixed time budget, for a session that has a
# GPU for a few minutes: each run checkpoints when its time is up (SIGTERM), and its run folder (checkpoint.pt,
# config.json, log.jsonl, sample sheets) is copied to $OUT so that the CPU machine resumes or exports it
# (`bash training/recipes/toyfaces64.sh variety` resumes runs/sV and runs/base5 where they stopped; any run folder
# continues with `python training/train_gan.py --out runs/NAME --resume`, its settings read from the folder).
#
#   OUT=/tmp/gpu BUDGET=420 bash training/recipes/gpu.sh              # the default set below
#   OUT=/tmp/gpu BUDGET=420 bash training/recipes/gpu.sh sV base5     # some of them
#   OUT=/tmp/gpu BUDGET=420 bash training/recipes/gpu.sh h3-base h3-linked   # the 3D pair (training/recipes/heads3d.sh)
#
# A run folder already under runs/ (carried from the CPU machine) is resumed, not restarted; a name that is not one
# of the configurations below resumes the 2D run folder runs/NAME with its own settings. Small runs leave
# most of an H100 idle, so the runs share it (about 9-12 steps/s each with four at once).
# The 3D runs start from scratch with train_gan3d.py; h3-linked needs the 3D heads' segmenter, carried from the CPU
# machine (runs/exports/heads3d64-segmenter: `bash training/recipes/heads3d.sh segmenter`) or named by SEGMENTER.
# Both stop at H3_STEPS (heads3d.sh's STEPS, 20000), so a pair that reaches it was trained at equal budgets; one that
# stops for the time budget continues with heads3d.sh (it resumes runs/h3-*). EXTRA adds overrides to every run
# (e.g. a tiny config for a smoke run).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
OUT=${OUT:?set OUT to the folder the run folders are copied to}
BUDGET=${BUDGET:-420}
source <(sed -n '/^SEMANTIC=/p; /^SEMANTIC_SETTINGS=/p; /^VARIETY=/p; /^PARTS=/p' training/recipes/toyfaces64.sh)
source <(sed -n '/^LINKS3D=/p; /^LINK_SETTINGS3D=/p' training/recipes/heads3d.sh)
SEGMENTER=${SEGMENTER:-runs/exports/heads3d64-segmenter}
H3_STEPS=${H3_STEPS:-20000}
INIT=${BASELINE_INIT:-checkpoints/toyfaces64-baseline}
COMMON="generator.noise=false optim.r1_gamma=1 optim.batch_size=32 optim.ema_kimg=10 run.workers=3 run.steps=100000
        run.ckpt_every=500 run.sample_every=1000 run.eval_every=1000 run.eval_seeds=64"

aligned() {   # aligned WEIGHT [ROUNDS]: the baseline with W aligned to the semantic links (made once; its folder printed)
  local out=runs/exports/aligned-ow$1${2:+-r$2}
  [ -f "$out/config.json" ] || $PY training/align_links.py --generator "$INIT" --links "${SEMANTIC#link.links=}" \
    --out "$out" --outside-weight "$1" --rounds "${2:-0}" >&2 || return 1
  echo "$out"
}

config() {   # config NAME: sets OVERRIDES to its settings, SCRIPT to its trainer and START to its init ("": none)
  SCRIPT=training/train_gan.py START=$INIT
  case "$1" in
    sV) START=${LINKED_INIT:-checkpoints/toyfaces64-linked}                        # the linked generator, with the
      OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS $VARIETY) ;;                       #   semantic links and variety term
    sV-in10) START=${LINKED_INIT:-checkpoints/toyfaces64-linked}                   # the same, a stronger inside term
      OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS $VARIETY link.lambda_in=10) ;;
    sV-part) START=${LINKED_INIT:-checkpoints/toyfaces64-linked}                   # the variety term per part, a
      OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS $VARIETY link.variety_per_part=true  #   stronger inside and outside
                 link.lambda_in=10 link.lambda_out=30) ;;
    sV-colour) START=${LINKED_INIT:-checkpoints/toyfaces64-linked}                 # the same, the variety measured
      OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS $VARIETY link.variety_per_part=true  #   on each part's mean colour
                 link.lambda_in=10 link.lambda_out=30 link.variety_measure=colour) ;;
    sV-parts) START=${LINKED_INIT:-checkpoints/toyfaces64-linked}                  # the colour run with
      OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS $VARIETY link.variety_per_part=true  #   discriminators of the
                 link.lambda_in=10 link.lambda_out=30 link.variety_measure=colour "$PARTS") ;;  # eyes and mouth
    bP) config sV-parts; START=$INIT ;;                                          # the baseline with sV-parts' terms
    bP-root) config bP; OVERRIDES+=(link.variety_root=true) ;;                    # the same, the variety term on the
                                                                                  #   root of each pair's change
    bP-slow) config bP; OVERRIDES+=(link.ramp_kimg=100) ;;                        # the same, the link terms grown
                                                                                  #   over 100 kimg instead of 20
    bP-slower) config bP; OVERRIDES+=(link.ramp_kimg=300) ;;                      # over 300 kimg
    bP-slow-var) config bP-slow; OVERRIDES+=(link.ramp_variety=false) ;;          # bP-slow with the variety term
                                                                                  #   at full weight from the start
    aA3) START=$(aligned 3) || exit 2                                             # the baseline with W aligned to
      OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS $VARIETY link.ramp_variety=false) ;;  # the links (outside weight 3)
    aM3) config aA3; OVERRIDES+=(optim.mapping_lr_mul=10) ;;                      # the same, the mapping network
                                                                                  #   learning 10x faster
    aR3) config aA3; START=$(aligned 3 3) || exit 2 ;;                            # aA3 from the alignment with
                                                                                  #   3 rounds
    aV3) config aA3; OVERRIDES+=(link.ramp_variety=true) ;;                       # aA3 with the variety term ramped
                                                                                  #   with the others
    aL10) START=$(aligned 10) || exit 2                                           # local links (outside weight
      OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS $VARIETY) ;;                      #   10), the variety term ramped
    base5) OVERRIDES=() ;;                                                        # the baseline at the same total
    sC) OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS) ;;                             # the recipe's semantic links
    sC-out30) OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS link.lambda_out=30) ;;    # a stronger outside term
    sC-noise) OVERRIDES=("$SEMANTIC" $SEMANTIC_SETTINGS link.perturb=noise) ;;    # the paper's perturbation
    base4) OVERRIDES=() ;;                                                        # the equal-budget baseline
    h3-base) SCRIPT=training/train_gan3d.py START="" OVERRIDES=(run.steps="$H3_STEPS") ;;   # 3D, from scratch
    h3-linked) SCRIPT=training/train_gan3d.py START=""                            # the 3D links, the same budget
      [ -f "$SEGMENTER/config.json" ] || { echo "h3-linked needs the 3D segmenter at $SEGMENTER" >&2; exit 2; }
      OVERRIDES=(run.steps="$H3_STEPS" "$LINKS3D" $LINK_SETTINGS3D run.segmenter="$SEGMENTER") ;;
    *) [ -f "runs/$1/checkpoint.pt" ] || { echo "unknown configuration $1 (and no run folder runs/$1 to resume)" >&2
                                            exit 2; }
      OVERRIDES=() ;;                          # any other run folder carried here resumes with its own settings
  esac
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(aA3 aR3 aV3 base5)
for name in "${names[@]}"; do config "$name"; done   # every name known, and what it needs there, before any run starts
mkdir -p "$OUT" runs
pids=()
for name in "${names[@]}"; do
  config "$name"
  args=(--out "runs/$name")
  if [ -f "runs/$name/checkpoint.pt" ]; then args+=(--resume); elif [ -n "$START" ]; then args+=(--init "$START"); fi
  # shellcheck disable=SC2086  # COMMON is a list of words
  (timeout -s TERM "$BUDGET" $PY "$SCRIPT" "${args[@]}" $COMMON "${OVERRIDES[@]}" ${EXTRA:-} > "$OUT/$name.log" 2>&1 \
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
