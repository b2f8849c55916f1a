"""What every benchmark script shares: its command line and device synchronisation.

Importing this module also puts the repository root on ``sys.path``, so the scripts run
from a checkout without installing al4ml.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parser(doc: str | None, quick_help: str) -> argparse.ArgumentParser:
    """An argument parser with ``--device`` (CUDA when available) and ``--quick``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help=quick_help)
    return ap


def sync(device: torch.device) -> None:
    """Wait for the device, so that wall-clock timings cover the queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize()
