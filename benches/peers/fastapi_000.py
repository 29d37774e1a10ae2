"""000's `GET /api/runs/{run_id}/status` as the document's own stack serves it: FastAPI + uvicorn over
SQLite. It reads the same database file the modelrunner shim serves (the `runs` table), so both answer
from the same rows. A sync endpoint (FastAPI runs it in its thread pool) with one SQLite connection per
thread, as a FastAPI MVP does it.

Run: MODELRUNNER_DB=path uvicorn fastapi_000:app --port 8001 (from this directory)."""

import os
import sqlite3
import threading

from fastapi import FastAPI, HTTPException

DB = os.environ["MODELRUNNER_DB"]
app = FastAPI(title="Model Runner Dashboard (peer)")
local = threading.local()


def conn() -> sqlite3.Connection:
    c = getattr(local, "conn", None)
    if c is None:
        c = sqlite3.connect(f"file:{DB}?mode=ro", uri=True, check_same_thread=False)
        c.row_factory = sqlite3.Row
        local.conn = c
    return c


@app.get("/api/runs/{run_id}/status")
def run_status(run_id: str) -> dict:
    row = conn().execute(
        "SELECT id, status, progress, message, created_at, started_at, updated_at, finished_at FROM runs WHERE id = ?",
        (run_id,),
    ).fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail={"error": "run not found", "code": "NOT_FOUND", "details": {}})
    return {
        "run_id": row["id"],
        "status": row["status"],
        "progress": row["progress"],
        "message": row["message"],
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "updated_at": row["updated_at"],
        "finished_at": row["finished_at"],
    }
