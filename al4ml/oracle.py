"""The simulated expert: the only holder of pool labels.

Nothing else in al4ml keeps a reference to the pool's ground truth. The loop learns a label
only by asking :meth:`SimulatedOracle.label` for it, and the oracle refuses anything a real
annotator would not be asked (out-of-range, repeated or already-labeled items).
"""

from __future__ import annotations

import torch

from al4ml.errors import OracleError


class SimulatedOracle:
    """Reveals ground-truth labels of queried pool items and counts the labels spent.

    Args:
        labels: Pool labels ``[N]`` (int64). The oracle keeps its own copy.
    """

    def __init__(self, labels: torch.Tensor) -> None:
        self.__labels = labels.detach().to("cpu", torch.int64).clone()
        self.__revealed = torch.zeros(len(self.__labels), dtype=torch.bool)

    @property
    def pool_size(self) -> int:
        """Number of items in the pool."""
        return len(self.__labels)

    @property
    def labels_spent(self) -> int:
        """How many labels have been revealed so far."""
        return int(self.__revealed.sum())

    def label(self, indices: torch.Tensor) -> torch.Tensor:
        """Reveal the labels of ``indices`` ``[k]`` (pool positions); returns ``[k]`` int64 (CPU).

        Raises:
            OracleError: if an index is out of range, repeated in the query, or already labeled.
        """
        idx = torch.as_tensor(indices).detach().to("cpu", torch.int64).reshape(-1)
        n = self.pool_size
        bad = idx[(idx < 0) | (idx >= n)]
        if len(bad):
            raise OracleError(f"pool index {int(bad[0])} is out of range [0, {n})")
        if len(torch.unique(idx)) != len(idx):
            values, counts = torch.unique(idx, return_counts=True)
            raise OracleError(f"pool index {int(values[counts > 1][0])} is queried twice")
        again = idx[self.__revealed[idx]]
        if len(again):
            raise OracleError(f"pool index {int(again[0])} is already labeled")
        self.__revealed[idx] = True
        return self.__labels[idx].clone()
