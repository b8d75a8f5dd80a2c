"""API_KEYS parsed and checked at start-up: entries, scopes, digests (no Flask, no requests).

`API_KEYS` (WAENGINE_API_KEYS) is a comma-separated list of entries (docs/security.md):

    adminkey                     a key that may use every route
    salesbot:sales|support       a key that may act only on the sessions `sales` and `support`
    acme:acme-*                  a key that may act only on sessions whose id starts with `acme-`

`config` validates with it and `auth` matches requests against its result, so neither imports
the other.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .errors import ConfigError
from .vocabulary import SESSION_SCOPE

# What may appear in an HTTP header value, less the separators of the API_KEYS syntax.
_KEY = re.compile(r"^[\x21-\x7e]+$")
# Shorter keys can be guessed; production warns at start-up (docs/security.md).
RECOMMENDED_KEY_LENGTH = 24


@dataclass(frozen=True)
class ApiKey:
    """A configured key: its SHA-256 (never the key itself) and the sessions it may act on."""

    number: int  # 1-based position in API_KEYS: how logs and errors name a key
    digest: bytes
    scope: tuple[str, ...] | None  # None: every session and every route
    short: bool = False  # shorter than RECOMMENDED_KEY_LENGTH

    def allows(self, session_id: str) -> bool:
        if self.scope is None:
            return True
        return any(session_id.startswith(p[:-1]) if p.endswith("*") else session_id == p
                   for p in self.scope)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def _entries(value) -> list[tuple[str, list[str] | None]]:
    """(key, scope) pairs from a comma string, a list of entry strings, or a {key: scope} dict."""
    if isinstance(value, dict):
        return [(k, None if v is None else list(v)) for k, v in value.items()]
    if isinstance(value, str):
        value = value.split(",")
    pairs = []
    for entry in value or ():
        entry = str(entry).strip()
        if not entry:
            continue
        key, sep, scope = entry.partition(":")
        pairs.append((key.strip(), [s.strip() for s in scope.split("|")] if sep else None))
    return pairs


def parse_api_keys(value) -> list[ApiKey]:
    """Parse API_KEYS; raise ConfigError naming the entry by number (never showing the key)."""
    keys: list[ApiKey] = []
    seen: set[bytes] = set()
    for number, (key, scope) in enumerate(_entries(value), start=1):
        where = f"API_KEYS entry {number}"
        if not _KEY.fullmatch(key) or any(c in key for c in ",:|"):
            raise ConfigError(f"{where}: a key is printable ASCII without spaces, ',', ':' or '|'")
        if scope is not None:
            if not scope or not all(SESSION_SCOPE.fullmatch(s) for s in scope):
                raise ConfigError(f"{where}: after ':' list session ids separated by '|' "
                                  f"(an id may end in '*' to match a prefix)")
        key_digest = digest(key)
        short = len(key) < RECOMMENDED_KEY_LENGTH
        if key_digest in seen:
            raise ConfigError(f"{where}: the same key is listed twice")
        seen.add(key_digest)
        keys.append(ApiKey(number, key_digest, tuple(scope) if scope is not None else None, short))
    return keys
