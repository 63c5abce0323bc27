"""What every benchmark shares: where results go and how they are written."""

from __future__ import annotations

import json
import re
from pathlib import Path

from indexer.files import atomic_write

PROJECT = Path(__file__).resolve().parents[1]  # the project's own tree
RESULTS = Path(__file__).parent / "results"


def write_result(name: str, repo: Path, result: dict, out: Path | None = None) -> Path:
    """Write `result` as JSON to `out`, or benchmarks/results/<name>-<repo>.json, atomically."""
    out = out or RESULTS / f"{name}-{repo.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    atomic_write(out, lambda tmp: tmp.write_text(text))
    return out


def percentile(xs: list[float], q: float) -> float:
    """The value below which a share `q` of `xs` falls (nearest rank); 0 for none."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


def latency_ms(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and max of durations in seconds, in milliseconds, with the count."""
    ms = [x * 1000 for x in seconds]
    return {"p50_ms": round(percentile(ms, 0.5), 3), "p99_ms": round(percentile(ms, 0.99), 3),
            "max_ms": round(max(ms), 3) if ms else 0.0, "n": len(ms)}


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? ", re.M)


def old_hunks(diff: str) -> list[tuple[int, int]]:
    """(first line, line count) in the old file of each hunk of a unified diff; a count of 0
    is an insertion after that line (git omits a count of 1)."""
    return [(int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)) for m in _HUNK.finditer(diff)]
