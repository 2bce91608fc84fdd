"""The million-line benchmark keeps running, at a tiny size: it completes, and the engine finds
every discrepancy its generator injects as the injected kind (accuracy is behaviour; the
timings it prints are not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "recon_million.py"


def test_the_recon_bench_at_2000_lines_finds_every_injected_kind(tmp_path: Path) -> None:
    figures_path = tmp_path / "figures.json"
    done = subprocess.run(  # noqa: S603 -- our own script, a fixed argument list
        [sys.executable, str(BENCH), "--lines", "2000", "--json", str(figures_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(figures_path.read_text())
    assert figures["lines_internal"] == 2000
    wrong = [row for row in figures["confusion"] if not row[4]]
    assert wrong == [], wrong
    assert figures["all_found"] is True
    # Every injected kind was there to be found, on the side(s) it was injected.
    found_kinds = {kind for _side, kind, _found, _count, _right in figures["confusion"]}
    assert set(figures["injected"]) <= found_kinds | {"batches"}
    assert {"batch", ""} <= found_kinds
    ambiguous = sum(row[3] for row in figures["confusion"] if row[2] == "ambiguous")
    assert ambiguous <= 0.001 * (figures["lines_internal"] + figures["lines_external"])
    assert "every injected line found as its kind: yes" in done.stdout
