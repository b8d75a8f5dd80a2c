"""The simulated WhatsApp network behind the sandbox page (pure Python, no Flask).

`Network` (core.py) holds the state and the one lock; its methods come in parts, one module
per concern: phones, seeding, contacts, pairing, devices, messages, groups. model.py has the
vocabulary (options, ids, state records) and clock.py the scheduler of delayed work.
"""

from .core import Network
from .model import OPTION_NAMES, Options, SandboxError, normalize_phone

__all__ = ["OPTION_NAMES", "Network", "Options", "SandboxError", "normalize_phone"]
