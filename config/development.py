"""Development: a laptop or a test box; short TTLs, verbose logs, auth optional."""

LOG_LEVEL = "DEBUG"
WA_LOAD_TIMEOUT = 120.0
COMMAND_TIMEOUT = 60.0
MAX_SESSIONS = 10

# Operations (docs/operations.md). A laptop: small limits, so the watchdog acts before the
# desktop swaps; idle sessions end after an hour (the seed's sessionCleanupTimeout).
THREADS = 8
WATCHDOG_INTERVAL = 15.0
WORKER_MEMORY_LIMIT_MB = 300.0  # the seed's gcThreshold (development)
BROWSER_MEMORY_LIMIT_MB = 800.0
TOTAL_MEMORY_LIMIT_MB = 4096.0
MEMORY_RESERVE_MB = 1024.0
RECYCLE_COOLDOWN = 300.0
POLL_TIMEOUT = 10.0
STUCK_POLLS = 3
STUCK_TIMEOUT = 120.0
REAPER_INTERVAL = 60.0
SESSION_IDLE_TIMEOUT = 3600.0
QR_SCAN_TIMEOUT = 300.0
BROWSER_MEMORY_ESTIMATE_MB = 250.0
LAUNCH_CONCURRENCY = 1  # browsers launching at once: a restart with 20 sessions stays usable
RESTART_BACKOFF = 1.0  # a crashed browser relaunches after 1, 2, 4, 8 s...
RESTART_MAX = 5  # ...and the session is FAILED browser_crashed at the 5th crash in the window
RESTART_WINDOW = 600.0
EVENT_RETENTION = 604800.0  # delivered events kept a week, then purged by the reaper

# List cache TTLs in seconds (the seed's table; chats change most, so they live shortest).
CACHE_TTL_CONTACTS = 300.0
CACHE_TTL_GROUPS = 300.0
CACHE_TTL_CHATS = 30.0

# Send pacing (anti-ban), short enough to try things by hand.
SEND_MIN_INTERVAL = 1.0
SEND_JITTER = 0.5

# Outgoing URLs (webhooks, proxies) may reach loopback and the LAN: a laptop's test receiver
# listens on localhost. Production and testing refuse them (docs/security.md, Outgoing URLs).
WEBHOOK_ALLOW_PRIVATE = True
