"""Run any modAL query strategy inside the deep loop.

modAL strategies take a fitted scikit-learn-style estimator and a pool ``X``. al4ml hands
them :class:`EmbeddingClassifier`: ``X`` are the pool's penultimate embeddings and
``predict_proba`` runs the trained model's classifier head on them, so modAL's uncertainty,
batch-diversity and density measures all see the current network.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

from al4ml.errors import ConfigError
from al4ml.query import Selection, register_strategy

if TYPE_CHECKING:
    import numpy as np
    import torch

PREFIX = "modal:"
DEFAULT_FUNCTION = "modAL.uncertainty.uncertainty_sampling"
EXAMPLE = "e.g. modAL.uncertainty.margin_sampling"


def _module_spec(module: str) -> importlib.machinery.ModuleSpec:
    """Find ``module`` without executing any package ``__init__`` (modAL's imports scikit-learn).

    Raises:
        ValueError: naming the first part of the dotted path that does not exist.
    """
    parts = module.split(".")
    spec = importlib.util.find_spec(parts[0])
    for i in range(1, len(parts)):
        if spec is None:
            break
        if spec.submodule_search_locations is None:
            raise ValueError(
                f"{'.'.join(parts[:i])!r} is a module, not a package, so it has no module {parts[i]!r}"
            )
        spec = importlib.machinery.PathFinder.find_spec(
            ".".join(parts[: i + 1]), list(spec.submodule_search_locations)
        )
        if spec is None:
            raise ValueError(
                f"no module {'.'.join(parts[: i + 1])!r} (package {'.'.join(parts[:i])!r} exists)"
            )
    if spec is None:
        raise ValueError(f"no module {parts[0]!r} is installed")
    return spec


def _defines(source: str, name: str) -> bool | None:
    """Whether a module's top level defines ``name``; ``None`` when that cannot be read off."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return None
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    if "__getattr__" in names:
        return None
    return name in names


def check_function(function: str) -> str:
    """Check that ``module.function`` exists, naming the failing part, without importing it.

    The module is located with importlib's finders and its source read with :mod:`ast`;
    a module already imported, or one whose names cannot be read off its source (compiled,
    star imports, a module ``__getattr__``), is imported instead.
    """
    module, _, name = function.rpartition(".")
    if not module or not name:
        raise ValueError(f"{function!r} is not module.function ({EXAMPLE})")
    if module in sys.modules:
        found: bool | None = hasattr(sys.modules[module], name)
    else:
        spec = _module_spec(module)
        origin = Path(spec.origin) if spec.origin else None
        found = _defines(origin.read_text(), name) if origin is not None and origin.suffix == ".py" else None
        if found is None:
            found = hasattr(importlib.import_module(module), name)
    if not found:
        raise ValueError(f"module {module!r} has no function {name!r} ({EXAMPLE})")
    return function


def resolve(function: str) -> Callable[..., object]:
    """Import ``module.function`` (e.g. ``modAL.batch.uncertainty_batch_sampling``)."""
    module, _, name = function.rpartition(".")
    try:
        fn = getattr(importlib.import_module(module), name) if module else None
    except ImportError:
        fn = None
    if not callable(fn):
        raise ConfigError(f"query.params.function: cannot import modAL strategy {function!r} ({EXAMPLE})")
    return fn


Function = Annotated[str, AfterValidator(check_function)]


class EmbeddingClassifier:
    """A scikit-learn-style estimator backed by a trained classifier head.

    Args:
        head: Maps ``[B, D]`` embeddings to ``[B, C]`` logits (the model's last layer).
        labeled: ``[M, D]`` embeddings of the labeled items (modAL reads ``X_training``).
        device: Where the head runs.
    """

    def __init__(
        self, head: Callable[[torch.Tensor], torch.Tensor], labeled: np.ndarray, device: torch.device
    ) -> None:
        self.head = head
        self.X_training = labeled
        self.device = device
        self.estimator = self  # modAL's learners expose .estimator; some helpers read it
        self.on_transformed = False  # X already is the representation modAL should compare

    def predict_proba(self, X: np.ndarray, **_: object) -> np.ndarray:
        """Class probabilities ``[N, C]`` for embedding rows ``X [N, D]``."""
        import numpy as np
        import torch

        with torch.inference_mode():
            x = torch.as_tensor(np.asarray(X), dtype=torch.float32, device=self.device)
            return torch.softmax(self.head(x).float(), dim=1).cpu().numpy()

    def transform_without_estimating(self, X: np.ndarray) -> np.ndarray:
        """Identity: the embeddings are the features."""
        return X

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most likely class per row."""
        return self.predict_proba(X).argmax(1)


@register_strategy("modal", needs=("classifier", "embeddings"))
def modal(
    *,
    k: int,
    generator: torch.Generator,
    classifier: EmbeddingClassifier,
    embeddings: torch.Tensor,
    function: Function = DEFAULT_FUNCTION,
) -> Selection:
    """Any modAL query strategy (query.strategy: modal:<module.function>) on the live model."""
    import numpy as np
    import torch

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
