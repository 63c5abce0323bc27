"""OpenMP threads that sleep while they wait for work.

torch (the embedder, the local model) and faiss run their parallel work on OpenMP threads,
each library with its own copy of libgomp. By default libgomp's threads spin for a while
after each parallel region, and on a machine of two cores that spin takes the core the rest
of the process needs. Back-to-back hybrid searches on sympy (60 issue texts) took 68-78 ms
p50 spinning against 49-55 ms passive; beside a busy indexer, the local model generated 1.3
tokens/s spinning against 15 passive.
"""

from __future__ import annotations

import os
import sys


def passive_waits() -> bool:
    """Ask OpenMP threads to sleep while they wait, unless the environment already says how
    they wait. Each libgomp reads this once, when it is loaded: call it before importing
    torch or faiss. False where torch's threads will spin anyway: torch was loaded before the
    setting was made, or the environment asks for another policy."""
    unset = "OMP_WAIT_POLICY" not in os.environ
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    late = unset and "torch" in sys.modules
    return not late and os.environ["OMP_WAIT_POLICY"].upper() == "PASSIVE"
