"""The baseline for cached reads: a bare Flask app serving fixed bytes (bench/scale.py)."""

import os
from pathlib import Path

from flask import Flask, Response

app = Flask("bare")
BODY = Path(os.environ["BENCH_BODY"]).read_bytes()
HEADERS = {"Content-Type": os.environ.get("BENCH_TYPE") or "application/json"}
if os.environ.get("BENCH_ENCODING"):
    HEADERS["Content-Encoding"] = os.environ["BENCH_ENCODING"]


@app.get("/body")
def body():
    return Response(BODY, headers=HEADERS)
