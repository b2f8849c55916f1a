#!/usr/bin/env bash
# Short GPU-machine call for the CUDA-graph training step: the throughput table (eager and
# graphed rows side by side, TrivialAugment and RandAugment(2,30), the study's pipeline) and
# the graph/sync checks. About 5 minutes on an H100/H200. Carry .whl as for gpu_session.sh.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
python3 benchmarks/cuda_checks.py --only graph,sync --out /tmp/checks 2>&1 | tee "$OUT/cuda_graph_checks.log"
python3 benchmarks/augment_throughput.py --device cuda --policies 'trivialaugment,randaugment(2,30)' \
  2>&1 | tee "$OUT/augment_throughput_graph.log"
