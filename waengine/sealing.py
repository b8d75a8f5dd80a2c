"""Secrets at rest: the webhook secrets and proxy passwords a session's options hold.

With SECRET_KEY (WAENGINE_SECRET_KEY) set, the store writes those fields sealed with AES-256-GCM
(the `cryptography` package) as `enc:v1:<base64url(nonce | ciphertext | tag)>`, bound to the
session id and the field (the associated data), so a sealed value copied to another session
or field does not open. The AES key is HKDF-SHA256 of SECRET_KEY. Values written before the key
was set stay readable and are sealed on their next write; a sealed value without the key, or
with another key, stops the start with a one-line reason: nothing is silently lost or sent
unsigned.
"""

from __future__ import annotations

import base64
import copy
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import ConfigError

PREFIX = "enc:v1:"
# Option fields that hold secrets, as paths into a session's options (`*`: every item of a
# list). The proxy and the sinks are whole URLs, which carry their passwords.
SEALED_FIELDS: tuple[tuple[str, ...], ...] = (("webhook", "secret"), ("proxy",),
                                              ("sinks", "*", "url"))


class SealedSecretError(ConfigError):
    """A stored secret cannot be opened: SECRET_KEY is missing or not the one that sealed it."""


class Sealer:
    def __init__(self, secret_key: str):
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"waengine stored secrets v1").derive(secret_key.encode())
        self._aead = AESGCM(derived)

    def seal(self, value: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, value: str, context: str) -> str:
        raw = base64.urlsafe_b64decode(value[len(PREFIX):])
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()


def sealer_from_config(config: dict) -> Sealer | None:
    return Sealer(config["SECRET_KEY"]) if config.get("SECRET_KEY") else None


def is_sealed(value) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _fields(options: dict):
    """(container, name, path) of every secret field present in options."""
    for path in SEALED_FIELDS:
        yield from _walk(options, path, "")


def _walk(node, path: tuple[str, ...], where: str):
    name, rest = path[0], path[1:]
    if name == "*":
        for index, item in enumerate(node if isinstance(node, list) else ()):
            yield from _walk(item, rest, f"{where}.{index}")
        return
    if not isinstance(node, dict):
        return
    where = f"{where}.{name}" if where else name
    if rest:
        yield from _walk(node.get(name), rest, where)
    elif isinstance(node.get(name), str) and node[name]:
        yield node, name, where


def seal_options(options: dict, sealer: Sealer | None, session_id: str) -> dict:
    """A copy of options with its secret fields sealed (as given without a sealer)."""
    if sealer is None:
        return options
    options = copy.deepcopy(options)
    for node, name, path in _fields(options):
        if not is_sealed(node[name]):
            node[name] = sealer.seal(node[name], f"{session_id}:{path}")
    return options


def open_options(options: dict, sealer: Sealer | None, session_id: str) -> dict:
    """options with its sealed fields opened; SealedSecretError if one cannot be."""
    for node, name, path in _fields(options):
        if not is_sealed(node[name]):
            continue
        if sealer is None:
            raise SealedSecretError(f"session {session_id}: its {path} is encrypted; set "
                                    "WAENGINE_SECRET_KEY to the key that encrypted it")
        try:
            node[name] = sealer.open(node[name], f"{session_id}:{path}")
        except (InvalidTag, ValueError):
            raise SealedSecretError(f"session {session_id}: WAENGINE_SECRET_KEY does not decrypt "
                                    f"its {path} (another key encrypted it)") from None
    return options
