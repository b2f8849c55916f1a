import csv
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import BASE, STEPS, grid_parent, log_run, noisy_curve
from mlflow.entities import Metric
from scipy import stats

from al4ml.errors import ConfigError
from al4ml.report import (
    build_cells,
    build_report,
    collect,
    holm,
    labels_to_reach,
    resolve_source,
    summarize,
    win_matrix,
)
from al4ml.runs import CEILING_PREFIX
from al4ml.tracking import experiment_id, get_client


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('rep') / 'm.db'}"
    client = get_client(uri)
    exp = experiment_id(client, "synthetic")
    axes = {
        "query.strategy": ["random", "entropy"],
        "augmentation.name": ["none", "trivialaugment"],
        "seed": [0, 1, 2, 3],
    }
    pid = grid_parent(client, exp, axes)
    raw = {}
    for strategy in ("random", "entropy"):
        for aug in ("none", "trivialaugment"):
            for seed in range(4):
                values = noisy_curve(strategy, aug, seed)
                log_run(
                    client,
                    exp,
                    {"query.strategy": strategy, "augmentation.name": aug, "seed": seed},
                    values,
                    pid,
                )
                raw[strategy, aug, seed] = values
    for aug, ceiling in (("none", 0.95), ("trivialaugment", 0.97)):
        log_run(
            client,
            exp,
            {"augmentation.name": aug, "budget.initial": 546, "budget.per_round": 546, "budget.total": 546},
            [ceiling],
            role="baseline",
            steps=[546],
            metric=CEILING_PREFIX + "test_accuracy",
        )
    return uri, pid, raw


def independent_aulc(values: list[float]) -> float:
    total = 0.0
    span = STEPS[-1] - STEPS[0]
    for i in range(1, len(STEPS)):
        total += (values[i] + values[i - 1]) / 2 * (STEPS[i] - STEPS[i - 1]) / span
    return total


def test_report_files_and_aulc_recomputed_from_raw_histories(store, tmp_path):
    uri, pid, raw = store
    client = get_client(uri)
    md = build_report(client, pid, tmp_path, target=0.85)
    files = {p.name for p in tmp_path.iterdir()}
    assert {
        "report.md",
        "report.html",
        "learning_curves.png",
        "aulc.csv",
        "comparisons.csv",
        "win_matrix_strategy.png",
        "win_matrix_augmentation.png",
    } <= files
    text = md.read_text()
    assert text.startswith("# synthetic: active-learning report")
    assert "digits · tiny_cnn (width 8) · 3 epochs, batch 32, lr 0.003 · labels 10 → 40" in text
    assert "![learning_curves.png](learning_curves.png)" in text
    rows = {(r["strategy"], r["augmentation"]): r for r in csv.DictReader((tmp_path / "aulc.csv").open())}
    assert len(rows) == 4
    for (strategy, aug), row in rows.items():
        areas = [independent_aulc(raw[strategy, aug, s]) for s in range(4)]
        lo, hi = stats.t.interval(0.95, 3, loc=np.mean(areas), scale=stats.sem(areas))
        assert float(row["aulc_mean"]) == pytest.approx(np.mean(areas), abs=1e-6)
        assert float(row["aulc_ci95"]) == pytest.approx((hi - lo) / 2, abs=1e-6)
        finals = [raw[strategy, aug, s][-1] for s in range(4)]
        assert float(row["final_mean"]) == pytest.approx(np.mean(finals), abs=1e-6)
        # Each augmentation's own full-data baseline is its ceiling.
        assert float(row["ceiling"]) == {"none": 0.95, "trivialaugment": 0.97}[aug]
    logged = {a.path for a in client.list_artifacts(pid, "report")}
    assert {"report/report.md", "report/report.html", "report/aulc.csv"} <= logged


def test_paired_comparisons_and_win_matrix_see_the_planted_order(store, tmp_path):
    uri, pid, raw = store
    build_report(get_client(uri), pid, tmp_path)
    rows = list(csv.DictReader((tmp_path / "comparisons.csv").open()))
    by = {(r["cell"], r["against"]): r for r in rows}
    assert len(rows) == 4  # 2 strategies vs random, 2 augmentations vs none
    row = by["entropy+none", "random+none"]
    expected = np.mean(
        [
            independent_aulc(raw["entropy", "none", s]) - independent_aulc(raw["random", "none", s])
            for s in range(4)
        ]
    )
    assert float(row["diff_mean"]) == pytest.approx(expected, abs=1e-6)
    assert row["verdict"] == "better"
    assert by["random+trivialaugment", "random+none"]["verdict"] == "better"
    curves, _ = collect(get_client(uri), resolve_source(get_client(uri), pid))
    cells = build_cells(
        curves, {"query.strategy": ["random", "entropy"], "augmentation.name": ["none", "trivialaugment"]}
    )
    names, p = win_matrix(cells, "query.strategy")
    assert names == ["random", "entropy"]
    assert p[1, 0] == pytest.approx(2.0)  # beats random at every budget under both augmentations
    assert p[0, 1] == 0.0
    names, p = win_matrix(cells, "augmentation.name")
    assert names == ["none", "trivialaugment"] and p[1, 0] > 1.5 and p[0, 1] == 0.0


def planted_store(tmp_path: Path, diffs: dict[str, list[float]]) -> tuple[str, str]:
    """random plus, per other strategy, a constant per-seed offset (so Δ AULC is that offset)."""
    uri = f"sqlite:///{tmp_path / 'planted.db'}"
    client = get_client(uri)
    exp = experiment_id(client, "planted")
    strategies = ["random", *diffs]
    n = len(next(iter(diffs.values())))
    pid = grid_parent(client, exp, {"query.strategy": strategies, "seed": list(range(n))})
    for seed in range(n):
        rng = np.random.default_rng(seed)
        base = BASE - 0.1 + rng.normal(0, 0.02, len(BASE))  # seed-to-seed noise shared by pairs
        log_run(client, exp, {"query.strategy": "random", "seed": seed}, base.tolist(), pid)
        for strategy, d in diffs.items():
            log_run(client, exp, {"query.strategy": strategy, "seed": seed}, (base + d[seed]).tolist(), pid)
    return uri, pid


def test_planted_better_cell_is_better_and_unresolved_cell_gets_seeds_needed(tmp_path):
    z = np.array([-1.0, 0.0, 1.0])  # mean 0, sample SD 1: observed Δ and SD are the planted ones
    delta, sd = 0.01, 0.03
    uri, pid = planted_store(tmp_path, {"entropy": list(0.05 + 0.002 * z), "margin": list(delta + sd * z)})
    out = tmp_path / "report"
    text = build_report(get_client(uri), pid, out).read_text()
    rows = {r["cell"]: r for r in csv.DictReader((out / "comparisons.csv").open())}
    assert rows["entropy+none"]["verdict"] == "better"
    assert rows["margin+none"]["verdict"] == "not resolved"
    assert math.isnan(float(rows["entropy+none"]["seeds_needed"]))
    # Normal-approximation sample size of a two-sided paired test with power 0.8 at the level
    # of Holm's strictest step over the report's two comparisons, alpha 0.05 / 2.
    analytic = ((stats.norm.ppf(1 - 0.05 / 4) + stats.norm.ppf(0.8)) / (delta / sd)) ** 2
    assert float(rows["margin+none"]["seeds_needed"]) == pytest.approx(analytic, rel=0.2)
    p_raw = [float(rows[c]["p_t"]) for c in ("entropy+none", "margin+none")]
    assert [float(rows[c]["p_t_holm"]) for c in ("entropy+none", "margin+none")] == pytest.approx(
        [min(1, 2 * min(p_raw)), min(1, max(2 * min(p_raw), max(p_raw)))]
    )
    assert "| margin+none | random+none | strategy | 3 |" in text
    assert "not resolved" in text and "better" in text


def test_holm_matches_the_step_down_definition():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    adjusted = holm(p)
    # sorted: 0.005*4, 0.01*3, 0.03*2, 0.04*1, each at least the previous one
    assert adjusted[[4, 0, 2, 1]] == pytest.approx([0.02, 0.03, 0.06, 0.06])
    assert math.isnan(adjusted[3])


def test_labels_to_reach_is_censored_and_the_median_counts_every_seed(tmp_path):
    steps = np.array([20.0, 40, 60])
    assert labels_to_reach(steps, np.array([0.5, 0.9, 0.95]), 0.9) == 40
    assert math.isinf(labels_to_reach(steps, np.array([0.5, 0.6, 0.7]), 0.9))
    uri = f"sqlite:///{tmp_path / 'c.db'}"
    client = get_client(uri)
    exp = experiment_id(client, "censored")
    pid = grid_parent(client, exp, {"seed": [0, 1, 2]})
    # One seed reaches 0.9 at 40 labels, two never do: the median is above the budget.
    for seed, curve in enumerate(
        ([0.5, 0.9, 0.9, 0.9, 0.9], [0.5, 0.6, 0.7, 0.8, 0.85], [0.5, 0.6, 0.7, 0.8, 0.8])
    ):
        log_run(client, exp, {"seed": seed}, curve, pid)
    curves, _ = collect(client, resolve_source(client, pid))
    [summary] = summarize(build_cells(curves, {}), 0.9)
    assert math.isinf(summary.reach_median) and summary.reached == 1
    md = build_report(client, pid, tmp_path / "r", target=0.9).read_text()
    assert "| > 100 | 1/3 |" in md
    assert "fewer than 3 seeds" not in md


def test_runs_with_a_different_non_seed_config_are_never_pooled(tmp_path):
    """Two configs under one parent, the same strategy, augmentation and seeds: two cells."""
    uri = f"sqlite:///{tmp_path / 'mixed.db'}"
    client = get_client(uri)
    exp = experiment_id(client, "mixed")
    pid = grid_parent(client, exp, {"query.strategy": ["entropy"], "seed": [0, 1]})
    for epochs, level in ((3, 0.6), (7, 0.8)):
        for seed in (0, 1):
            log_run(client, exp, {"training.epochs": epochs, "seed": seed}, [level + 0.01 * seed] * 5, pid)
    curves, _ = collect(client, resolve_source(client, pid))
    cells = build_cells(curves, {"query.strategy": ["entropy"]})
    assert [(c.label, c.seeds) for c in cells] == [("entropy+none+epochs=3", 2), ("entropy+none+epochs=7", 2)]
    summaries = summarize(cells, 0.9)
    assert [s.aulc_mean for s in summaries] == pytest.approx([0.605, 0.805])
    md = build_report(client, pid, tmp_path / "r").read_text()
    assert "| entropy | none | 3 | 2 |" in md and "| entropy | none | 7 | 2 |" in md
    assert "fewer than 3 seeds" in md


def test_unknown_source_is_a_clear_error(store):
    uri, _, _ = store
    with pytest.raises(ConfigError, match="no grid run or experiment named 'nope'"):
        build_report(get_client(uri), "nope", Path("/tmp/unused"))


def test_report_by_experiment_name_includes_standalone_runs(store, tmp_path):
    uri, _, _ = store
    client = get_client(uri)
    exp = experiment_id(client, "synthetic")
    log_run(client, exp, {"query.strategy": "margin"}, [0.7] * 5, role="run")
    source = resolve_source(client, "synthetic")
    curves, baselines = collect(client, source)
    assert source.parent is None and len(baselines) == 2
    cells = build_cells(curves, {})
    assert len(curves) == 17 and {c.values["query.strategy"] for c in cells} == {
        "random",
        "entropy",
        "margin",
    }


def log_priced(client, exp, strategy: str, seed: int, price, parent=None) -> str:
    """A run whose oracle billed ``price(step, seed)`` by the time it held ``step`` labels."""
    run_id = log_run(
        client,
        exp,
        {"query.strategy": strategy, "seed": seed, "oracle.cost.per_label": 2.5},
        noisy_curve(strategy, "none", seed),
        parent,
    )
    client.log_batch(run_id, metrics=[Metric("oracle_cost", price(s, seed), 0, s) for s in STEPS])
    return run_id


def test_report_over_cost_at_one_price_is_the_label_report_rescaled(tmp_path):
    client = get_client(f"sqlite:///{tmp_path / 'm.db'}")
    exp = experiment_id(client, "priced")
    for strategy in ("random", "entropy"):
        for seed in range(3):
            log_priced(client, exp, strategy, seed, lambda s, _: 2.5 * s)
    by_labels = json.loads(
        (build_report(client, "priced", tmp_path / "l", 0.8).parent / "summary.json").read_text()
    )
    md = build_report(client, "priced", tmp_path / "c", 0.8, x="cost")
    by_cost = json.loads((md.parent / "summary.json").read_text())
    assert by_cost["x"] == "cost" and "cost to reach 0.80" in md.read_text()
    assert "price per label 2.5" in md.read_text()
    assert [c["labels_bought"] for c in by_cost["cells"]] == [100.0, 100.0]
    for a, b in zip(by_labels["cells"], by_cost["cells"], strict=True):
        assert b["aulc"] == pytest.approx(a["aulc"])  # the axis is scaled to [0, 1] either way
        assert b["labels_to_target_median"] == pytest.approx(2.5 * a["labels_to_target_median"])


def test_report_over_cost_reads_seeds_with_different_spending_on_one_grid(tmp_path):
    from al4ml.report import Curve, common_grid

    a = Curve("a", "0", {}, np.array([10.0, 30.0, 50.0]), np.array([0.5, 0.7, 0.9]))
    b = Curve("b", "1", {}, np.array([12.0, 20.0, 40.0]), np.array([0.4, 0.6, 0.8]))
    ga, gb = common_grid([a, b])
    assert ga.steps.tolist() == gb.steps.tolist() == [12.0, 26.0, 40.0]
    assert ga.values.tolist() == [0.5, 0.5, 0.7]  # what the spend had bought so far
    assert gb.values.tolist() == [0.4, 0.6, 0.8]
    client = get_client(f"sqlite:///{tmp_path / 'm.db'}")
    exp = experiment_id(client, "by_class")
    for seed in range(3):
        log_priced(client, exp, "entropy", seed, lambda s, sd: s * (1 + 0.1 * sd))
    summary = json.loads(
        (build_report(client, "by_class", tmp_path / "r", 0.8, x="cost").parent / "summary.json").read_text()
    )
    [cell] = summary["cells"]
    assert cell["seeds"] == 3 and 20 <= cell["labels_to_target_median"] <= 100 * 1.0
    log_run(client, exp, {"seed": 7}, noisy_curve("random", "none", 7))  # never priced
    with pytest.raises(ConfigError, match=r"logged no oracle_cost at 20 labels .*--x labels"):
        build_report(client, "by_class", tmp_path / "r2", 0.8, x="cost")
    with pytest.raises(ConfigError, match="unknown x axis 'money'; choose from: labels, cost"):
        build_report(client, "by_class", tmp_path / "r3", 0.8, x="money")


def monte_carlo_power(effect: float, n: int, alpha: float, draws: int = 400_000) -> float:
    """Power of a two-sided paired t-test by simulation: T = (Z + d sqrt(n)) / sqrt(V / df)."""
    rng = np.random.default_rng(n)
    df = n - 1
    t = (rng.standard_normal(draws) + effect * math.sqrt(n)) / np.sqrt(rng.chisquare(df, draws) / df)
    return float(np.mean(np.abs(t) > stats.t.ppf(1 - alpha / 2, df)))


@pytest.mark.parametrize("alpha", [0.05, 0.05 / 4])
def test_seeds_needed_agrees_with_a_simulated_power_for_effects_up_to_20(alpha):
    from al4ml.report import seeds_needed

    assert seeds_needed(np.array([3.0, 4.0, 5.0]), alpha=0.05 / 4) == 4  # d = 4: 4 pairs suffice
    for effect in (0.5, 1.0, 2.0, 3.25, 4.65, 8.0, 20.0):
        diffs = np.array([effect - 1.0, effect, effect + 1.0])  # mean d, sample SD 1
        n = int(seeds_needed(diffs, alpha=alpha))
        assert monte_carlo_power(effect, n, alpha) >= 0.8 - 0.005, (effect, n)
        if n > 2:
            assert monte_carlo_power(effect, n - 1, alpha) < 0.8 + 0.005, (effect, n)


def test_a_comparison_of_two_seeds_gets_no_verdict(tmp_path):
    # Δ = 0.05 with a spread of 0.0005 over 2 seeds: a t-test with one degree of freedom
    # would call it better; two pairs say nothing about the spread.
    uri, pid = planted_store(tmp_path, {"entropy": [0.0495, 0.0505]})
    out = tmp_path / "report"
    text = build_report(get_client(uri), pid, out).read_text()
    [row] = csv.DictReader((out / "comparisons.csv").open())
    assert row["verdict"] == "too few seeds"
    assert float(row["seeds_needed"]) >= 3
    assert "fewer than 3 pairs get none" in text


def test_a_censored_median_of_an_even_number_of_seeds_prints_what_is_known(tmp_path):
    from al4ml.report import censored_median

    client = get_client(f"sqlite:///{tmp_path / 'even.db'}")
    exp = experiment_id(client, "even")
    pid = grid_parent(client, exp, {"seed": [0, 1]})
    for seed, curve in enumerate(([0.5, 0.6, 0.9, 0.9, 0.9], [0.5, 0.6, 0.7, 0.8, 0.8])):
        log_run(client, exp, {"seed": seed}, curve, pid)
    md = build_report(client, pid, tmp_path / "r", target=0.9).read_text()
    assert "| > 80 | 1/2 |" in md  # 60 and "above 100": the median lies above 80, not above 100

    assert censored_median(np.array([60.0, math.inf]), 120.0) == (math.inf, 90.0)
    assert censored_median(np.array([60.0, 80.0]), 120.0) == (70.0, None)
    assert censored_median(np.array([math.inf, math.inf]), 120.0) == (math.inf, 120.0)
    assert censored_median(np.array([40.0, 60.0, math.inf]), 120.0) == (60.0, None)
    assert censored_median(np.array([40.0, math.inf, math.inf]), 120.0) == (math.inf, 120.0)


def test_table_intervals_stay_within_the_scores_range(tmp_path):
    client = get_client(f"sqlite:///{tmp_path / 'wide.db'}")
    exp = experiment_id(client, "wide")
    pid = grid_parent(client, exp, {"seed": [0, 1, 2]})
    for seed, curve in enumerate(
        ([0.1, 0.2, 0.99, 1.0, 1.0], [0.1, 0.1, 0.1, 0.1, 0.1], [0.9, 1.0, 1.0, 1.0, 1.0])
    ):
        log_run(client, exp, {"seed": seed}, curve, pid)
    md = build_report(client, pid, tmp_path / "r", target=0.9).read_text()
    row = next(r for r in md.splitlines() if r.startswith("| entropy"))
    aulc, final = (cell.strip() for cell in row.split("|")[4:6])
    for shown in (aulc, final):  # mean ± half-width would leave [0, 1]: the ends, clipped
        m = re.fullmatch(r"(\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]", shown)
        assert m and 0.0 <= float(m[2]) <= float(m[1]) <= float(m[3]) <= 1.0, row


def test_fixed_policies_and_searches_are_values_of_one_augmentation_axis(tmp_path):
    """A fixed RandAugment's options and a search's settings belong to the augmentation's
    value: the cells compare along one axis, against --reference where one is named, and
    every cell says which validation chose for it."""
    uri = f"sqlite:///{tmp_path}/m.db"
    client = get_client(uri)
    exp = experiment_id(client, "mixed")
    search = '{"method": "grid", "policies": [{"name": "none"}, {"name": "trivialaugment"}], "folds": 2}'
    arms = {
        "none": ({}, 0.0),
        "ra": (
            {"augmentation.name": "randaugment", "augmentation.params.n": 2, "augmentation.params.m": 30},
            -0.03,
        ),
        "search": ({"augmentation.search": search}, 0.04),
    }
    for seed in range(4):
        for overrides, lift in arms.values():
            rng = np.random.default_rng(seed)
            curve = BASE + lift + rng.normal(0, 0.004, 5)
            log_run(client, exp, {**overrides, "seed": seed}, curve.tolist())
    build_report(client, "mixed", tmp_path / "r", references={"augmentation": "randaugment(m=30, n=2)"})
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert {c["label"]: c["validation"] for c in summary["cells"]} == {
        "entropy+none": "none",
        "entropy+randaugment(m=30, n=2)": "none",
        "entropy+search:grid": "policy: labeled 2-fold (counted)",
    }
    assert {(c["cell"], c["against"], c["verdict"]) for c in summary["comparisons"]} == {
        ("entropy+none", "entropy+randaugment(m=30, n=2)", "better"),
        ("entropy+search:grid", "entropy+randaugment(m=30, n=2)", "better"),
    }
    assert "validation" in (tmp_path / "r" / "report.md").read_text()
    with pytest.raises(
        ConfigError,
        match=r"--reference augmentation=trivialaugment: no cell has "
        r"augmentation.name = 'trivialaugment'; choose from: ",
    ):
        build_report(client, "mixed", tmp_path / "r", references={"augmentation": "trivialaugment"})
    with pytest.raises(ConfigError, match=r"--reference colour=red: 'colour' is no axis"):
        build_report(client, "mixed", tmp_path / "r", references={"colour": "red"})


def test_cells_with_the_same_curves_at_every_seed_are_identical_not_unresolved(tmp_path):
    """A search that always chose no augmentation trains what the fixed 'none' cell trains:
    Δ = 0 at every seed is no open question, and no number of seeds would resolve it."""
    uri, pid = planted_store(tmp_path, {"entropy": [0.0, 0.0, 0.0], "margin": [0.05, 0.06, 0.04]})
    out = tmp_path / "report"
    text = build_report(get_client(uri), pid, out).read_text()
    rows = {r["cell"]: r for r in csv.DictReader((out / "comparisons.csv").open())}
    assert rows["entropy+none"]["verdict"] == "identical" and rows["entropy+none"]["seeds_needed"] == "nan"
    assert rows["margin+none"]["verdict"] == "better"
    assert "1 of 2 comparisons are not resolved" not in text


def test_baselines_of_a_grid_are_named_apart_and_reported_as_one_table(tmp_path):
    """``al4ml baseline`` over a grid with a ``training.select`` axis, then ``al4ml report`` on
    its experiment (in this process): two names, one baselines table with the selected epochs."""
    import json

    from helpers import cli, write_grid

    from al4ml.tracking import get_client

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    grid = write_grid(
        tmp_path,
        {"training.select": ["last", "best_val"]},
        name="selects",
        **{"training.epochs": 2, "model.options.width": 4},
    )
    ran = cli("baseline", str(grid), "--tracking-uri", uri, "-q")
    assert ran.returncode == 0, ran.stderr
    client = get_client(uri)
    runs = client.search_runs([client.get_experiment_by_name("selects").experiment_id])
    assert sorted(r.info.run_name for r in runs) == [
        "baseline+none+select=best_val/s0",
        "baseline+none+select=last/s0",
    ]
    again = cli("baseline", str(grid), "--tracking-uri", uri, "-q")  # done: nothing trains
    assert again.returncode == 0 and len(client.search_runs([runs[0].info.experiment_id])) == 2
    reported = cli("report", "selects", "--tracking-uri", uri, "--out", str(tmp_path / "r"), "--json")
    assert reported.returncode == 0, reported.stderr
    rows = {b["values"]["training.select"]: b for b in json.loads(reported.stdout)["baselines"]}
    assert set(rows) == {"last", "best_val"} and rows["last"]["selected_epoch"] == [None]
    assert rows["best_val"]["selected_epoch"][0] >= 1  # an epoch the validation AUC chose
    assert "training.select" in (tmp_path / "r" / "report.md").read_text()


def test_rank_tests_across_datasets_equal_scipy_and_scikit_posthocs_on_planted_curves(tmp_path):
    """Five datasets x three augmentations, curves made here: the Friedman statistic, the mean
    ranks and the Nemenyi matrix are SciPy's and scikit-posthocs' on the per-dataset AULCs, and
    the blocks hold the critical-difference diagram."""
    import numpy as np
    import scikit_posthocs as sp
    from scipy import stats

    from al4ml.report.collect import Curve, ReportCell
    from al4ml.report.datasets import rank_tests, ranks_blocks, ranks_json
    from al4ml.report.stats import aulc

    rng = np.random.default_rng(0)
    steps = np.array([20.0, 40.0, 60.0])
    cells, table = [], np.zeros((5, 3))
    for d, flag in enumerate(["breastmnist", "pathmnist", "dermamnist", "bloodmnist", "octmnist"]):
        for a, aug in enumerate(["none", "trivialaugment", "randaugment"]):
            curves = {}
            for seed in ("0", "1"):
                values = np.clip(0.5 + 0.1 * a * (d % 2 * 2 - 1) + 0.2 * rng.random(3), 0, 1)
                curves[seed] = Curve(f"{flag}{aug}{seed}", seed, {}, steps, values)
            values = {"dataset.options.flag": flag, "augmentation.name": aug}
            cells.append(ReportCell(f"{d}{a}", values, curves, values))
            table[d, a] = np.mean([aulc(c.steps, c.values) for c in curves.values()])
    [test] = rank_tests(cells)
    assert test.axis == "augmentation.name" and test.names == ["none", "trivialaugment", "randaugment"]
    statistic, p = stats.friedmanchisquare(*table.T)
    assert np.isclose(test.statistic, statistic) and np.isclose(test.p, p)
    assert np.allclose(test.table, table)
    assert np.allclose(test.ranks, stats.rankdata(-table, axis=1).mean(axis=0))
    assert np.allclose(test.posthoc, sp.posthoc_nemenyi_friedman(table).to_numpy())
    blocks = ranks_blocks([test], tmp_path)
    assert list(tmp_path.glob("*.png")) and blocks
    assert ranks_json([test])[0]["friedman_p"] == test.p
    assert rank_tests([c for c in cells if c.values["dataset.options.flag"] == "pathmnist"]) == []
