"""The README's table of reject reasons is exactly `rejects.reasons_table()`, so they can't
drift apart."""
import os

from pipelines.core import rejects

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "README.md")


def test_readme_holds_exactly_the_reasons_table():
    text = open(README, encoding="utf-8").read()
    section = text.split("## Reject reasons", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert "\n".join(rows) == rejects.reasons_table()
