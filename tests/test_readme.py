"""The README's limits (issue #45), so that they hold after later changes: at most 200 lines, no prose line over 300
characters, the answer figure present (its content is checked against the committed runs in test_report), and every
relative link of the README and docs/ resolving to a file (and a heading, for a #fragment)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _prose_lines(text: str) -> list[str]:
    """Lines outside code blocks and tables."""
    lines, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and not line.startswith("|"):
            lines.append(line)
    return lines


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a document's headings."""
    return {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            for line in markdown.splitlines() if line.startswith("#")}


def test_the_readme_is_short_with_short_lines_and_shows_the_answer_first() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    long = [line[:60] for line in _prose_lines(text) if len(line) > 300]
    assert long == []
    sections = re.findall(r"^## (.+)$", text, re.M)
    assert sections[:2] == ["The answer", "Quick start"], sections
    assert "(results/answer.png)" in text and (ROOT / "results" / "answer.png").is_file()


def test_every_relative_link_of_the_readme_and_docs_resolves() -> None:
    broken = []
    for page in [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):  # http(s):, mailto:
                continue
            path, _, fragment = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target}")
            elif fragment and file.suffix == ".md" and fragment not in _anchors(file.read_text(encoding="utf-8")):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []
