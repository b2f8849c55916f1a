#!/usr/bin/env bash
# One session on the GPU machine: both benchmarks, then the CUDA checks; logs go to $OUT.
# Carry .whl (python3 ../shared/tools/device-wheels.py -d .whl pydantic mlflow-skinny
# sqlalchemy alembic medmnist modAL-python) and .gpu_data (a copy of breastmnist.npz).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
python3 benchmarks/augment_throughput.py --device cuda 2>&1 | tee "$OUT/augment_throughput.log"
python3 benchmarks/query_speed.py --device cuda 2>&1 | tee "$OUT/query_speed.log"
python3 benchmarks/cuda_checks.py --data .gpu_data --out /tmp/checks 2>&1 | tee "$OUT/cuda_checks.log"
