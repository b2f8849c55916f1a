#!/usr/bin/env bash
# The BreastMNIST grid (experiments/grid_breastmnist.yaml) on the GPU machine, then its report.
# Carry .whl and .gpu_data (see gpu_session.sh). Brings back report.tgz (report + sqlite store).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/g
python3 benchmarks/cuda_checks.py --only sync 2>&1 | tail -3 | tee "$OUT/sync.log"
STORE=sqlite:////tmp/g/m.db
timeout "${GRID_SECONDS:-330}" python3 -m al4ml.cli grid experiments/grid_breastmnist.yaml \
  --set dataset.root="$PWD/.gpu_data" --workers "${WORKERS:-8}" --tracking-uri $STORE \
  > "$OUT/grid.log" 2>&1
echo "grid exit code $?"
tail -5 "$OUT/grid.log"
PARENT=$(python3 -c "
from al4ml.tracking import get_client
c = get_client('$STORE'); e = c.get_experiment_by_name('grid_breastmnist')
print(c.search_runs([e.experiment_id], \"tags.\`al4ml.role\` = 'grid'\")[0].info.run_id)")
python3 -m al4ml.cli report "$PARENT" --tracking-uri $STORE --out /tmp/g/report --target 0.85
tar czf "$OUT/report.tgz" -C /tmp/g report m.db
cat /tmp/g/report/report.md | head -40
