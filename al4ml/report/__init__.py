"""Reports over many runs: learning curves with confidence bands, AULC, paired comparisons.

Reads runs through MLflow's client API (a grid's parent run id, or an experiment name) and
writes PNG plots, CSV tables, ``report.md`` and ``report.html`` into one folder; for a grid
the same files are logged as artifacts of its parent run, so the MLflow UI shows them.

Which runs are pooled: runs are replicates (one *cell*) only when their whole resolved config,
rebuilt from their logged params, is equal but for the seed (:func:`al4ml.runs.setting`).
Cells are labelled by the grid's axes and by every other key whose value differs between
cells, so two cells never share a label and no run is ever averaged with a differently
configured one.

Statistics (seeds are the replicates):
* mean and 95 % t-interval of the metric at each label count, the band clipped to [0, 1];
  cells with fewer than 3 seeds are flagged (their intervals say little);
* normalised area under the learning curve (AULC): the label axis scaled to [0, 1] between
  the first and last budget, trapezoid rule, so 1.0 means perfect accuracy at every budget;
* labels needed to reach ``--target``: the median over *all* seeds, a seed that never reached
  it counting as above the budget (censored; a median that depends on a censored seed is
  printed as the bound it is known to exceed), with the share of seeds that reached it;
* with ``--x cost`` every one of these is taken over the spent cost (metric ``oracle_cost``,
  logged by runs with ``oracle.cost``) instead of the label count; where seeds spent
  different amounts per round (prices per class), each curve is read as a step function
  (what the spend had bought so far) on one common grid of costs;
* paired comparisons of AULC along every axis against its reference value (``random``
  strategy, ``none`` augmentation, else the axis' first value), the rest of the config equal:
  paired t-test (``scipy.stats.ttest_rel``) and, with 6 or more seeds, Wilcoxon's signed-rank
  test, both Holm-corrected over all the report's comparisons; a verdict (better, worse, not
  resolved at alpha = 0.05 after correction, by the t-test; fewer than 3 pairs get no
  verdict); and for unresolved ones, the seeds a paired t-test would need to resolve the
  observed difference with 80 % power at the observed spread (two-sided, at alpha = 0.05 /
  the number of comparisons, Holm's strictest step; noncentral t, by quadrature where
  SciPy's noncentral t has no answer);
* pairwise win matrices as Ash et al. (2020) compute them, along every axis: for every pair
  (i, j), every setting of the other axes and every label count, a paired two-sided t-test
  over seeds; i wins when it is significantly better at 95 %; entries are summed over
  settings, each budget weighing 1 / (number of budgets).
"""

from __future__ import annotations

from al4ml.report.build import build_report
from al4ml.report.collect import (
    METRIC,
    Curve,
    ReportCell,
    Source,
    build_cells,
    collect,
    common_grid,
    history,
    label_keys,
    on_cost_axis,
    resolve_source,
)
from al4ml.report.plots import plot_curves, plot_win_matrix
from al4ml.report.render import config_summary, render_html, render_markdown
from al4ml.report.stats import (
    ALPHA,
    MAX_SEEDS,
    MIN_SEEDS,
    POWER,
    CellSummary,
    Comparison,
    aligned,
    aulc,
    censored_median,
    comparisons,
    holm,
    labels_to_reach,
    mean_ci,
    paired_power,
    seeds_needed,
    summarize,
    win_matrix,
)

__all__ = [
    "ALPHA",
    "MAX_SEEDS",
    "METRIC",
    "MIN_SEEDS",
    "POWER",
    "ReportCell",
    "CellSummary",
    "Comparison",
    "Curve",
    "Source",
    "aligned",
    "aulc",
    "build_cells",
    "build_report",
    "censored_median",
    "collect",
    "common_grid",
    "comparisons",
    "config_summary",
    "history",
    "holm",
    "label_keys",
    "labels_to_reach",
    "mean_ci",
    "on_cost_axis",
    "paired_power",
    "plot_curves",
    "plot_win_matrix",
    "render_html",
    "render_markdown",
    "resolve_source",
    "seeds_needed",
    "summarize",
    "win_matrix",
]
