"""Run any modAL query strategy inside the deep loop.

modAL strategies take a fitted scikit-learn-style estimator and a pool ``X``. al4ml hands
them :class:`EmbeddingClassifier`: ``X`` are the pool's penultimate embeddings and
``predict_proba`` runs the trained model's classifier head on them, so modAL's uncertainty,
batch-diversity and density measures all see the current network.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
import torch

from al4ml.errors import ConfigError
from al4ml.query import Selection, register_strategy

PREFIX = "modal:"


class EmbeddingClassifier:
    """A scikit-learn-style estimator backed by a trained classifier head.

    Args:
        head: Maps ``[B, D]`` embeddings to ``[B, C]`` logits (the model's last layer).
        labeled: ``[M, D]`` embeddings of the labeled items (modAL reads ``X_training``).
        device: Where the head runs.
    """

    def __init__(self, head: Callable[[torch.Tensor], torch.Tensor], labeled: np.ndarray,
                 device: torch.device) -> None:
        self.head = head
        self.X_training = labeled
        self.device = device
        self.estimator = self  # modAL's learners expose .estimator; some helpers read it
        self.on_transformed = False  # X already is the representation modAL should compare

    def predict_proba(self, X: np.ndarray, **_: object) -> np.ndarray:
        """Class probabilities ``[N, C]`` for embedding rows ``X [N, D]``."""
        with torch.inference_mode():
            x = torch.as_tensor(np.asarray(X), dtype=torch.float32, device=self.device)
            return torch.softmax(self.head(x).float(), dim=1).cpu().numpy()

    def transform_without_estimating(self, X: np.ndarray) -> np.ndarray:
        """Identity: the embeddings are the features."""
        return X

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most likely class per row."""
        return self.predict_proba(X).argmax(1)


def resolve(function: str) -> Callable[..., object]:
    """Import ``module.function`` (e.g. ``modAL.batch.uncertainty_batch_sampling``)."""
    module, _, name = function.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), name) if module else None
    except ImportError:
        fn = None
    if not callable(fn):
        raise ConfigError(f"query.params.function: cannot import modAL strategy {function!r} "
                          "(expected module.function, e.g. modAL.uncertainty.margin_sampling)")
    return fn


DEFAULT_FUNCTION = "modAL.uncertainty.uncertainty_sampling"


def check_params(params: dict[str, object]) -> None:
    """Fail before the run if ``function`` cannot be imported."""
    resolve(str(params.get("function", DEFAULT_FUNCTION)))


@register_strategy("modal", needs=("classifier", "embeddings"), check=check_params)
def modal(*, k: int, generator: torch.Generator, classifier: EmbeddingClassifier,
          embeddings: torch.Tensor, function: str = DEFAULT_FUNCTION) -> Selection:
    """Any modAL query strategy (query.strategy: modal:<module.function>) on the live model."""
    fn = resolve(function)
    X = embeddings.detach().float().cpu().numpy()
    state = np.random.get_state()
    np.random.seed(int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device)))
    try:
        out = fn(classifier, X, n_instances=min(k, len(X)))
    finally:
        np.random.set_state(state)
    idx = out[0] if isinstance(out, tuple) else out
    idx = torch.as_tensor(np.asarray(idx, dtype=np.int64).reshape(-1), device=embeddings.device)
    return idx, torch.full((len(idx),), float("nan"), device=embeddings.device)
