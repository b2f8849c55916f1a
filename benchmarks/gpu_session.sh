#!/usr/bin/env bash
# One call on the GPU machine; logs go to $OUT.
#   gpu_session.sh        both benchmarks, then every CUDA check (about 10 min)
#   gpu_session.sh graph  the fast training step: the throughput table with TrivialAugment and
#                         RandAugment(2,30) (eager, CUDA graph, graph + compiled model), the CUDA
#                         tests of tests/unit/test_train.py, then the graph, compile, sync and
#                         precision checks (at most 9 min; about 4)
#   gpu_session.sh cohorts  the CUDA tests, the graph and sync checks (cohorts included) and the
#                         per-step breakdown of a cohort round (benchmarks/cohort_step.py)
#                         (at most 5 min; about 3)
#   gpu_session.sh grid   the 27-cell BreastMNIST grid three ways (benchmarks/grid_throughput.py),
#                         then the cohort store's baselines and report (docs/grid_breastmnist),
#                         as $OUT/grid_breastmnist_report.tgz (at most 9.5 min; 178 s of it is the
#                         27 processes)
# Carry .whl (python3 ../shared/tools/device-wheels.py -d .whl pydantic mlflow-skinny
# sqlalchemy alembic medmnist modAL-python) and .gpu_data (a copy of breastmnist.npz).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
if [ "${1:-all}" = cohorts ]; then
  timeout 100 python3 -m pytest -q -p no:cacheprovider tests/unit/test_train.py -k cuda 2>&1 \
    | tee "$OUT/cuda_tests.log"
  timeout 120 python3 benchmarks/cuda_checks.py --only graph,sync --out /tmp/checks 2>&1 \
    | tee "$OUT/cuda_checks_cohorts.log"
  timeout 150 python3 benchmarks/cohort_step.py 2>&1 | tee "$OUT/cohort_step.log"
  exit
fi
if [ "${1:-all}" = grid ]; then
  timeout 480 python3 benchmarks/grid_throughput.py --data .gpu_data --keep /tmp/keep 2>&1 \
    | tee "$OUT/grid_throughput.log"
  store=sqlite:////tmp/keep/cohorts.db
  timeout 60 python3 -m al4ml.cli baseline experiments/grid_breastmnist.yaml --no-progress \
    --set dataset.root="$(realpath .gpu_data)" --tracking-uri $store > "$OUT/baselines.log" 2>&1
  timeout 30 python3 -m al4ml.cli report grid_breastmnist --tracking-uri $store --target 0.85 \
    --out /tmp/grid_breastmnist > "$OUT/report.log" 2>&1
  tar czf "$OUT/grid_breastmnist_report.tgz" -C /tmp grid_breastmnist
  exit
fi
if [ "${1:-all}" = graph ]; then
  # The goal's table first; every step has its own time limit so a hang loses only itself.
  timeout 270 python3 benchmarks/augment_throughput.py --device cuda --compile \
    --policies 'trivialaugment,randaugment(2,30)' 2>&1 | tee "$OUT/augment_throughput_graph.log"
  timeout 90 python3 -m pytest -q -p no:cacheprovider tests/unit/test_train.py -k cuda 2>&1 \
    | tee "$OUT/cuda_tests.log"
  timeout 180 python3 benchmarks/cuda_checks.py --only graph,compile,sync,precision --out /tmp/checks \
    2>&1 | tee "$OUT/cuda_graph_checks.log"
  exit
fi
python3 benchmarks/augment_throughput.py --device cuda --compile 2>&1 | tee "$OUT/augment_throughput.log"
python3 benchmarks/query_speed.py --device cuda 2>&1 | tee "$OUT/query_speed.log"
python3 benchmarks/memory_format.py --device cuda 2>&1 | tee "$OUT/memory_format.log"
python3 benchmarks/cuda_checks.py --data .gpu_data --out /tmp/checks 2>&1 | tee "$OUT/cuda_checks.log"
