#!/usr/bin/env bash
# One prepared run on a lent GPU machine (see /work/.library/device): the shipped writer's whole recipe
# (pretrained/README.md, "The writer") for a wider writer, in one call of under 10 minutes: the Gutenberg
# Poetry Corpus pretraining (`word_writer train`), then its verse in measure, then its lines that rhyme
# (`word_writer finetune --decay`), each stage's model returned in $OUT as half-precision parts under 16 MiB
# as soon as it exists, so a call cut short still brings back what it finished.
#
# Here, before the call: mkdir -p .gpu && cp ../shared/corpora/gutenberg_poetry.txt.gz .gpu/ and ignore .gpu
# (echo /.gpu/ >> .git/info/exclude); the call carries .gpu:
#     run(command="bash benchmarks/device/writer_recipe_gpu.sh", carry=[".gpu"], timeout_s=600)
# Then here (each stage in its own folder of FILES): python -m benchmarks.word_writer join FILES/rhymed/*.safetensors --out W.safetensors,
# `word_writer heldout W.safetensors ...` and the blind pass (benchmarks/bench_readability.py) against the
# shipped writer; `word_writer ship W.safetensors` if it wins. The settings (seconds of each stage, width, batch,
# rates) are the environment's: PRETRAIN_S, METRED_S, RHYMED_S, HIDDEN, BATCH, LR, FT_BATCH, METRED_LR, RHYMED_LR.
# Without a GPU the same script runs on the CPU: SMOKE=1 (no separate smoke run) with a few seconds a stage, a small
# width and CORPUS=sonnets VAL_CHARS=20000 POETRY_LAB_CORPORA=../shared/corpora DATA=/tmp/w checks it end to end.
set -u
export POETRY_LAB_CORPORA="${POETRY_LAB_CORPORA:-$PWD/.gpu}" PYTHONUNBUFFERED=1
PRETRAIN_S=${PRETRAIN_S:-300} METRED_S=${METRED_S:-75} RHYMED_S=${RHYMED_S:-60}
HIDDEN=${HIDDEN:-1024} BATCH=${BATCH:-256} LR=${LR:-3e-3} FT_BATCH=${FT_BATCH:-128}
METRED_LR=${METRED_LR:-3e-4} RHYMED_LR=${RHYMED_LR:-2e-4} OUT=${OUT:-/tmp/out} SMOKE=${SMOKE:-0}
CORPUS=${CORPUS:-gutenberg_poetry} VAL_CHARS=${VAL_CHARS:-1000000} DATA=${DATA:-$PWD/.gpu/word}
W="python3 -m benchmarks.word_writer"
mkdir -p "$OUT" "$DATA"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
[ -f "$DATA/train.npy" ] || $W prep --data "$DATA" --corpus "$CORPUS" --val-chars "$VAL_CHARS" > "$OUT/prep.log" 2>&1 || { echo "prep failed"; tail "$OUT/prep.log"; exit 1; }
stamp "prepared"
# The fine-tunes' texts are cut on the CPU while the GPU pretrains.
C="--corpus $CORPUS --val-chars $VAL_CHARS"
[ -f "$DATA/metred.txt.gz" ] || $W metred $C --out "$DATA/metred.txt.gz" > "$OUT/metred_text.log" 2>&1 &
[ -f "$DATA/rhymed.txt.gz" ] || $W metred $C --rhymed --out "$DATA/rhymed.txt.gz" > "$OUT/rhymed_text.log" 2>&1 &
rm -f "$DATA/word.resume.pt" "$DATA/word.safetensors"  # a fresh pretraining of this width, not an earlier run's
if [ "$SMOKE" = 0 ]; then  # 20 steps first: a broken setup fails in a minute, not at the end
  mkdir -p /tmp/smoke && ln -sf "$DATA"/vocab.json "$DATA"/train.npy "$DATA"/val.npy /tmp/smoke/
  $W train --data /tmp/smoke --max-steps 20 --minutes 1 --eval-every 5 --batch "$BATCH" --hidden "$HIDDEN" \
      > "$OUT/smoke.log" 2>&1 || { echo "smoke run failed"; tail "$OUT/smoke.log"; exit 1; }
  stamp "smoke run passed"
fi
$W train --data "$DATA" --minutes "$(python3 -c "print($PRETRAIN_S / 60)")" --batch "$BATCH" --lr "$LR" --hidden "$HIDDEN" \
    --eval-every 60 --threads 8 > "$OUT/train.log" 2>&1 || { echo "pretraining failed"; tail "$OUT/train.log"; }
[ -f "$DATA/word.safetensors" ] || { echo "no pretrained model"; tail "$OUT/train.log"; exit 1; }
mkdir -p "$OUT/pretrained" && $W split "$DATA/word.safetensors" --out "$OUT/pretrained" > /dev/null
stamp "pretrained: $(grep EVAL "$OUT/train.log" | tail -n 1 | cut -c1-160)"
wait  # the texts
previous="$DATA/word.safetensors"
for stage in metred rhymed; do
  seconds=$([ $stage = metred ] && echo "$METRED_S" || echo "$RHYMED_S")
  lr=$([ $stage = metred ] && echo "$METRED_LR" || echo "$RHYMED_LR")
  $W finetune --model "$previous" --corpus "$DATA/$stage.txt.gz" --seconds "$seconds" --lr "$lr" --decay --batch "$FT_BATCH" \
      --out "$DATA/$stage.safetensors" --data "$DATA" --threads 8 > "$OUT/$stage.log" 2>&1 || { echo "$stage failed"; tail "$OUT/$stage.log"; exit 1; }
  mkdir -p "$OUT/$stage" && $W split "$DATA/$stage.safetensors" --out "$OUT/$stage" > /dev/null
  stamp "$stage: $(tail -n 1 "$OUT/$stage.log")"
  previous="$DATA/$stage.safetensors"
done
ls -laR "$OUT"
