"""``python -m benchmarks [NAME …]``: run the benchmarks (all, or those named) one after another.

Each also runs alone with its own options (``python -m benchmarks.ingest --help``); run this
way they use their defaults. Figures are noisy on a shared machine: compare the
ratios each benchmark prints, which it measures against its baselines in the same run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    available = sorted(
        p.stem
        for p in HERE.glob("*.py")
        if not p.stem.startswith("_") and '__name__ == "__main__"' in p.read_text()
    )
    names = argv or available
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; have: {', '.join(available)}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        print(f"== {name}", flush=True)
        failed += (
            subprocess.run(
                [sys.executable, "-m", f"benchmarks.{name}"], cwd=HERE.parent, check=False
            ).returncode
            != 0
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
