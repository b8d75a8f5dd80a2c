"""What every sandbox route needs: the simulated network, the JSON body, the device's token.

Shared by app.py and social.py (app.py registers social's blueprints, so they cannot import
these from app.py).
"""

from __future__ import annotations

from flask import current_app, request

from .network import Network, SandboxError


def network() -> Network:
    return current_app.extensions["sandbox_network"]


def body() -> dict:
    """The JSON object of the request (empty for no body); 400 for anything else."""
    if not request.get_data(cache=True):
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise SandboxError(400, "invalid_json", "The body must be a JSON object")
    return data


def device_auth() -> tuple[str, str]:
    return request.headers.get("X-Sandbox-Device", ""), request.headers.get("X-Sandbox-Token", "")
