"""OpenMP threads that sleep while they wait for work.

torch (the embedder, the local model) and faiss run their parallel work on OpenMP threads.
By default libgomp's threads spin for a while after each parallel region, and on a machine
of two cores that spin takes the core the rest of the process needs. Back-to-back hybrid
searches on sympy (60 issue texts) took 68-78 ms p50 spinning against 49-55 ms passive;
beside a busy indexer, the local model generated 1.3 tokens/s spinning against 15 passive.
"""

from __future__ import annotations

import os
import sys


def passive_waits() -> bool:
    """Ask OpenMP threads to sleep while they wait (a setting already in the environment
    wins). libgomp reads it once, when torch or faiss first loads it: True if neither is
    loaded yet, so that the setting takes effect."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules and "faiss" not in sys.modules
