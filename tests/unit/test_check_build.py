"""check-build's .pyc check: a built layer must ship every module compiled, hash-based, for Lambda's read-only /opt."""

from __future__ import annotations

import py_compile
from pathlib import Path

from stratoflow_local.check_build import uncompiled_modules


def _module(folder: Path, name: str) -> Path:
    source = folder / "package" / f"{name}.py"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("VALUE = 1\n", encoding="utf-8")
    return source


def test_only_modules_compiled_hash_based_pass(tmp_path: Path) -> None:
    missing = _module(tmp_path, "missing")
    timestamped = _module(tmp_path, "timestamped")
    unchecked = _module(tmp_path, "unchecked")
    checked = _module(tmp_path, "checked")
    py_compile.compile(str(timestamped), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    py_compile.compile(str(unchecked), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    py_compile.compile(str(checked), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)

    assert uncompiled_modules(tmp_path) == [missing, timestamped]


def test_a_fully_compiled_folder_passes(tmp_path: Path) -> None:
    source = _module(tmp_path, "only")
    py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)

    assert uncompiled_modules(tmp_path) == []
