"""Response schemas of /health and /performance."""

from __future__ import annotations

from apiflask.fields import Boolean, Dict, Float, Integer, List, Nested, String
from apiflask.validators import OneOf

from .out import STATUSES, TIME, Out


class SinkHealth(Out):
    """No error text: /health needs no key, and errors name hosts and ports (deliveries have it)."""

    url = String(required=True, metadata={"description": "secrets masked"})
    up = Boolean(required=True, metadata={"description": "its last publish was acknowledged"})
    failingSince = String(required=True, allow_none=True, metadata=TIME)
    published = Integer(required=True)
    deadLettered = Integer(required=True)


class Health(Out):
    """Not the error envelope even at 503: load balancers read `status`."""

    status = String(required=True, validate=OneOf(("ok", "unhealthy")))
    reasonClass = String(validate=OneOf(("engine", "threads", "browsers", "database", "disk")),
                         metadata={"description": "what cannot serve (503 only)"})
    sessions = Dict(keys=String(), values=Integer(), metadata={
        "example": {"CONNECTED": 3}, "description": "with an API key (or auth off) only"})
    reason = String(metadata={"description": "why the engine cannot serve (503 only; with an "
                                             "API key, or auth off, only)"})
    degraded = Dict(keys=String(), values=Dict(), metadata={
        "description": "sessions connected but dead, by id: `{reason, step, since}` (with an API "
                       "key, or auth off, only)"})
    versions = Dict(keys=String(), values=Dict(), metadata={
        "description": "each loaded session's `{waVersion, waJsVersion}`: WhatsApp Web's build "
                       "and the wa-js bundle's version (with an API key, or auth off, only)"})
    sinks = List(Nested(SinkHealth), metadata={
        "description": "each sink published to; one that is down does not make /health 503 "
                       "(with an API key, or auth off, only)"})


class PerformanceFigures(Out):
    activeSessions = Integer(required=True)
    cacheHitRate = Float(required=True, allow_none=True)
    averageResponseTime = Float(required=True, allow_none=True, metadata={"description": "ms"})


class SessionMemory(Out):
    id = String(required=True)
    status = String(required=True, validate=OneOf(STATUSES))
    browserRssMb = Float(required=True, allow_none=True)
    browserPssMb = Float(required=True, allow_none=True)
    processes = Integer(required=True)
    node = String(allow_none=True, metadata={
        "description": "the node running it (cluster mode: every node's sessions are listed)"})


class Capacity(Out):
    sessionsThatFit = Integer(required=True, metadata={
        "description": "more sessions that fit now (memory limit, reserve, MAX_SESSIONS)"})
    perSessionMb = Float(required=True, metadata={"description": "mean browser PSS (or the "
                                                  "estimate before any is measured)"})
    availableMb = Float(required=True)
    maxSessions = Integer(required=True)


class GcGeneration(Out):
    generation = Integer(required=True, metadata={"description": "0, 1, or 2 (a full one)"})
    collections = Integer(required=True, metadata={"description": "since the worker started"})
    pauseTotalMs = Float(required=True)
    pauseMaxMs = Float(required=True, metadata={"description": "the longest single pause"})


class GcFigures(Out):
    frozenObjects = Integer(required=True, metadata={
        "description": "objects of the app as loaded, kept out of the collector's walks"})
    generations = List(Nested(GcGeneration), required=True)


class Performance(Out):
    memoryUsage = Dict(required=True, metadata={
        "description": "rss, heapUsed, browsers, total as MB strings (the seed's shape), "
                       "and the same as numbers in rssMb, heapUsedMb, browsersMb, totalMb"})
    performance = Nested(PerformanceFigures, required=True)
    sessions = List(Nested(SessionMemory), required=True)
    capacity = Nested(Capacity, required=True)
    gc = Nested(GcFigures, required=True, metadata={
        "description": "the worker's Python garbage collector: every collection holds the "
                       "GIL, so its pauses land in requests"})


class HistoryPoint(Out):
    at = Float(required=True, metadata={"description": "unix seconds"})
    workerMb = Float(required=True)
    browsersMb = Float(required=True)
    totalMb = Float(required=True)
    availableMb = Float(required=True)
    activeSessions = Integer(required=True)
    connectedSessions = Integer(required=True)


class PerformanceHistory(Out):
    intervalSeconds = Float(required=True)
    data = List(Nested(HistoryPoint), required=True, metadata={"description": "oldest first"})


class Node(Out):
    id = String(required=True)
    url = String(required=True, allow_none=True, metadata={"description": "NODE_URL"})
    capacity = Integer(required=True, metadata={"description": "MAX_SESSIONS"})
    free = Integer(required=True, metadata={
        "description": "sessions that fit now, measured (memory, reserve, MAX_SESSIONS)"})
    heartbeat = String(required=True, metadata={"description": "the node's last beat"})
    alive = Boolean(required=True, metadata={"description": "it beat within LEASE_TTL"})
    sessions = Integer(required=True, metadata={"description": "sessions it holds a lease on"})
    draining = Boolean(required=True)
    startedAt = String(required=True)


class NodeList(Out):
    data = List(Nested(Node), required=True)


class Drain(Out):
    node = String(required=True)
    draining = Boolean(required=True)
    moving = List(String(), required=True, metadata={
        "description": "the sessions it runs, each moved in the background (GET /nodes shows "
                       "its count fall; `session.moved` events say where each went)"})
