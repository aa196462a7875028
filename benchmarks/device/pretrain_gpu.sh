#!/usr/bin/env bash
# One prepared run on a lent GPU machine (see /work/.library/device): the forward and backward poetry
# bases trained side by side on one GPU, each writing its best model and card to $OUT at every
# improvement (so whatever the time limit cuts off, the best so far comes back).
#
# Here, before the call: mkdir -p .gpu && cp ../shared/corpora/gutenberg_poetry.txt.gz .gpu/ and ignore
# .gpu (echo /.gpu/ >> .git/info/exclude); the call carries .gpu. Settings: MINUTES, HIDDEN, BATCH, LR,
# DIRECTIONS ("forward backward"), FROM (a folder holding base_<direction>.safetensors to go on
# training), SMOKE=0 to skip the smoke run.
set -u
export POETRY_LAB_CORPORA="$PWD/.gpu" PYTHONUNBUFFERED=1
MINUTES=${MINUTES:-6} HIDDEN=${HIDDEN:-512} BATCH=${BATCH:-256} LR=${LR:-4e-3} OUT=${OUT:-/tmp/out}
DIRECTIONS=${DIRECTIONS:-forward backward} FROM=${FROM:-} SMOKE=${SMOKE:-1}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
# 20 steps on a 2 M-character slice first: a broken setup fails in a minute, not at the end.
[ "$SMOKE" = 0 ] || python3 -m poetry_lab pretrain gutenberg_poetry --max-chars 2000000 --val-chars 100000 --max-steps 20 \
    --hidden "$HIDDEN" --batch "$BATCH" --eval-every 1 --out /tmp/smoke.safetensors || { echo "smoke run failed"; exit 1; }
for direction in $DIRECTIONS; do
  start=(); [ -n "$FROM" ] && start=(--from "$FROM/base_$direction.safetensors")
  python3 -m poetry_lab pretrain gutenberg_poetry --direction "$direction" --minutes "$MINUTES" --hidden "$HIDDEN" "${start[@]}" \
      --batch "$BATCH" --seq-len 128 --lr "$LR" --warmup 300 --eval-every 40 \
      --out "$OUT/base_$direction.safetensors" > "$OUT/$direction.log" 2>&1 &
done
wait
for direction in $DIRECTIONS; do tail -n 4 "$OUT/$direction.log"; done
