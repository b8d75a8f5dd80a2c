"""Drain and move (cluster mode): a session leaves its node for another while both are up.

The owner stops the session's browser (the profile is flushed), hands its lease straight to the
target (a new epoch: the old owner is fenced from then on, and no third node can claim it in
between), and asks the target to adopt it. The target takes the profile (hand_over_profile),
claims the lease, starts the browser and publishes `session.moved` {from, to, reason}. Until
then every node answers the session's commands with 503 session_moving and Retry-After.

A drain moves every session of a node, one at a time, each to the node with the most free
capacity; the node is `draining` in GET /nodes and takes no new session meanwhile.
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
import threading
import time
from pathlib import Path

from .archives import extract_within
from .errors import CapacityExceeded, LeaseLost, NotFound, SessionNotReady, WAEngineError

log = logging.getLogger(__name__)

# What a profile hand-over leaves out: caches Chromium rebuilds, and the lock files of the
# process that used it.
SKIPPED = {"Cache", "Code Cache", "GPUCache", "GrShaderCache", "ShaderCache", "GraphiteDawnCache",
           "DawnCache", "component_crx_cache", "Crashpad", "SingletonLock", "SingletonCookie",
           "SingletonSocket", "BrowserMetrics"}
ADOPT_TIMEOUT = 120.0


def pack_profile(profile: Path) -> bytes:
    """The profile folder as a gzip tar, caches and locks left out."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        if profile.is_dir():
            tar.add(profile, arcname=".", filter=lambda info: None
                    if set(Path(info.name).parts) & SKIPPED else info)
    return buffer.getvalue()


def unpack_profile(data: bytes, profile: Path) -> None:
    """Replace the profile folder with the packed one (whole, or not at all)."""
    staging = profile.with_name(profile.name + ".incoming")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        extract_within(tar, staging)
    shutil.rmtree(profile, ignore_errors=True)
    staging.rename(profile)


class Mover:
    def __init__(self, engine):
        self.engine = engine
        self.draining = False
        self._drain: threading.Thread | None = None

    # ---- choosing a node ----
    def target(self, wanted: str | None, exclude: set[str] = frozenset()) -> dict:
        """The node a session goes to: `wanted` (404 unknown, 503 not alive), else the alive,
        not draining node with the most free capacity (503 when there is none)."""
        me = self.engine.leases.node_id
        nodes = [n for n in self.engine.leases.nodes() if n["id"] != me]
        if wanted is not None:
            found = next((n for n in nodes if n["id"] == wanted), None)
            if found is None:
                raise NotFound(f"No other node {wanted!r}", details={"node": wanted})
            if not found["alive"] or not found["url"]:
                raise CapacityExceeded(f"Node {wanted!r} is not alive",
                                       details={"node": wanted})
            return found
        fit = [n for n in nodes if n["alive"] and n["url"] and not n["draining"]
               and n["id"] not in exclude]
        if not fit:
            raise CapacityExceeded("No other node can take the session")
        return max(fit, key=lambda n: (n["free"], n["id"]))

    # ---- the owner's side ----
    def move(self, session_id: str, wanted: str | None, reason: str = "move") -> dict:
        """Move a session running here to another node; its description there."""
        engine = self.engine
        if engine.forwarder is None:
            raise SessionNotReady("Moving a session needs cluster mode with CLUSTER_SECRET")
        session = engine.manager.get(session_id)
        if wanted == engine.leases.node_id:
            return engine.describe(session_id)  # already here
        node = self.target(wanted)
        with engine.manager.lifecycle(session_id):
            if not session.running:
                raise SessionNotReady(f"Session is {session.status.value}: start it on the "
                                      "node it should run on", details={"status": session.status.value})
            engine.moving[session_id] = reason
            try:
                engine.senders.drop(session_id)
                session.stop("moved")
                epoch = engine.leases.hand_to(session_id, node["id"])
                if epoch is None:
                    raise LeaseLost(details={"session": session_id})
                try:
                    answer = engine.forwarder.request(
                        node["url"], "POST", f"/_cluster/sessions/{session_id}/adopt",
                        body=_json({"from": engine.leases.node_id, "reason": reason}),
                        headers={"Content-Type": "application/json"},
                        read_timeout=ADOPT_TIMEOUT)
                    if answer.status_code != 200:
                        raise WAEngineError(f"Node {node['id']} did not adopt the session: "
                                            f"{answer.status_code} {answer.text[:200]}")
                    return answer.json()
                except Exception:
                    self._take_back(session_id, node["id"], epoch)
                    raise
            finally:
                engine.moving.pop(session_id, None)

    def _take_back(self, session_id: str, node: str, epoch: int) -> None:
        """The target did not adopt it: run it here again (if the target did not claim it)."""
        log.warning("session %s: node %s did not adopt it; it runs here again", session_id, node)
        if self.engine.leases.take_back(session_id, node, epoch) is not None:
            self.engine.manager.get(session_id).start()

    def profile(self, session_id: str) -> bytes:
        """The profile of a session this node handed over (GET /_cluster/…/profile)."""
        session = self.engine.manager.get(session_id)
        if session.running:
            raise SessionNotReady("The session runs here: its profile is in use")
        return pack_profile(self.engine.profiles / session_id)

    # ---- the target's side ----
    def adopt(self, session_id: str, source: str, reason: str) -> dict:
        """Take a session another node handed its lease to: its profile, the lease, a browser."""
        engine = self.engine
        engine.moving[session_id] = "arriving"
        try:
            with engine.manager.lifecycle(session_id):
                session = engine.manager.get(session_id)
                self.hand_over_profile(session_id, source)
                if engine.leases.claim(session_id) is None:
                    raise LeaseLost(details={"session": session_id})
                engine.store.update_session(session_id, desired="running")
                session.start()
                engine.publish_event(session, "session.moved",
                                     {"from": source, "to": engine.leases.node_id,
                                      "reason": reason})
        finally:
            engine.moving.pop(session_id, None)
        log.info("session %s moved here from %s (%s)", session_id, source, reason)
        return engine.describe(session_id)

    def hand_over_profile(self, session_id: str, source: str) -> None:
        """Bring the session's profile here from the node that ran it (it is still up, and
        stopped the browser a moment ago: this copy is newer than any snapshot)."""
        engine = self.engine
        node = next((n for n in engine.leases.nodes() if n["id"] == source), None)
        if node is None or not node["url"]:
            raise LeaseLost(f"Node {source!r} cannot hand the profile over",
                            details={"session": session_id})
        answer = engine.forwarder.request(node["url"], "GET",
                                          f"/_cluster/sessions/{session_id}/profile",
                                          headers={"Accept-Encoding": "identity"},
                                          read_timeout=60.0)
        if answer.status_code != 200:
            raise WAEngineError(f"Node {source} did not hand the profile over: "
                                f"{answer.status_code}")
        unpack_profile(answer.raw.read(decode_content=False), engine.profiles / session_id)

    # ---- drain ----
    def drain(self) -> list[str]:
        """Mark this node draining and move every session off it in the background; the ids."""
        engine = self.engine
        if engine.forwarder is None:
            raise SessionNotReady("Draining needs cluster mode with CLUSTER_SECRET")
        self.draining = True
        engine.node.beat()  # GET /nodes shows it at once
        ids = [s.id for s in engine.manager.list() if s.running]
        if self._drain is None or not self._drain.is_alive():
            self._drain = threading.Thread(target=self._drain_all, name="wa-drain", daemon=True)
            self._drain.start()
        return ids

    def _drain_all(self) -> None:
        engine = self.engine
        for attempt in range(3):
            left = [s.id for s in engine.manager.list() if s.running]
            if not left:
                break
            for session_id in left:
                try:
                    self.move(session_id, None, "drain")
                except Exception as e:  # it stays here; the next round tries again
                    log.warning("drain: session %s did not move: %s", session_id, e)
            time.sleep(attempt)  # back off between rounds: another node may be starting
        log.info("drain done; %d session(s) left here",
                 sum(1 for s in engine.manager.list() if s.running))


def _json(data: dict) -> bytes:
    import json

    return json.dumps(data).encode()
