"""Development: a laptop or a test box; short TTLs, verbose logs, auth optional."""

LOG_LEVEL = "DEBUG"
WA_LOAD_TIMEOUT = 120.0
COMMAND_TIMEOUT = 60.0
MAX_SESSIONS = 10
