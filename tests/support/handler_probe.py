"""Import a real handler in a fresh interpreter, as a cold start would, and read what a probe script prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def probe_handler(folder: str, probe: str, environment: dict[str, str]) -> dict[str, Any]:
    """Run `probe` (which imports `app` and prints one JSON line last) in `functions/<folder>` with the shared layer
    on the path, the developer's AWS, Powertools and Lambda variables removed, and `environment` added."""
    code_dir = REPO / "functions" / folder
    base = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_", "LAMBDA_"))}
    base["PYTHONPATH"] = os.pathsep.join([str(code_dir), str(REPO / "layers" / "stratoflow")])
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        env={**base, "AWS_REGION": "us-east-1", **environment},
        cwd=code_dir,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))
