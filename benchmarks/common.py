"""What every benchmark shares: where results go and how they are written."""

from __future__ import annotations

import json
from pathlib import Path

from indexer.files import atomic_write

RESULTS = Path(__file__).parent / "results"


def write_result(name: str, repo: Path, result: dict, out: Path | None = None) -> Path:
    """Write `result` as JSON to `out`, or benchmarks/results/<name>-<repo>.json, atomically."""
    out = out or RESULTS / f"{name}-{repo.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    atomic_write(out, lambda tmp: tmp.write_text(text))
    return out
