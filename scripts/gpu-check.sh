#!/usr/bin/env bash
# The GPU check of geopose (docs/training.md, "Checking a GPU machine"): under ten
# minutes on one or more CUDA GPUs, one table at the end.
#
#   bash scripts/gpu-check.sh [OUT_DIR]      (or: make gpu-check)
#
# 1. the GPU-marked tests (pytest -m gpu);
# 2. with two or more GPUs: a 2-process torchrun train, then a 2-process predict --tar;
# 3. the loss of 300-step runs in bf16 and fp16 against fp32 (same data, seed, model);
# 4. the training and prediction speed benchmarks.
# Results go to OUT_DIR (default gpu-check-out/); the table also to OUT_DIR/table.md.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${1:-gpu-check-out}

if ! "$PY" - <<'PYEOF'
import sys
import torch
if torch.version.cuda is None and torch.version.hip is None:
    sys.exit(f"gpu-check: this torch ({torch.__version__}) is a CPU-only build; install a "
             "CUDA build of the same version to check a GPU machine")
if not torch.cuda.is_available():
    sys.exit("gpu-check: no CUDA device is visible here (torch.cuda.is_available() is "
             "False); run it on a machine with a GPU (nothing was checked)")
PYEOF
then
    exit 2
fi

mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())")
echo "gpu-check: $GPUS GPU(s); results in $OUT/" >&2

# Data: two synthetic cities, 256 px tiles.
"$PY" -m geopose synth "$OUT/data" --cities JAX,OMA --train-per-city 16 --test-per-city 4 \
    --size 256 --no-progress > "$OUT/synth.log" 2>&1 || { echo "gpu-check: synth failed" >&2; exit 1; }

# 1. The GPU-marked tests.
timeout 240 "$PY" -m pytest -p no:xdist -q -m gpu tests > "$OUT/pytest-gpu.log" 2>&1
echo $? > "$OUT/pytest-gpu.rc"

# 2. Two processes: train, then predict with --tar (the final barrier must not hang).
if [ "$GPUS" -ge 2 ]; then
    timeout 180 "$PY" -m torch.distributed.run --standalone --nproc_per_node 2 -m geopose train \
        --data "$OUT/data" --out "$OUT/ddp-run" --config tiny --no-progress \
        train.max_steps=20 train.batch_size=4 train.crop_size=128 train.workers=2 \
        train.group_timeout_s=120 > "$OUT/ddp-train.log" 2>&1
    echo $? > "$OUT/ddp-train.rc"
    timeout 120 "$PY" -m torch.distributed.run --standalone --nproc_per_node 2 -m geopose predict \
        --checkpoint "$OUT/ddp-run/checkpoints/last.safetensors" --data "$OUT/data" \
        --out "$OUT/ddp-predict" --tar --no-progress > "$OUT/ddp-predict.log" 2>&1
    echo $? > "$OUT/ddp-predict.rc"
fi

# 3. Loss curves: bf16 and fp16 against fp32.
timeout 240 "$PY" scripts/gpu_check.py curves "$OUT" > "$OUT/curves.log" 2>&1
echo $? > "$OUT/curves.rc"

# 4. Speed.
timeout 150 "$PY" benchmarks/train_speed.py --device cuda --presets tiny,b0-unet --size 256 \
    --batch 8 --steps 10 > "$OUT/train_speed.json" 2> "$OUT/train_speed.log"
echo $? > "$OUT/train_speed.rc"
timeout 150 "$PY" benchmarks/predict_speed.py --device cuda --preset b0-unet --size 512 \
    --precisions fp32,bf16,fp16 --json "$OUT/predict_speed.json" > "$OUT/predict_speed.log" 2>&1
echo $? > "$OUT/predict_speed.rc"

"$PY" scripts/gpu_check.py table "$OUT" | tee "$OUT/table.md"
