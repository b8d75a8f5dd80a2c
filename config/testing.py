"""Testing: the sandbox instead of WhatsApp, fast polling, short timeouts."""

LOG_LEVEL = "INFO"
WA_LOAD_TIMEOUT = 30.0
COMMAND_TIMEOUT = 15.0
PUMP_INTERVAL = 0.1
MAX_SESSIONS = 10
LAUNCH_CONCURRENCY = 2
RESTART_BACKOFF = 0.2

# Operations: passes often enough that tests wait seconds, not minutes, for the watchdog and
# the reaper; limits high enough that a test box's browsers are never recycled by surprise.
THREADS = 8
WATCHDOG_INTERVAL = 1.0
WORKER_MEMORY_LIMIT_MB = 2048.0
BROWSER_MEMORY_LIMIT_MB = 4096.0
TOTAL_MEMORY_LIMIT_MB = 0.0
MEMORY_RESERVE_MB = 256.0
RECYCLE_COOLDOWN = 60.0
POLL_TIMEOUT = 5.0
STUCK_POLLS = 3
STUCK_TIMEOUT = 30.0
REAPER_INTERVAL = 1.0
SESSION_IDLE_TIMEOUT = 3600.0
QR_SCAN_TIMEOUT = 120.0
BROWSER_MEMORY_ESTIMATE_MB = 250.0
RESTART_MAX = 5
RESTART_WINDOW = 600.0
EVENT_RETENTION = 604800.0

# Send pacing (outgoing queue): tests send back to back.
SEND_MIN_INTERVAL = 0.0
SEND_JITTER = 0.0
