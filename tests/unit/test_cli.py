"""The command line in this process (``helpers.cli``: the console script's ``main``): its
tables, help, one-line errors and the reading commands on a store written here."""

import json

import pytest
from helpers import BAD_VALUES, QUICKSTART, USAGE_ERRORS, cli, one_line_error

from al4ml.config import load_config
from al4ml.errors import ConfigError
from al4ml.tracking import get_client


def test_the_rounds_table_shows_the_bill_and_the_wrong_answers():
    from rich.console import Console

    from al4ml.cli import rounds_table
    from al4ml.records import RoundRecord

    def render(history) -> str:
        console = Console(width=120, record=True)
        console.print(rounds_table(history))
        return console.export_text()

    plain = [RoundRecord(0, 20, {"test_accuracy": 0.5})]
    assert "spent cost" not in render(plain) and "wrong answers" not in render(plain)
    priced = [
        RoundRecord(0, 20, {"test_accuracy": 0.5, "oracle_cost": 40.0}),
        RoundRecord(1, 40, {"test_accuracy": 0.6, "oracle_cost": 80.0, "oracle_wrong_labels": 7.0}),
    ]
    assert "spent cost 80 · wrong answers 7 of 40" in render(priced)


def test_the_help_lists_every_command_in_one_sentence_each():
    """``al4ml --help``: running commands first, then reading ones; each command's summary is
    one sentence, not a line broken where its docstring's source line ended."""
    from typer.main import get_command

    from al4ml.cli import app

    group = get_command(app)
    assert list(group.commands) == [
        "run",
        "resume",
        "baseline",
        "show",
        "grid",
        "report",
        "runs",
        "sync",
        "list",
        "ui",
    ]
    for name, command in group.commands.items():
        first = (command.help or "").strip().split("\n\n")[0]
        assert "\n" not in first and first.endswith("."), (name, first)


def test_help_shows_flags_as_flags():
    """``--json``, ``--progress/--no-progress``, ``--help``: no ``<bool>`` type after them, as
    if they took a value; options that take one still name it."""
    from typer.testing import CliRunner

    from al4ml.cli import app

    runner = CliRunner()
    for command in ([], ["run"], ["grid"], ["report"], ["ui"], ["baseline"], ["runs"]):
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.output and "--help" in result.output, result.output
    run_help = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "100"}).output
    assert "--json" in run_help and "KEY=VALUE" in run_help and "URI" in run_help


@pytest.mark.parametrize("overrides, fragments", BAD_VALUES, ids=[" ".join(o) for o, _ in BAD_VALUES])
def test_bad_values_are_refused_by_the_config_api_and_by_run_in_one_line(tmp_path, overrides, fragments):
    """The config API names the key, the value and the choices; ``al4ml run`` prints that as its
    one line, exit 2, and creates no store (what a fresh process imports first: tests/e2e)."""
    with pytest.raises(ConfigError) as refused:
        load_config(QUICKSTART, overrides)
    for fragment in fragments:
        assert fragment in str(refused.value), (fragment, str(refused.value))
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    sets = [arg for o in overrides for arg in ("--set", o)]
    one_line_error(cli("run", str(QUICKSTART), *sets, "--tracking-uri", uri), *fragments)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, fragments", USAGE_ERRORS)
def test_usage_errors_are_one_line_without_typers_usage_box(tmp_path, args, fragments):
    ran = cli(*args, cwd=tmp_path)
    one_line_error(ran, *fragments)
    assert "─" not in ran.stderr and "Usage:" not in ran.stderr
    assert list(tmp_path.iterdir()) == []


def test_list_and_show_print_the_registries_and_the_resolved_config():
    listed = cli("list")
    assert listed.returncode == 0
    for name in ("entropy", "trivialaugment", "digits", "medmnist", "resnet18", "badge"):
        assert name in listed.stdout
    strategies = cli("list", "strategies").stdout
    assert "entropy" in strategies and "trivialaugment" not in strategies
    shown = cli("show", str(QUICKSTART), "--set", "training.epochs=3", "-q")
    assert shown.returncode == 0 and "epochs: 3" in shown.stdout, shown.stderr


def test_a_run_its_rows_and_its_report_from_the_command_line(tmp_path):
    """``al4ml run --json`` (one JSON object on stdout), ``al4ml runs`` and ``al4ml report``
    over what it logged; a missing store and an unknown experiment are one line each."""
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    small = ["--set", "budget.total=40", "--set", "training.epochs=1", "--set", "model.options.width=4"]
    ran = cli("run", str(QUICKSTART), *small, "--tracking-uri", uri, "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    assert get_client(uri).get_run(run_id).info.status == "FINISHED"
    rows = json.loads(cli("runs", "digits_quickstart", "--tracking-uri", uri, "--json").stdout)
    assert [r["run_id"] for r in rows] == [run_id] and rows[0]["status"] == "FINISHED"
    table = cli("runs", "--tracking-uri", uri)
    assert table.returncode == 0 and run_id[:8] in table.stdout
    one_line_error(cli("runs", "no_such_experiment", "--tracking-uri", uri), "no_such_experiment")
    out = tmp_path / "report"
    reported = cli("report", "digits_quickstart", "--tracking-uri", uri, "--out", str(out), "-q")
    assert reported.returncode == 0, reported.stderr
    assert (out / "report.md").is_file() and (out / "aulc.csv").is_file()
    one_line_error(cli("report", "x", "--tracking-uri", f"sqlite:///{tmp_path / 'typo.db'}"), "typo.db")
    assert not (tmp_path / "typo.db").exists()
