"""The documentation's own rules: a short README with one test command, and docs pages that are all reachable,
all in the MkDocs navigation, with no broken relative link and no unused picture. Needs neither torch nor footage."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
PICTURES = sorted(p for p in DOCS.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".gif", ".svg"})
# [text](target) and ![alt](target); the target ends at whitespace or ')'
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
TEST_COMMAND = re.compile(r"<!-- test-command -->\s*```bash\n(.+?)\n```\s*<!-- /test-command -->", re.S)


def links(path: Path) -> list[str]:
    """Link targets in a Markdown file, leaving out fenced code blocks."""
    return LINK.findall(FENCE.sub("", path.read_text()))


def relative_targets(path: Path) -> list[tuple[str, Path]]:
    """(link, file it points to) for every relative link, anchors stripped; same-page anchors are left out."""
    out = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            continue
        out.append((target, (path.parent / target.split("#")[0]).resolve()))
    return out


def nav_pages(nav) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(nav_pages(item) for item in nav))
    if isinstance(nav, dict):
        return set().union(*(nav_pages(value) for value in nav.values()))
    return set()


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move reference material into docs/"


def test_readme_has_exactly_one_test_command():
    text = README.read_text()
    assert text.count("<!-- test-command -->") == 1 and text.count("<!-- /test-command -->") == 1
    blocks = TEST_COMMAND.findall(text)
    assert len(blocks) == 1, "the markers must hold one ```bash block"
    command = blocks[0].strip()
    assert "\n" not in command, "CI runs one line"
    for part in ("lint-imports", "mkdocs build --strict", "python -m pytest"):
        assert part in command


def test_install_page_shows_the_readme_test_command():
    command = TEST_COMMAND.findall(README.read_text())[0].strip()
    assert command in (DOCS / "install.md").read_text()


def test_every_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["docs_dir"] == "docs"
    listed = nav_pages(config["nav"])
    assert PAGES, "no docs pages"
    missing = [p.name for p in PAGES if p.name not in listed]
    assert not missing, f"pages missing from mkdocs.yml's nav: {missing}"
    absent = sorted(name for name in listed if not (DOCS / name).is_file())
    assert not absent, f"nav entries with no page: {absent}"


def test_every_page_is_linked_from_the_readme_or_the_home_page():
    from_readme = {target for _, target in relative_targets(README)}
    assert (DOCS / "index.md").resolve() in from_readme, "README.md must link docs/index.md"
    reachable = from_readme | {target for _, target in relative_targets(DOCS / "index.md")}
    orphans = [p.name for p in PAGES if p.resolve() not in reachable]
    assert not orphans, f"pages linked from neither README.md nor docs/index.md: {orphans}"


def test_relative_links_point_to_files_that_exist():
    broken = [f"{path.relative_to(ROOT)}: {link}"
              for path in [README, *PAGES] for link, target in relative_targets(path) if not target.exists()]
    assert not broken, f"broken links: {broken}"


def test_every_picture_is_used():
    used = {target for page in PAGES for _, target in relative_targets(page)}
    unused = [p.name for p in PICTURES if p.resolve() not in used]
    assert not unused, f"pictures in docs/ that no page shows: {unused}"
