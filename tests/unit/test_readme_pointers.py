"""The code's pointers to the README's "What the code relies on" land on a section that exists,
and nothing points at documents outside the project."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECTION = "What the code relies on"
OUTSIDE_DOCS = ("STACK" + ".md", "DESIGN" + ".md")  # the session's notes, not the project's


def _tracked_files():
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        path = os.path.join(ROOT, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                yield name, f.read().decode("utf-8", "replace")


def test_pointers_land_on_the_readme_section_and_none_leave_the_project():
    files = dict(_tracked_files())
    assert f"\n## {SECTION}\n" in files["README.md"]
    pointing = [name for name, text in files.items()
                if SECTION in " ".join(text.split()) and name != "README.md"]
    assert {"Makefile", "model/export.py", "model/blocks.py"} <= set(pointing)
    outside = [name for name, text in files.items() if any(d in text for d in OUTSIDE_DOCS)]
    assert outside == []
