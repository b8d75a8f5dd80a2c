"""Production: behind nginx on a LAN; API keys required (see waengine/config.py)."""

LOG_LEVEL = "INFO"
WA_LOAD_TIMEOUT = 180.0
COMMAND_TIMEOUT = 60.0
MAX_SESSIONS = 50
LAUNCH_CONCURRENCY = 1
