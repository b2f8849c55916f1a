"""A query strategy that holds its run at chosen queries until a test releases it.

End-to-end tests that need a run in a given state at a given moment (the tracking server
stopped after round r's metrics were sent, a worker killed between two rounds, Ctrl+C in
the middle of a run) hold the run there by construction instead of guessing how fast the
machine trains. This is an ordinary al4ml plugin (``tests/plugins`` on ``PYTHONPATH``), so
it reaches grid workers as any installed strategy does.

Protocol, in the folder ``query.params.gate``: the process's ``c``-th call of the strategy
(1-based; in a cohort every cell's query counts) holds while a file ``hold-<c>`` exists.
Holding, it writes ``held-<c>-<pid>``; deleting ``hold-<c>`` releases it. A file ``fail-<c>``
makes that call raise (a run that fails mid-run). The picks are seeded random picks, the
same whether or not a call was held.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from al4ml.query import Selection, register_strategy

RELEASE_SECONDS = 2 * 3600.0
"""A hold nobody releases fails the query (and so the cell) instead of hanging the suite."""

_calls = 0


@register_strategy("gated", needs=("n",))
def gated(*, k: int, generator: torch.Generator, n: int, gate: str = "") -> Selection:
    """Random picks ``[k]``; at a call whose ``hold-<c>`` file exists, wait for its removal."""
    global _calls
    _calls += 1
    if gate and (Path(gate) / f"fail-{_calls}").exists():
        raise RuntimeError(f"planted failure at query {_calls}")
    hold = Path(gate) / f"hold-{_calls}"
    if gate and hold.exists():
        (Path(gate) / f"held-{_calls}-{os.getpid()}").touch()
        deadline = time.monotonic() + RELEASE_SECONDS
        while hold.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{hold} was not released within {RELEASE_SECONDS:.0f} s")
            time.sleep(0.05)
    idx = torch.randperm(n, generator=generator, device=generator.device)[:k]
    return idx, torch.full((len(idx),), float("nan"), device=idx.device)
