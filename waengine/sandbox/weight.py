"""Page weight: how much a sandbox page costs a browser, so per-box numbers hold in the field.

`light` (the default, for tests) is the page's own WPP and nothing else. `field` makes the
page weigh what WhatsApp Web weighs: the page loads FIELD["script_chunks"] generated script
files (parsed and partly run at start), keeps a model store of chats and messages in its JS
heap, renders a chat list, fills an IndexedDB, keeps timers and a network ping running, and
retains render caches for every message an active chat shows (wpp/weight.js does all of it).
The figures and their sources are in docs/sandbox.md ("Page weight").

The generated scripts are deterministic (same bytes every run, cached here once) and served
from the page's own origin, since the page's Content-Security-Policy allows only 'self'.
"""

from __future__ import annotations

import functools
import random

from flask import Blueprint, Response

from .network import SandboxError

WEIGHTS = ("light", "field")

# What `field` loads and keeps; wpp/weight.js reads this from the page options.
FIELD = {
    "script_chunks": 8,  # x CHUNK_BYTES of script parsed at start
    "chats": 300,  # chat models, and rows in the chat list's DOM
    "messages_per_chat": 250,  # message models kept in the heap
    "idb_messages": 20000,  # message records stored in IndexedDB (once per profile)
    "tick_ms": 1000,  # an idle page's timer work
    "ping_s": 25,  # an idle page's network chatter
    "retain_per_message": 16384,  # bytes of render cache an active chat keeps per message
    "retain_max": 4000,  # messages whose render caches are kept
}
CHUNK_BYTES = 1_000_000

field = Blueprint("sandbox_field", __name__, url_prefix="/_sandbox/field")


def page_options(weight: str) -> dict:
    return {"pageWeight": weight, **({"field": FIELD} if weight == "field" else {})}


@functools.cache
def chunk(index: int) -> bytes:
    """One generated script file: modules of a few functions each, registered on load."""
    rng = random.Random(index)
    parts = [f"/* waengine sandbox field-weight chunk {index} */\n"
             "(self.__fieldModules = self.__fieldModules || []);\n"]
    size, n = sum(map(len, parts)), 0
    while size < CHUNK_BYTES:
        module = _module(rng, index * 100_000 + n)
        parts.append(module)
        size += len(module)
        n += 1
    return "".join(parts).encode()


def _module(rng: random.Random, number: int) -> str:
    words = [_word(rng) for _ in range(12)]
    names, body = [], []
    for i in range(rng.randint(4, 9)):
        a, b, c = rng.sample(words, 3)
        names.append(f"{a}{i}")
        body.append(
            f"function {a}{i}(e,t){{const n={{id:{number},k:\"{b}\",v:{rng.randint(0, 1 << 30)}}};"
            f"if(e&&e.{c}){{return t?e.{c}.map(r=>r+n.v):[n.k,e.{c}]}}"
            f"for(let r=0;r<(t|0);r++){{n.v=(n.v*31+r)|0}}return n}}")
    strings = ",".join(f'"{w}_{rng.randint(0, 1 << 20)}"' for w in words)
    return (f"self.__fieldModules.push(function m{number}(){{\"use strict\";"
            f"const s=[{strings}];{''.join(body)}return {{s,f:[{','.join(names)}]}}}});\n")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 10)))


@field.get("/chunk-<int:index>.js")
def script_chunk(index: int):
    if not 0 <= index < FIELD["script_chunks"]:
        raise SandboxError(404, "not_found", f"No field-weight chunk {index}")
    response = Response(chunk(index), mimetype="text/javascript")
    # WhatsApp Web's scripts come from the HTTP cache after the first load; so do these.
    response.headers["Cache-Control"] = "public, max-age=86400, immutable"
    return response


@field.get("/ping")
def ping():
    """The idle page's periodic request (WhatsApp Web keeps its socket busy the same way)."""
    return Response(status=204)
