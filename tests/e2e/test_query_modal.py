from helpers import tiny_config

from al4ml.experiment import run_experiment
from al4ml.tracking import get_client


def test_modal_batch_strategy_runs_a_digits_experiment_into_mlflow(tracking_uri):
    cfg = tiny_config(**{"query.strategy": "modal:modAL.batch.uncertainty_batch_sampling"})
    result = run_experiment(cfg, tracking_uri, progress=False)
    client = get_client(tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.tags["strategy"] == "modal:modAL.batch.uncertainty_batch_sampling"
    assert run.data.params["query.params.function"] == "modAL.batch.uncertainty_batch_sampling"
    steps = [m.step for m in client.get_metric_history(result.run_id, "test_accuracy")]
    assert steps == [10, 20, 30, 40]
    queried = [i for r in result.state.history for i in r.queried]
    assert len(set(queried)) == 30
