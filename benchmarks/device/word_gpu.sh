#!/usr/bin/env bash
# One prepared run on a lent GPU machine (see /work/.library/device): the word-level writer of
# benchmarks/word_writer.py trained on the Gutenberg Poetry Corpus, its best model (and the resume
# checkpoint) written to $OUT at every evaluation, so whatever the time limit cuts off comes back.
#
# Here, before the call: mkdir -p .gpu && cp ../shared/corpora/gutenberg_poetry.txt.gz .gpu/ and ignore
# .gpu (echo /.gpu/ >> .git/info/exclude); the call carries .gpu (the corpus is 49 MB of the 64 MiB a call
# may carry, so the tokenised data is made there). Settings: MINUTES, BATCH, LR, HIDDEN.
set -u
export POETRY_LAB_CORPORA="$PWD/.gpu" PYTHONUNBUFFERED=1
MINUTES=${MINUTES:-8} BATCH=${BATCH:-128} LR=${LR:-3e-3} HIDDEN=${HIDDEN:-768} OUT=${OUT:-/tmp/out}
DATA="$PWD/.gpu/word"
mkdir -p "$OUT" "$DATA"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
[ -f "$DATA/train.npy" ] || python3 -m benchmarks.word_writer prep --data "$DATA" || { echo "prep failed"; exit 1; }
# 20 steps first, in a folder of its own (links to the same data): a broken setup fails in a minute, not at the end.
mkdir -p /tmp/smoke && ln -sf "$DATA"/vocab.json "$DATA"/train.npy "$DATA"/val.npy /tmp/smoke/
python3 -m benchmarks.word_writer train --data /tmp/smoke --max-steps 20 --minutes 1 --eval-every 5 --batch "$BATCH" \
    --hidden "$HIDDEN" > "$OUT/smoke.log" 2>&1 || { echo "smoke run failed"; tail "$OUT/smoke.log"; exit 1; }
python3 -m benchmarks.word_writer train --data "$DATA" --minutes "$MINUTES" --batch "$BATCH" --lr "$LR" --hidden "$HIDDEN" \
    --eval-every 60 > "$OUT/train.log" 2>&1 &
pid=$!
# Files come back at most 16 MiB each: the best model as three half-precision parts, refreshed as it improves
# (join them here with `python -m benchmarks.word_writer join word.part*.safetensors --out word.safetensors`).
# The optimizer's checkpoint (100 MB) stays behind: a later run goes on from the weights.
while kill -0 $pid 2>/dev/null; do
  sleep 30; [ -f "$DATA/word.safetensors" ] && python3 -m benchmarks.word_writer split "$DATA/word.safetensors" --out "$OUT"
done
[ -f "$DATA/word.safetensors" ] && python3 -m benchmarks.word_writer split "$DATA/word.safetensors" --out "$OUT"
ls -la "$OUT"; tail -n 3 "$OUT/train.log"
