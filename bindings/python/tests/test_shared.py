"""A notebook on the PostgreSQL database a running `modelrunner-http` serves: it submits, the server's
worker executes, and the notebook follows the run live to its end."""

import os
import re
import subprocess
import sys
import uuid

import pytest

from modelrunner import Runner

ADMIN = os.environ.get("MODELRUNNER_TEST_POSTGRES")
SHIM = os.environ.get("MODELRUNNER_HTTP_BIN")
REQUIRED = os.environ.get("MODELRUNNER_REQUIRE_POSTGRES") == "1"
ROOT = os.path.join(os.path.dirname(__file__), "../../..")
DOC_LOCATION = "postgresql://mr:secret@db.internal/modelrunner"


def _psql(sql: str) -> None:
    assert ADMIN is not None
    subprocess.run(["psql", ADMIN, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True)


@pytest.fixture
def shared_database():  # type: ignore[no-untyped-def]
    if ADMIN is None or SHIM is None:
        if REQUIRED:
            pytest.fail("MODELRUNNER_TEST_POSTGRES and MODELRUNNER_HTTP_BIN must be set")
        pytest.skip("needs MODELRUNNER_TEST_POSTGRES and MODELRUNNER_HTTP_BIN")
    name = f"mr_py_{uuid.uuid4().hex[:12]}"
    _psql(f"CREATE DATABASE {name}")
    try:
        yield ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_notebook_follows_a_run_the_server_executes(shared_database, tmp_path):  # type: ignore[no-untyped-def]
    assert SHIM is not None
    server = subprocess.Popen(
        [SHIM, "--db", shared_database, "--workers", "1", "--data-dir", str(tmp_path / "server"),
         "--listen", "127.0.0.1:0", "--listen-flask", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        assert " on http://" in line, line
        with Runner(shared_database, workers=0) as notebook:
            # The catalog the server installed is the notebook's too.
            assert "simulator" in [m["id"] for m in notebook.models()]
            run = notebook.submit("simulator", {"trials": 1000, "region": "EU", "year": 2025})
            assert run.status == "queued"
            seen = list(run.events())
            states = [e["status"] for e in seen if e["type"] == "state"]
            assert states[0] == "queued" and states[-1] == "succeeded" and "running" in states, states
            ids = [e["id"] for e in seen]
            assert ids == sorted(ids), "events arrive in commit order"
            done = run.refresh()
            assert done.status == "succeeded" and done.progress == 100
            assert done.worker is not None and done.worker != "", done.record
            assert notebook.runs(status="succeeded")[0].id == run.id
            assert done.results()["rows"][0]["kpi"] == "revenue"

        # docs/scale-out.md's notebook, as written but for the location.
        with open(os.path.join(ROOT, "docs/scale-out.md"), encoding="utf-8") as f:
            page = f.read()
        match = re.search(r"```python\n(.*?)```", page, re.S)
        assert match and DOC_LOCATION in match.group(1)
        script = tmp_path / "scale_out.py"
        script.write_text(match.group(1).replace(DOC_LOCATION, shared_database))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-4000:]
        lines = out.stdout.splitlines()
        assert lines[0] == "state queued" and "state succeeded" in lines and "progress 100" in lines, lines
        assert lines[-1] != "None" and "-" in lines[-1], lines
    finally:
        server.terminate()
        server.wait(timeout=30)
