"""WhatsApp Web updates: a new build removes or renames functions wa-js exposes (and reports a
new version), so a bundle built for the old build misses them. Set per phone through the
control API; the pages of its linked devices apply it at their next load (docs/sandbox.md)."""

from __future__ import annotations

import re

from .model import SandboxError, normalize_phone

# "namespace.function", as wa-js names them (chat.sendTextMessage), or one of WhatsApp's own
# functions wa-js calls (whatsapp.functions.forwardMessagesToChats)
WPP_NAME = re.compile(r"[a-z]+(\.[A-Za-z]+){1,2}")
VERSION = re.compile(r"\d+\.\d+\.\d+")


def _names(value, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(n, str) and WPP_NAME.fullmatch(n)
                                              for n in value):
        raise SandboxError(400, "validation_error",
                           f"'{field}' must be a list of names like chat.sendTextMessage")
    return list(value)


class UpdateOps:
    """Part of Network (core.py), which holds the state and the one lock."""

    def set_wa_update(self, phone, remove=None, rename=None, version=None) -> dict:
        """The WhatsApp Web build the phone's devices load next: `remove` drops functions,
        `rename` moves {old: new}, `version` is its VERSION_STR. All empty: the usual build."""
        digits = normalize_phone(phone)
        rename = rename or {}
        if not isinstance(rename, dict):
            raise SandboxError(400, "validation_error", "'rename' must map old names to new")
        _names(list(rename) + list(rename.values()), "rename")
        if version is not None and not (isinstance(version, str) and VERSION.fullmatch(version)):
            raise SandboxError(400, "validation_error", "'version' must look like 2.3000.1")
        update = {"remove": _names(remove or [], "remove"), "rename": dict(rename),
                  "version": version}
        with self._cond:
            account = self._require_phone(digits)
            account.wa_update = update if any(update.values()) else None
            return {"phone": digits, "update": account.wa_update}
