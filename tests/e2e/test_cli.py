import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BAD_VALUES, HANG, QUICKSTART, REPO, USAGE_ERRORS, al4ml, al4ml_imports

from al4ml.query import STRATEGIES
from al4ml.tracking import QUERIES_ARTIFACT, get_client


def python(code: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter (what it imported is its own)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_strategy_exits_2_naming_it_and_the_choices(tmp_path):
    proc = al4ml(
        "run",
        str(QUICKSTART),
        "--set",
        "query.strategy=entropyy",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'm.db'}",
    )
    assert_one_line_error(proc, "entropyy", *STRATEGIES.names())
    assert not (tmp_path / "m.db").exists()


def test_unknown_config_key_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("  epochs: 30", "  epohcs: 30"))
    proc = al4ml("run", str(bad), "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}")
    assert_one_line_error(proc, "training.epohcs", "epochs")


def test_missing_data_file_exits_2_naming_the_path(tmp_path):
    proc = al4ml(
        "run",
        str(REPO / "experiments" / "breastmnist.yaml"),
        "--set",
        f"dataset.root={tmp_path}",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'm.db'}",
    )
    assert_one_line_error(proc, str(tmp_path / "breastmnist.npz"))


def test_the_breastmnist_config_looks_in_medmnists_folder_and_says_how_to_get_the_file(tmp_path):
    """``al4ml run experiments/breastmnist.yaml`` on a machine without the file: one line with
    where it looked (medmnist's ``~/.medmnist``) and the two ways to get it."""
    proc = al4ml(
        "run",
        str(REPO / "experiments" / "breastmnist.yaml"),
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'm.db'}",
        env={"HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert_one_line_error(
        proc,
        str(tmp_path / ".medmnist" / "breastmnist.npz"),
        "--set dataset.root=",
        "--set dataset.options.download=true",
    )


@pytest.mark.parametrize("command", [["report", "some-grid"], ["ui"]])
def test_reading_commands_refuse_a_missing_store_without_creating_it(tmp_path, command):
    uri = f"sqlite:///{tmp_path / 'typo.db'}"
    proc = al4ml(*command, "--tracking-uri", uri, cwd=tmp_path)
    assert_one_line_error(proc, uri, "no MLflow store")
    assert list(tmp_path.iterdir()) == []
    # Refused before MLflow, torch or SciPy are imported (seconds on 2 cores).
    code = (
        "import sys\nfrom al4ml.cli import main\n"
        f"sys.argv = ['al4ml', *{command!r}, '--tracking-uri', {uri!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 2\n"
        "print([m for m in ('torch', 'mlflow', 'scipy') if m in sys.modules])\n"
    )
    imports = python(code, cwd=tmp_path)
    assert imports.stdout.strip() == "[]", imports.stdout + imports.stderr


def test_show_prints_the_resolved_config_without_running(tmp_path):
    import yaml

    from al4ml.config import load_config

    proc = al4ml("show", str(QUICKSTART), "--set", "training.epochs=3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown = yaml.safe_load(proc.stdout)
    assert shown == load_config(QUICKSTART, ["training.epochs=3"]).dump()
    assert shown["training"]["epochs"] == 3 and "cuda_graph" in shown["training"]
    assert list(tmp_path.iterdir()) == []
    bad = al4ml("show", str(QUICKSTART), "--set", "training.epochs=0", cwd=tmp_path)
    assert_one_line_error(bad, "training.epochs")


def test_list_shows_every_registry():
    proc = al4ml("list")
    assert proc.returncode == 0
    for name in ("entropy", "trivialaugment", "randaugment", "digits", "medmnist", "resnet18"):
        assert name in proc.stdout
    proc = al4ml("list", "strategies")
    for entry in STRATEGIES.entries():
        line = next(ln for ln in proc.stdout.splitlines() if f" {entry.name} " in ln)
        assert entry.description and entry.description[:30] in line
    assert "trivialaugment" not in proc.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    USAGE_ERRORS,
)
def test_usage_errors_are_one_line_naming_the_value_and_the_choices(tmp_path, args, fragments):
    proc = al4ml(*args, cwd=tmp_path)
    assert_one_line_error(proc, *fragments)
    assert "─" not in proc.stderr and "Usage:" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_quiet_is_accepted_after_the_command(tmp_path):
    shown = al4ml("show", str(QUICKSTART), "-q")
    assert shown.returncode == 0 and "name: digits_quickstart" in shown.stdout, shown.stderr
    proc = al4ml(
        "run",
        str(QUICKSTART),
        "-q",
        "--set",
        "training.epochs=0",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'm.db'}",
    )
    assert_one_line_error(proc, "training.epochs", "≥ 1")  # the config's error, not "no such option"


def test_no_arguments_print_the_help_alone():
    proc = al4ml()
    assert proc.returncode == 2 and "error" not in proc.stderr
    assert "Usage: al4ml" in proc.stdout + proc.stderr and "run" in proc.stdout + proc.stderr


def test_help_explains_the_commands():
    proc = al4ml("--help")
    assert proc.returncode == 0
    for command in ("run", "show", "grid", "report", "list", "ui"):
        assert command in proc.stdout
    assert "--set" in al4ml("run", "--help").stdout


def test_quickstart_end_to_end(tmp_path):
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    proc = al4ml("run", str(QUICKSTART), "--tracking-uri", uri, "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    client = get_client(uri)
    exp = client.get_experiment_by_name("digits_quickstart")
    [run] = client.search_runs([exp.experiment_id])
    history = client.get_metric_history(run.info.run_id, "test_accuracy")
    assert [m.step for m in history] == list(range(20, 201, 20))
    assert history[-1].value >= 0.85
    path = client.download_artifacts(run.info.run_id, QUERIES_ARTIFACT, str(tmp_path))
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text())))
    indices = [int(r["pool_index"]) for r in rows]
    assert len(indices) == len(set(indices)) == 200 - 20
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "queries.csv", "model", "state"} <= artifacts
    assert "Learning curve" in proc.stdout


def test_breastmnist_through_the_medmnist_package(shared_data, tmp_path):
    proc = al4ml(
        "run",
        str(REPO / "experiments" / "breastmnist.yaml"),
        "--set",
        f"dataset.root={shared_data}",
        "--set",
        "budget.total=60",
        "--set",
        "training.epochs=2",
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'm.db'}",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    client = get_client(f"sqlite:///{tmp_path / 'm.db'}")
    [run] = client.search_runs([client.get_experiment_by_name("breastmnist").experiment_id])
    assert run.data.tags["dataset"] == "breastmnist"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "test_auc")] == [20, 40, 60]


@pytest.fixture(scope="module")
def populated_store(tmp_path_factory) -> tuple[Path, str]:
    """A store with one experiment holding one run, to check bad input adds nothing."""
    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'm.db'}"
    client = get_client(uri)
    exp = client.create_experiment("existing")
    client.create_run(exp)
    return folder, uri


def store_contents(uri: str) -> tuple[list[str], int]:
    client = get_client(uri)
    exps = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in exps])
    return sorted(e.name for e in exps), len(runs)


@pytest.mark.parametrize("overrides, fragments", BAD_VALUES, ids=[" ".join(o) for o, _ in BAD_VALUES])
def test_bad_option_values_exit_2_in_one_line_before_anything_exists(populated_store, overrides, fragments):
    folder, uri = populated_store
    before = store_contents(uri)
    sets = [arg for o in overrides for arg in ("--set", o)]
    proc, imported = al4ml_imports("run", str(QUICKSTART), *sets, "--tracking-uri", uri, cwd=folder)
    assert_one_line_error(proc, *fragments)
    assert imported == [], f"imported {imported} before refusing"  # seconds on 2 cores
    assert store_contents(uri) == before


def test_show_refuses_the_same_values():
    for overrides, fragments in BAD_VALUES[:3]:
        proc = al4ml("show", str(QUICKSTART), *[a for o in overrides for a in ("--set", o)])
        assert_one_line_error(proc, *fragments)


def test_validation_imports_no_torch_mlflow_or_scikit_learn():
    code = (
        "import sys\n"
        "from al4ml.config import build_config, load_config\n"
        "from al4ml.augment import AUGMENTATIONS\nfrom al4ml.data import DATASETS\n"
        "from al4ml.models import MODELS\nfrom al4ml.query import STRATEGIES\n"
        f"for p in {[str(p) for p in sorted((REPO / 'experiments').glob('[!g]*.yaml'))]!r}:\n"
        "    load_config(p)\n"
        "for reg, key in ((AUGMENTATIONS, 'augmentation.name'), (MODELS, 'model.name'),\n"
        "                 (STRATEGIES, 'query.strategy')):\n"
        "    for name in reg.names():\n"
        "        chest = key == 'query.strategy' and 'multi-class' not in reg.get(name).meta['tasks']\n"
        "        build_config({}, [f'{key}={name}', 'model.options.dropout=0.3']\n"
        "                     + ['dataset.name=medmnist', 'dataset.options.flag=chestmnist'] * chest)\n"
        "build_config({}, ['query.strategy=modal:modAL.batch.uncertainty_batch_sampling'])\n"
        "build_config({}, ['dataset.name=medmnist', 'dataset.options.flag=pathmnist'])\n"
        "heavy = [m for m in ('torch', 'torchvision', 'mlflow', 'sklearn', 'scipy', 'modAL',\n"
        "                     'medmnist') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_version_and_json_outputs(tmp_path):
    import json

    import al4ml as package

    assert al4ml("--version").stdout.strip() == f"al4ml {package.__version__}"
    listed = json.loads(al4ml("list", "--json").stdout)
    assert [e["name"] for e in listed["strategies"]] == STRATEGIES.names()
    labels = {e["name"]: e["labels"] for e in listed["strategies"]}
    assert labels["multilabel_entropy"] == ["multi-label"] and labels["entropy"] == ["multi-class"]
    assert labels["badge"] == ["multi-class", "multi-label"]
    ra = next(e for e in listed["augmentations"] if e["name"] == "randaugment")
    assert ra["options"]["m"] == {"default": 30, "values": "an integer ≥ 0 and ≤ 30"}
    shown = json.loads(al4ml("show", str(QUICKSTART), "--json").stdout)
    from al4ml.config import load_config

    assert shown == load_config(QUICKSTART).dump()


def test_report_json_summary(tmp_path):
    import json

    from helpers import grid_parent, log_run, noisy_curve

    from al4ml.tracking import experiment_id

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = get_client(uri)
    exp = experiment_id(client, "synthetic")
    pid = grid_parent(client, exp, {"query.strategy": ["random", "entropy"], "seed": [0, 1, 2]})
    for strategy in ("random", "entropy"):
        for seed in range(3):
            log_run(
                client,
                exp,
                {"query.strategy": strategy, "seed": seed},
                noisy_curve(strategy, "none", seed),
                pid,
            )
    proc = al4ml("report", pid, "--tracking-uri", uri, "--out", str(tmp_path / "r"), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["title"] == "synthetic" and summary["grid_run"] == pid
    assert [c["label"] for c in summary["cells"]] == ["random+none", "entropy+none"]
    [comparison] = summary["comparisons"]
    assert comparison["cell"] == "entropy+none" and comparison["verdict"] == "better"
    assert summary["cells"][0]["labels_to_target_censored"] is True
    missing = tmp_path / "no.db"  # the axis is checked first: before any store is opened
    bad = al4ml(
        "report", pid, "--tracking-uri", f"sqlite:///{missing}", "--out", str(tmp_path / "r"), "--x", "money"
    )
    assert_one_line_error(bad, "unknown x axis 'money'; choose from: labels, cost")
    assert not missing.exists()
    unpriced = al4ml("report", pid, "--tracking-uri", uri, "--out", str(tmp_path / "r"), "--x", "cost")
    assert_one_line_error(unpriced, "logged no oracle_cost", "--x labels")
    against = al4ml(
        "report",
        pid,
        "--tracking-uri",
        uri,
        "--out",
        str(tmp_path / "a"),
        "--json",
        "--reference",
        "strategy=entropy",
    )
    assert against.returncode == 0, against.stderr
    [comparison] = json.loads(against.stdout)["comparisons"]
    assert (comparison["cell"], comparison["against"], comparison["verdict"]) == (
        "random+none",
        "entropy+none",
        "worse",
    )
    for value, fragment in (
        ("strategy", "--reference expects AXIS=VALUE"),
        ("strategy=margin", "no cell has query.strategy = 'margin'; choose from: random, entropy"),
    ):
        bad = al4ml("report", pid, "--tracking-uri", uri, "--out", str(tmp_path / "b"), "--reference", value)
        assert_one_line_error(bad, fragment)


def test_quiet_runs_print_results_only_and_piped_lines_are_not_wrapped(tmp_path):
    long_dir = tmp_path / ("a-rather-long-folder-name-" * 3)
    long_dir.mkdir()
    uri = f"sqlite:///{long_dir / 'store.db'}"
    proc = al4ml(
        "-q",
        "run",
        str(QUICKSTART),
        "--set",
        "budget.total=40",
        "--set",
        "training.min_steps=0",
        "--tracking-uri",
        uri,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "INFO" not in proc.stderr and "epochs" not in proc.stderr  # no MLflow logs, no bars
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("MLflow run")]
    assert len(last) == 1 and last[0].endswith(f"(browse: al4ml ui --tracking-uri {uri})")


def test_an_interrupted_run_names_itself_and_resumes_by_id_alone(tmp_path):
    import signal

    from helpers import Gate, histories, start, wait_until

    gate = Gate(tmp_path / "gate")
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    sets = ["--set", "budget.total=60", "--set", "model.options.width=4", *gate.sets]
    reference = al4ml(
        "run",
        str(QUICKSTART),
        *sets,
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'r.db'}",
        "--no-progress",
        cwd=tmp_path,
        env=gate.env,
    )
    assert reference.returncode == 0, reference.stderr
    gate.hold(2)  # Ctrl+C comes while the run waits at its second query, one round stored
    # A shell that starts this suite in the background makes it ignore SIGINT, and an
    # ignored signal stays ignored in the run; a handled one is reset to the default there.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = start(
            "run", str(QUICKSTART), *sets, "--tracking-uri", uri, "--no-progress", cwd=tmp_path, env=gate.env
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    client = get_client(uri)
    gate.wait_held(2)

    def first_round():
        exp = client.get_experiment_by_name("digits_quickstart")
        runs = client.search_runs([exp.experiment_id]) if exp else []
        return runs and client.get_metric_history(runs[0].info.run_id, "n_labeled") and runs[0]

    run_id = wait_until(first_round, "the first round in the store").info.run_id
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 130 and f"al4ml resume {run_id} --tracking-uri {uri}" in err, err
    gate.release(2)
    resumed = al4ml("resume", run_id, "--tracking-uri", uri, "--no-progress", cwd=tmp_path, env=gate.env)
    assert resumed.returncode == 0, resumed.stderr
    assert "Downloading artifacts" not in resumed.stderr  # no MLflow progress bars among our lines
    ref_client = get_client(f"sqlite:///{tmp_path / 'r.db'}")
    [ref] = ref_client.search_runs([ref_client.get_experiment_by_name("digits_quickstart").experiment_id])
    assert histories(client, run_id) == histories(ref_client, ref.info.run_id)
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_relative_dataset_root_is_taken_from_the_config_files_folder(tmp_path):
    import yaml

    folder = tmp_path / "experiments"
    folder.mkdir()
    config = yaml.safe_load((REPO / "experiments" / "breastmnist.yaml").read_text())
    config["dataset"]["root"] = "../data"
    (folder / "mine.yaml").write_text(yaml.safe_dump(config))
    shown = yaml.safe_load(al4ml("show", "experiments/mine.yaml", cwd=tmp_path).stdout)
    assert Path(shown["dataset"]["root"]) == (tmp_path / "data").resolve()
    elsewhere = yaml.safe_load(al4ml("show", str(folder / "mine.yaml"), cwd=REPO).stdout)
    assert elsewhere["dataset"]["root"] == shown["dataset"]["root"]


def test_ui_refuses_a_busy_port_in_one_line(tmp_path):
    import socket

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    get_client(uri)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = al4ml("ui", "--tracking-uri", uri, "--port", str(port), cwd=tmp_path)
    assert_one_line_error(proc, f"port {port}", "not free", "--port")


def test_sigterm_stops_the_ui_and_every_process_it_started(tmp_path):
    import signal
    import socket
    import urllib.request

    from helpers import free_port, pid_alive, start, wait_until

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    get_client(uri)
    port = free_port()
    proc = start("ui", "--tracking-uri", uri, "--port", str(port), cwd=tmp_path)

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_until(answers, "the UI's first answer")
    except AssertionError:
        proc.send_signal(signal.SIGTERM)
        raise
    children = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
        and _session_of(int(p.name)) not in (None, _session_of(proc.pid))
        and _ancestor(int(p.name), proc.pid)
    ]
    commands = [Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode() for p in children]
    proc.send_signal(signal.SIGTERM)  # first: a failed assertion below must not leave the UI running
    assert proc.wait(timeout=HANG) == 0
    assert children, "al4ml ui started no MLflow process"
    assert not [c for c in commands if "huey" in c or "job_runner" in c], commands  # no GenAI jobs
    wait_until(lambda: not any(pid_alive(p) for p in children), "the end of every UI process", every=0.2)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds
        s.bind(("127.0.0.1", port))  # the port is free again: nothing listens on it


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _session_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[3]) if fields else None


def _ancestor(pid: int, ancestor: int) -> bool:
    """Whether ``ancestor`` is a parent, grandparent, ... of ``pid``."""
    while pid > 1:
        fields = _stat(pid)
        if fields is None:
            return False
        pid = int(fields[1])
        if pid == ancestor:
            return True
    return False


def test_the_lc25000_setup_runs_on_a_generated_tree_and_records_its_split(tmp_path):
    from al4ml.data.imagefolder import write_synthetic_tree
    from al4ml.tracking import get_client

    tree = write_synthetic_tree(tmp_path / "lc", per_class=6, size=128)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    small = [
        "dataset.options.size=32",
        "model.options.hidden=16",
        "training.epochs=1",
        "budget.initial=5",
        "budget.per_round=5",
        "budget.total=10",
    ]
    sets = [a for s in [f"dataset.root={tree}", *small] for a in ("--set", s)]
    config = str(REPO / "experiments" / "lc25000.yaml")
    proc = al4ml("run", config, *sets, "--tracking-uri", uri, "--no-progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Piped, the run says what it learns from first: classes and split sizes.
    assert proc.stdout.splitlines()[0] == (
        "lc: 5 classes (colon_aca, colon_n, lung_aca, lung_n, "
        "lung_scc), pool 20, val 5, test 5 images of 3x32x32"
    )
    client = get_client(uri)
    [run] = client.search_runs([client.get_experiment_by_name("lc25000").experiment_id])
    assert run.data.params["dataset.options.split"] == "[0.7, 0.15, 0.15]"
    assert run.data.params["model.name"] == "simple_cnn"
    assert run.data.metrics["n_labeled"] == 10
    classes = ["colon_aca", "colon_n", "lung_aca", "lung_n", "lung_scc"]
    assert json.loads(run.data.tags["classes"]) == classes
    assert (
        json.loads(
            Path(client.download_artifacts(run.info.run_id, "classes.json", str(tmp_path))).read_text()
        )
        == classes
    )
    # The queried images, by file: what an expert would be sent.
    text = Path(client.download_artifacts(run.info.run_id, "queries.csv", str(tmp_path))).read_text()
    queries = list(csv.DictReader(io.StringIO(text)))
    assert len(queries) == 5 and all((tree / q["path"]).is_file() for q in queries)
    assert {q["path"].split("/")[0] for q in queries} <= set(classes)
    unsplit = al4ml("run", config, *sets, "--set", "dataset.options.split=null", "--tracking-uri", uri)
    assert_one_line_error(unsplit, "set dataset.options.split")


def test_a_command_ends_with_everything_frozen():
    # A handler registered before the command runs after al4ml's own (exit handlers run
    # last-in, first-out): by then every live object is frozen, so the interpreter ends
    # without full collections over torch's and MLflow's modules.
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 10000))\n"
        "from al4ml.cli import main\n"
        "sys.argv = ['al4ml', 'list', 'models']\n"
        "main()\n"
    )
    proc = python(code)
    assert proc.returncode == 0, proc.stderr
    assert "resnet18" in proc.stdout and proc.stdout.splitlines()[-1] == "frozen True", proc.stdout


def test_runs_lists_run_ids_and_refuses_an_unknown_experiment(tmp_path):
    import json

    from al4ml.tracking import experiment_id

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = get_client(uri)
    run = client.create_run(
        experiment_id(client, "listed"), tags={"al4ml.role": "run"}, run_name="entropy+none/s0"
    )
    client.log_metric(run.info.run_id, "n_labeled", 40, step=40)
    client.set_terminated(run.info.run_id)
    listed = al4ml("runs", "--tracking-uri", uri, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row == {
        "run_id": run.info.run_id,
        "experiment": "listed",
        "name": "entropy+none/s0",
        "role": "run",
        "status": "FINISHED",
        "labels": 40.0,
        "test_accuracy": None,
    }
    table = al4ml("runs", "listed", "--tracking-uri", uri, cwd=tmp_path)
    assert table.returncode == 0 and run.info.run_id in table.stdout
    assert_one_line_error(
        al4ml("runs", "lsted", "--tracking-uri", uri, cwd=tmp_path), "no experiment 'lsted'", "listed"
    )
    parent = client.create_run(experiment_id(client, "listed"), tags={"al4ml.role": "grid"})
    cell = client.create_run(
        experiment_id(client, "listed"),
        run_name="random+none/s0",
        tags={"al4ml.role": "cell", "mlflow.parentRunId": parent.info.run_id},
    )
    client.set_terminated(cell.info.run_id, "FAILED")

    def ids(*options: str) -> list[str]:
        proc = al4ml("runs", "--tracking-uri", uri, "--json", *options, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return [r["run_id"] for r in json.loads(proc.stdout)]

    assert ids("--status", "FAILED") == [cell.info.run_id]
    assert ids("--grid", parent.info.run_id) == [cell.info.run_id]
    assert ids("--status", "FINISHED") == [run.info.run_id]
    assert_one_line_error(
        al4ml("runs", "--tracking-uri", uri, "--status", "DONE", cwd=tmp_path),
        "'DONE' is not one of",
        "FINISHED",
    )


def test_a_piped_run_writes_a_line_per_round_as_it_goes(tmp_path):
    from helpers import Gate, wait_until

    gate = Gate(tmp_path / "gate")
    gate.hold(2)  # the run waits at its second query: round 0 is over, the run is not
    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "al4ml.cli",
                "run",
                str(QUICKSTART),
                "--set",
                "budget.total=60",
                "--set",
                "training.min_steps=0",
                "--tracking-uri",
                f"sqlite:///{tmp_path / 'm.db'}",
                *gate.sets,
            ],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **gate.env},
        )
        gate.wait_held(2)
        line = wait_until(
            lambda: [ln for ln in log.read_text().splitlines() if ln.startswith("round ")],
            "the first round's line in the log",
        )
        assert line == [line[0]] and line[0].startswith("round 0: 20 labels, test acc 0."), line
        gate.release(2)
        assert proc.wait(timeout=HANG) == 0
    text = log.read_text()
    assert [ln.split(":")[0] for ln in text.splitlines() if ln.startswith("round ")] == [
        "round 0",
        "round 1",
        "round 2",
    ]
    assert "Learning curve" in text  # the table still closes the output


def test_json_results_are_the_only_stdout_of_run_grid_and_baseline(tmp_path):
    """--json: scripts read one JSON object from stdout (run ids, status, final metrics);
    everything else a command says goes to stderr or is not said."""
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    small = [
        a for s in ("budget.total=40", "training.min_steps=0", "training.epochs=2") for a in ("--set", s)
    ]
    proc = al4ml("run", str(QUICKSTART), *small, "--tracking-uri", uri, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # the whole of stdout is one object
    assert result["status"] == "FINISHED" and result["n_labeled"] == 40 and result["rounds"] == 2
    assert 0 <= result["metrics"]["test_accuracy"] <= 1
    assert get_client(uri).get_run(result["run_id"]).info.status == "FINISHED"
    grid = tmp_path / "g.yaml"
    grid.write_text(
        f"name: g\nbase: {QUICKSTART}\nset: {{budget.total: 40, training.min_steps: 0, "
        "training.epochs: 2}\naxes:\n  seed: [0, 1]\n"
    )
    first = al4ml("grid", str(grid), "--tracking-uri", uri, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["grid"] == "g" and summary["failed"] == 0
    assert [(c["status"], c["action"], c["n_labeled"]) for c in summary["cells"]] == [
        ("FINISHED", "new", 40.0)
    ] * 2
    again = json.loads(al4ml("grid", str(grid), "--tracking-uri", uri, "--json", cwd=tmp_path).stdout)
    assert [c["run_id"] for c in again["cells"]] == [c["run_id"] for c in summary["cells"]]
    assert {c["action"] for c in again["cells"]} == {"done"}
    base = al4ml(
        "baseline",
        str(QUICKSTART),
        "--set",
        "training.epochs=1",
        "--tracking-uri",
        uri,
        "--json",
        cwd=tmp_path,
    )
    assert base.returncode == 0, base.stderr
    [run] = json.loads(base.stdout)["runs"]
    assert run["status"] == "FINISHED" and run["n_labeled"] > 1000


def test_baselines_of_a_grid_are_named_by_what_differs_and_reported_together(shared_data, tmp_path):
    """experiments/grid_baselines_breastmnist.yaml on the real BreastMNIST file: six runs,
    six names (last vs best_val, three seeds), one summary table, and al4ml report on the
    experiment gives the last-vs-best_val table."""
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    grid = REPO / "experiments" / "grid_baselines_breastmnist.yaml"
    small = [
        a
        for s in (
            "training.epochs=2",
            "model.name=tiny_cnn",
            "training.batch_size=64",
            f"dataset.root={shared_data}",
        )
        for a in ("--set", s)
    ]
    proc = al4ml("baseline", str(grid), *small, "--tracking-uri", uri, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "6 baseline run(s): the full training split" in proc.stdout
    client = get_client(uri)
    runs = client.search_runs([client.get_experiment_by_name("baselines_breastmnist").experiment_id])
    assert sorted(r.info.run_name for r in runs) == sorted(
        f"baseline+none+select={s}/s{seed}" for s in ("last", "best_val") for seed in range(3)
    )
    assert {r.data.tags["axis.training.select"] for r in runs} == {"last", "best_val"}
    report = al4ml(
        "report",
        "baselines_breastmnist",
        "--tracking-uri",
        uri,
        "--out",
        str(tmp_path / "r"),
        "--json",
        cwd=tmp_path,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    rows = {b["values"]["training.select"]: b for b in json.loads(report.stdout)["baselines"]}
    assert set(rows) == {"last", "best_val"} and all(b["seeds"] == ["0", "1", "2"] for b in rows.values())
    assert all(e is None for e in rows["last"]["selected_epoch"])
    assert all(1 <= e <= 2 for e in rows["best_val"]["selected_epoch"])
    text = (tmp_path / "r" / "report.md").read_text()
    assert "| training.select | seeds | test accuracy (mean ± sd) |" in text.replace("augmentation | ", "")
