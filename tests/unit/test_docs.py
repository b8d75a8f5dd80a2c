"""docs/ and the code speak of the project alone: no pointer to notes a user does not have."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\.\./shared|/work/|WPP-SURFACE|CHROMIUM-FACTS|ARCHITECTURE\.md|STYLE\.md"
                     r"|(?<![\w/])API\.md")


def test_no_doc_or_source_points_outside_the_project():
    files = [ROOT / "README.md", ROOT / "setup.cfg", *ROOT.glob("docs/*.md"),
             *[p for p in ROOT.glob("waengine/**/*") if p.suffix in (".py", ".js", ".html")],
             *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py")]
    found = [f"{p.relative_to(ROOT)}:{n}" for p in files if p.name != "test_docs.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert found == []


def test_every_doc_a_doc_names_exists():
    for page in ROOT.glob("docs/*.md"):
        for name in re.findall(r"`(\w+\.md)`", page.read_text()):
            assert (ROOT / "docs" / name).exists() or name == "README.md", (page.name, name)
