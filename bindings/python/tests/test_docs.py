"""The quick tour in docs/python.md and the README's Python snippet run as written, and mypy accepts them."""

import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "../../..")


def _block(page: str, section: str) -> str:
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        text = f.read().split(section, 1)[1]
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match, f"no python block under {section!r} in {page}"
    return match.group(1)


def _run(source: str, tmp_path, name: str) -> str:
    script = tmp_path / f"{name}.py"
    script.write_text(source)
    typed = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", str(script)],
                           capture_output=True, text=True, timeout=300)
    assert typed.returncode == 0, typed.stdout + typed.stderr
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def test_the_quick_tour_in_docs_python_md_runs(tmp_path):
    out = _run(_block("docs/python.md", "## Quick tour"), tmp_path, "quick_tour")
    assert re.search(r"^succeeded 36 rows$", out, re.M), out
    assert re.search(r"\bkpi\b", out), out
    assert float(re.search(r"^forest accuracy (\S+)$", out, re.M).group(1)) >= 0.9
    assert re.search(r"^5\.1,3\.5,1\.4,0\.2 is class setosa$", out, re.M), out
    assert float(re.search(r"^test accuracy (\S+)$", out, re.M).group(1)) > 0.8
    assert re.search(r"^a blank image reads as \d$", out, re.M), out
    assert re.search(r"^NOT_FOUND model not found: no_such_model$", out, re.M), out


def test_the_readme_python_snippet_runs(tmp_path):
    out = _run(_block("README.md", "## Python"), tmp_path, "readme")
    assert re.search(r"^succeeded 36 rows$", out, re.M), out
