"""Production: behind nginx on a LAN; API keys required (see waengine/config.py)."""

LOG_LEVEL = "INFO"
WA_LOAD_TIMEOUT = 180.0
COMMAND_TIMEOUT = 60.0
MAX_SESSIONS = 50
LAUNCH_CONCURRENCY = 1

# Operations (docs/operations.md). Real WhatsApp Web takes a few hundred MB per browser and a
# big account over a gigabyte; the total defaults to 80 % of the machine's RAM (0 = auto).
THREADS = 16
WATCHDOG_INTERVAL = 30.0
WORKER_MEMORY_LIMIT_MB = 800.0  # the seed's gcThreshold (production)
BROWSER_MEMORY_LIMIT_MB = 1536.0
TOTAL_MEMORY_LIMIT_MB = 0.0
MEMORY_RESERVE_MB = 1024.0
BROWSER_MEMORY_ESTIMATE_MB = 400.0
RECYCLE_COOLDOWN = 1800.0
POLL_TIMEOUT = 10.0
STUCK_POLLS = 3
STUCK_TIMEOUT = 150.0
REAPER_INTERVAL = 300.0
SESSION_IDLE_TIMEOUT = 86400.0  # the seed's sessionCleanupTimeout: 24 h
QR_SCAN_TIMEOUT = 300.0
RESTART_BACKOFF = 1.0  # a crashed browser relaunches after 1, 2, 4, 8 s...
RESTART_MAX = 5  # ...and the session is FAILED browser_crashed at the 5th crash in the window
RESTART_WINDOW = 600.0
EVENT_RETENTION = 604800.0  # delivered events kept a week, then purged by the reaper

# List cache TTLs in seconds (the seed's table; chats change most, so they live shortest).
CACHE_TTL_CONTACTS = 3600.0
CACHE_TTL_GROUPS = 3600.0
CACHE_TTL_CHATS = 120.0

# Send pacing (anti-ban): WhatsApp flags accounts that send like machines.
SEND_MIN_INTERVAL = 3.0
SEND_JITTER = 2.0
SEND_TYPING = True
# New contacts per rolling hour and day (engine/reachout.py): bulk first messages are what
# brings WhatsApp's reach-out timelock.
COLD_CONTACTS_PER_HOUR = 20
COLD_CONTACTS_PER_DAY = 100
EXISTS_PER_MINUTE = 30
