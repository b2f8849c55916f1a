import numpy as np
import pytest
import torch
from helpers import write_multilabel_npz
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

from al4ml.data import create_dataset
from al4ml.device import Execution, to_input
from al4ml.infer import auc_score, metrics, predict
from al4ml.models import create_model
from al4ml.models.stack import StackedClassifier
from al4ml.task import MULTI_LABEL, Task

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return create_dataset("digits")


def test_predict_is_batched_without_augmentation_and_matches_eval_forward(digits):
    models = [create_model("tiny_cnn", 1, 10, width=8).eval() for _ in range(3)]
    x = digits.pool_images[:100]
    a = predict(StackedClassifier(models), x, Execution.of(CPU), batch_size=7, embeddings=True)
    assert a.probs.shape == (3, 100, 10) and a.embeddings.shape == (3, 100, models[0].embed_dim)
    for k, model in enumerate(models):
        with torch.no_grad():
            ref = torch.softmax(model(to_input(x)), 1)
        assert torch.allclose(a.probs[k], ref, atol=1e-6)


def test_auc_follows_medmnist_evaluator():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    p = rng.dirichlet(np.ones(4), 200)
    expected = np.mean([roc_auc_score(y == c, p[:, c]) for c in range(4)])
    assert auc_score(y, p) == pytest.approx(expected)
    yb = rng.integers(0, 2, 100)
    pb = rng.dirichlet(np.ones(2), 100)
    assert auc_score(yb, pb) == pytest.approx(roc_auc_score(yb, pb[:, 1]))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("classes", [2, 3, 10])
@pytest.mark.parametrize("seed", range(4))
def test_metrics_equal_scikit_learns_with_ties_and_missing_classes(classes, seed):
    rng = np.random.default_rng(seed)
    n = 60
    y = rng.integers(0, classes, n)
    if classes > 2 and seed % 2:
        y[y == classes - 1] = 0  # a class absent from the labels
    p = rng.dirichlet(np.ones(classes), n)
    p = np.round(p, 1)  # many ties
    p = p / p.sum(1, keepdims=True)
    m = metrics(torch.tensor(p, dtype=torch.float32), torch.tensor(y))
    p32 = torch.tensor(p, dtype=torch.float32).numpy()
    pred = p32.argmax(1)
    assert m.accuracy == pytest.approx(accuracy_score(y, pred))
    assert m.balanced_accuracy == pytest.approx(balanced_accuracy_score(y, pred))
    if classes == 2:
        expected = roc_auc_score(y, p32[:, 1])
    else:
        expected = np.mean(
            [roc_auc_score(y == c, p32[:, c]) for c in range(classes) if 0 < (y == c).sum() < n]
        )
    assert m.auc == pytest.approx(expected, abs=1e-12)


def test_auc_is_nan_when_the_labels_have_one_class():
    assert np.isnan(auc_score(np.zeros(5, dtype=int), np.full((5, 2), 0.5)))


@pytest.mark.parametrize("seed", range(3))
def test_multi_label_metrics_match_medmnist_evaluator(tmp_path, seed):
    """ChestMNIST-shaped labels read by ``medmnist.Evaluator`` itself, scores with ties."""
    import medmnist

    write_multilabel_npz(tmp_path / "chestmnist.npz", seed=seed)
    evaluator = medmnist.Evaluator("chestmnist", "test", root=str(tmp_path))
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(evaluator.labels.shape), 1).astype(np.float32)  # ties, and 0.5
    expected = evaluator.evaluate(scores)
    y = torch.from_numpy(evaluator.labels.astype(np.int64))
    m = metrics(torch.from_numpy(scores), y, Task(MULTI_LABEL))
    assert m.auc == pytest.approx(expected.AUC, abs=1e-12)
    assert m.accuracy == pytest.approx(expected.ACC, abs=1e-12)
    per_finding = [balanced_accuracy_score(evaluator.labels[:, j], scores[:, j] > 0.5) for j in range(14)]
    assert m.balanced_accuracy == pytest.approx(np.mean(per_finding))
    p, t = scores.astype(np.float64).clip(1e-7, 1 - 1e-7), evaluator.labels
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert m.loss == pytest.approx(float(bce.mean()), rel=1e-5)
