"""The README and docs/ link only to files that exist in the repository (no dangling or outside references)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", REPO / "sdk" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_names_a_file_of_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    targets = [target.split("#", 1)[0] for target in LINK.findall(text)]
    local = [target for target in targets if target and not re.match(r"^[a-z]+:", target)]
    missing = [target for target in local if not (document.parent / target).resolve().exists()]
    assert missing == []
    outside = [target for target in local if not (document.parent / target).resolve().is_relative_to(REPO)]
    assert outside == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_markdown_file_named_in_code_spans_exists(document: Path) -> None:
    # Written as `spec/api.md`, a reference is no link but still sends the reader to a file that must exist.
    named = re.findall(r"`([\w./-]+\.md)`", document.read_text(encoding="utf-8"))
    missing = [name for name in named if not ((document.parent / name).exists() or (REPO / name).exists())]
    assert missing == []
