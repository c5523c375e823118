"""README.md is a short front page; the manual in docs/ is reachable from it and its links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT, doc_section, readme_section

README_MAX_LINES = 250

#: [text](target) or [text](target "title"); inline code is removed before matching
_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _outside_code(text: str, keep_inline: bool = False) -> list[str]:
    """The lines of ``text`` outside fenced code blocks, with inline code spans removed (or, with
    ``keep_inline``, only their backticks)."""
    out, fence = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fence = None if fence and stripped.startswith(fence) else (fence or stripped[:3])
            continue
        if fence is None:
            out.append(line.replace("`", "") if keep_inline else re.sub(r"`[^`]*`", "", line))
    return out


def _links(page: Path) -> list[str]:
    return [m.group(1) for line in _outside_code(page.read_text(encoding="utf-8")) for m in _LINK.finditer(line)]


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown page (lower case, punctuation dropped, spaces to '-',
    repeats numbered -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for line in _outside_code(page.read_text(encoding="utf-8"), keep_inline=True):
        m = re.match(r"^(#{1,6}) +(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(2).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _relative_links(page: Path) -> list[tuple[str, Path, str]]:
    """(link as written, target path, anchor) of every link of ``page`` into the repository."""
    out = []
    for link in _links(page):
        if _SCHEME.match(link) or link.startswith("//"):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        out.append((link, target, anchor))
    return out


def test_readme_is_a_short_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move text to docs/"
    readme = "\n".join(lines)
    for command in ("make repro", "make test", "make install"):
        assert command in readme, command
    assert readme_section(readme, "Documentation")


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(page: Path):
    assert _links(page) or page.name != "README.md", "README.md links nothing"
    for link, target, anchor in _relative_links(page):
        where = f"{page.relative_to(ROOT)}: link {link!r}"
        assert target.is_relative_to(ROOT), f"{where} leaves the repository"
        assert target.exists(), f"{where}: {target.relative_to(ROOT)} does not exist"
        if anchor and target.suffix == ".md":
            assert anchor in _anchors(target), f"{where}: no heading with anchor #{anchor} in {target.relative_to(ROOT)}"


def test_every_docs_page_is_reachable_from_the_readme():
    todo, seen = [ROOT / "README.md"], set()
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        todo += [t for _, t, _ in _relative_links(page) if t.suffix == ".md" and t.is_file()]
    missing = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").rglob("*.md")) if p not in seen]
    assert not missing, f"not linked from README.md or a page it links: {missing}"


def test_documentation_list_links_every_top_level_docs_page():
    section = doc_section("README.md", "Documentation")
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in section, page.name


def test_section_helper_skips_code_and_stops_at_same_level():
    text = ("# Page\n\nintro\n\n## A\n\n```bash\n# a comment, not a heading\n## neither\n```\n\n### A.1\n\n"
            "deeper\n\n## B\n\nnext\n")
    a = readme_section(text, "A")
    assert "# a comment" in a and "### A.1" in a and "deeper" in a and "## B" not in a
    assert readme_section(text, "Page").endswith("next\n")
    with pytest.raises(AssertionError, match="no section headed 'C'"):
        readme_section(text, "C")
