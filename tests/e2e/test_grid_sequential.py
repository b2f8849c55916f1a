"""``al4ml grid --until-resolved`` end to end on digits: looks, a kill mid-look, the report."""

import csv
import json
import os
import signal
from pathlib import Path

import yaml
from helpers import HANG, REPO, Gate, al4ml, pid_alive, start, wait_until

ARGS = (
    "--until-resolved",
    "--seed-batch",
    "3",
    "--max-seeds",
    "12",
    "--workers",
    "1",
    "--cohort-size",
    "6",
    "--json",
)


def write_grid(tmp_path: Path) -> Path:
    """Digits without augmentation against RandAugment with 14 ops at full strength (training
    images beyond recognition: decided at the second look), one cohort per look (3 seeds of
    both cells), two queries per cell."""
    spec = {
        "name": "seqgrid",
        "base": str(REPO / "experiments" / "digits_quickstart.yaml"),
        "set": {
            "training.epochs": 4,
            "training.min_steps": 100,
            "budget.initial": 10,
            "budget.per_round": 10,
            "budget.total": 30,
            "model.options.width": 8,
        },
        "axes": {
            "augmentation": [{"name": "none"}, {"name": "randaugment", "params": {"n": 14, "m": 30}}],
            "seed": [0],
        },
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def outcome(result) -> dict:
    """A finished ``al4ml grid --json``'s object: parent run, cells, and each look's cells
    trained and decisions."""
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_a_killed_sequential_grid_continues_its_design_and_the_report_states_it(tmp_path):
    gate = Gate(tmp_path / "gate")
    path = write_grid(tmp_path)
    whole = outcome(
        al4ml(
            "grid",
            str(path),
            *ARGS,
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'whole.db'}",
            *gate.sets,
            env=gate.env,
        )
    )
    last = whole["looks"][-1]["comparisons"]
    assert [c["axis"] for c in last] == ["augmentation.name"] and last[0]["state"] != "open"
    assert whole["looks"][0]["trained"] == 6
    assert all(look["trained"] == 6 for look in whole["looks"])  # both cells until it is decided
    # Held at the first look's last query, then at the second look's first: killed there.
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    gate.hold(12)
    driver = start("grid", str(path), *ARGS, "--tracking-uri", uri, *gate.sets, cwd=tmp_path, env=gate.env)
    gate.wait_held(12)
    gate.hold(1)
    gate.release(12)
    [worker] = gate.wait_held(1)  # look 1 decided "open", look 2's cohort is at its first query
    os.kill(driver.pid, signal.SIGKILL)
    driver.communicate(timeout=HANG)
    wait_until(lambda: not pid_alive(worker), "the killed grid's worker to end with it")
    gate.release(1)
    again = outcome(al4ml("grid", str(path), *ARGS, "--tracking-uri", uri, *gate.sets, env=gate.env))
    assert again["looks"][0]["trained"] == 0  # look 1 is read back, not redone
    assert again["looks"][1]["trained"] == 6  # look 2's killed cells run again
    assert len(again["looks"]) == len(whole["looks"])
    for ours, theirs in zip(again["looks"], whole["looks"], strict=True):
        assert ours["comparisons"] == theirs["comparisons"]
    # The report applies the design instead of fixed-sample verdicts.
    report = al4ml("report", again["parent_run_id"], "--tracking-uri", uri, "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stdout + report.stderr
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Sequential comparisons" in md and "## Paired comparisons" not in md
    assert "looks at 3, 6, 9, 12 seeds" in md
    with (tmp_path / "report" / "sequential.csv").open() as f:
        [row] = csv.DictReader(f)
    assert row["state"] == last[0]["state"] and row["seeds"] == str(last[0]["seeds"])
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["sequential"]["looks"] == [3, 6, 9, 12]


def test_a_compare_axis_the_grid_lacks_is_one_line_before_anything_runs(tmp_path):
    store = tmp_path / "m.db"
    proc = al4ml(
        "grid",
        str(write_grid(tmp_path)),
        "--until-resolved",
        "--compare",
        "strategy",
        "--tracking-uri",
        f"sqlite:///{store}",
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert "--compare query.strategy" in line and "choose from: augmentation" in line
    assert not store.exists() and "Traceback" not in proc.stderr
