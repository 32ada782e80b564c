"""Shared fixtures: small throw-away Quarto books for the booktools tests."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_CONFIG = """\
project:
  type: book
book:
  title: "A test book"
  chapters:
{chapters}
"""


def write_book(root: Path, files: dict[str, str], config: str | None = None) -> Path:
    """Write ``files`` (path -> text, dedented) under ``root``; list every chapters/*.qmd
    in a generated ``_quarto.yml`` unless ``config`` is given."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    if config is None:
        listed = [rel for rel in files if rel.endswith(".qmd") and not Path(rel).name.startswith("_")
                  and "/_" not in rel]
        config = DEFAULT_CONFIG.format(chapters="\n".join(f"    - {rel}" for rel in listed))
    (root / "_quarto.yml").write_text(textwrap.dedent(config).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_book(tmp_path):
    """``make_book(files, config=None) -> root``: a book in a fresh temporary folder."""
    counter = iter(range(1000))

    def make(files: dict[str, str], config: str | None = None) -> Path:
        return write_book(tmp_path / f"book{next(counter)}", files, config)

    return make
