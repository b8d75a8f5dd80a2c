"""Testing: the sandbox instead of WhatsApp, fast polling, short timeouts."""

LOG_LEVEL = "INFO"
WA_LOAD_TIMEOUT = 30.0
COMMAND_TIMEOUT = 15.0
PUMP_INTERVAL = 0.1
MAX_SESSIONS = 10
LAUNCH_CONCURRENCY = 2
RESTART_BACKOFF = 0.2
