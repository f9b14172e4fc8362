#!/usr/bin/env bash
# Two default trainings side by side, one core each, the same seed and wall-clock budget, then both scored the same
# way (ganstudio eval --n 10000 with the shipped classifier) and a 12x12 grid of each. docs/models.md, "Round two".
#
#   benchmarks/pair.sh OUT SEED NAME_A "TRAIN ARGS A" NAME_B "TRAIN ARGS B"
#   benchmarks/pair.sh /tmp/r2 0 acg1 "--model-option ac_g=1" tac1 "--model-option tac=1"
#   PYTHONPATH_A=/tmp/old benchmarks/pair.sh /tmp/r2 0 old "" new ""     # A runs another checkout's code
#
# MINUTES (default 10) and DATA (default fashion) change the budget and the dataset. WHOLE=1 runs A, then B, each on
# the whole machine (every core, torch's own thread count: what `ganstudio train` does), for what the second core
# buys; run it on a quiet machine and swap A and B for the next seed, so a drifting host favours neither. With
# WHOLE=1, ONE_CORE=A (or B) gives that run one core (taskset -c 0, one thread) and leaves the other idle: one core
# against the whole machine. SNAPSHOTS="10 20" (side by side only) copies both runs' folders at those minutes of
# wall time (as NAME-sSEED-10m: the last checkpoint saved by then) and scores the copies too. Asserts nothing.
set -euo pipefail
if [[ $# != 6 ]]; then
  echo "usage: benchmarks/pair.sh OUT SEED NAME_A \"TRAIN ARGS A\" NAME_B \"TRAIN ARGS B\" (ARGS may be \"\")" >&2
  exit 2
fi
if [[ ! ${SNAPSHOTS:-} =~ ^[0-9\ ]*$ ]]; then
  echo "benchmarks/pair.sh: SNAPSHOTS takes whole minutes, e.g. SNAPSHOTS=\"10 20\" (got \"$SNAPSHOTS\")" >&2
  exit 2
fi
if [[ ${WHOLE:-0} == 1 && -n ${SNAPSHOTS:-} ]]; then
  echo "benchmarks/pair.sh: SNAPSHOTS needs the runs side by side; leave out WHOLE=1" >&2
  exit 2
fi
OUT=$1 SEED=$2 NAME_A=$3 ARGS_A=$4 NAME_B=$5 ARGS_B=$6
PY=${PYTHON:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}
MINUTES=${MINUTES:-10} DATA=${DATA:-fashion}
mkdir -p "$OUT" && cd "$OUT"
COMMON=(train --data "$DATA" --minutes "$MINUTES" --seed "$SEED" --callbacks log,grid --overwrite
        --checkpoints-dir "$OUT/checkpoints" --samples-dir "$OUT/samples")
ONE_CORE_0=(env OMP_NUM_THREADS=1 taskset -c 0) ONE_CORE_1=(env OMP_NUM_THREADS=1 taskset -c 1)

# train NAME "ARGS" PYTHONPATH [PREFIX...]: one training, its output in NAME-sSEED.log; PREFIX pins it (taskset)
train() {
  local name=$1 args=$2 path=$3
  shift 3
  # shellcheck disable=SC2086  # the ARGS are word lists on purpose
  PYTHONPATH=$path "$@" "$PY" -P -m ganstudio "${COMMON[@]}" --name "$name-s$SEED" $args > "$name-s$SEED.log" 2>&1
}

if [[ ${WHOLE:-0} == 1 ]]; then  # ONE_CORE=A (or B): that run gets one core and one thread, the other core idle
  ONE_A=() ONE_B=()
  [[ ${ONE_CORE:-} == A ]] && ONE_A=("${ONE_CORE_0[@]}")
  [[ ${ONE_CORE:-} == B ]] && ONE_B=("${ONE_CORE_0[@]}")
  train "$NAME_A" "$ARGS_A" "${PYTHONPATH_A:-}" "${ONE_A[@]}"
  train "$NAME_B" "$ARGS_B" "${PYTHONPATH_B:-}" "${ONE_B[@]}"
else
  train "$NAME_A" "$ARGS_A" "${PYTHONPATH_A:-}" "${ONE_CORE_0[@]}" &
  train "$NAME_B" "$ARGS_B" "${PYTHONPATH_B:-}" "${ONE_CORE_1[@]}" &
  started=$SECONDS
  for minute in ${SNAPSHOTS:-}; do  # the runs save at every epoch's end; a copy holds the last save before now
    wait_s=$(( started + minute * 60 + 20 - SECONDS ))
    (( wait_s > 0 )) && sleep "$wait_s"
    for run in "$NAME_A-s$SEED" "$NAME_B-s$SEED"; do
      rm -rf "$OUT/checkpoints/$run-${minute}m"
      cp -r "$OUT/checkpoints/$run" "$OUT/checkpoints/$run-${minute}m"
    done
  done
  wait
fi
RUNS=()
for minute in ${SNAPSHOTS:-}; do RUNS+=("$NAME_A-s$SEED-${minute}m" "$NAME_B-s$SEED-${minute}m"); done
for run in "${RUNS[@]}"; do
  "$PY" -P -m ganstudio eval "$run" --checkpoints-dir "$OUT/checkpoints" --n 10000 --json > "eval-$run.json"
done
for run in "$NAME_A-s$SEED" "$NAME_B-s$SEED"; do
  "$PY" -P -m ganstudio eval "$run" --checkpoints-dir "$OUT/checkpoints" --n 10000 --json > "eval-$run.json"
  "$PY" -P -m ganstudio sample "$run" --checkpoints-dir "$OUT/checkpoints" --n 144 --seed 0 --overwrite \
      --out "$OUT/grid-$run.png" > /dev/null
  tail -n 1 "$run.log"
done
