"""Configuration: class defaults, then config/<env>.py, then WAENGINE_* environment, then overrides."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import sysconfig
from pathlib import Path

from .apikeys import RECOMMENDED_KEY_LENGTH, parse_api_keys
from .errors import ConfigError

__all__ = ["PROJECT_ROOT", "ConfigError", "load_config", "validate"]  # ConfigError: re-exported

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENTS = ("development", "production", "testing")
# A checkout keeps config/ and node_modules/ next to the package; an installed package (`pip
# install .`, not editable) has them as data files under <prefix>/share/waengine (setup.cfg).
CHECKOUT = (PROJECT_ROOT / "setup.cfg").is_file()
SHARE_DIR = PROJECT_ROOT if CHECKOUT else Path(sysconfig.get_path("data")) / "share" / "waengine"
WA_JS_IN_ASSETS = "@wppconnect/wa-js/dist/wppconnect-wa.js"


class Defaults:
    ENV = "development"
    DATA_DIR = "./data"
    # `key` or `key:session|session|prefix-*` entries, comma-separated (docs/security.md).
    API_KEYS: list[str] = []
    AUTH_DISABLED = False
    # Failed keys from one client address: past this many (a `limits` string) every request
    # from it that carries a key gets 429 for the rest of the window (docs/security.md).
    AUTH_FAIL_LIMIT = "10/minute"
    # Requests per API key (per client address when auth is off): `limits` strings separated
    # by `;`, e.g. "50/second;1800/minute"; empty = no limit. Counted in Redis when CACHE is a
    # redis:// URL (every node shares the count), else in this process.
    RATE_LIMIT = ""
    # The client address for the two limits above is X-Forwarded-For's last entry when the
    # connection comes from one of these proxies (nginx appends the client it saw).
    TRUSTED_PROXIES = ["127.0.0.1", "::1"]
    # Encrypts the webhook secrets and proxy passwords stored in waengine.db (AES-GCM; any
    # string of 32 or more characters, e.g. `openssl rand -base64 32`). Empty: stored as given.
    SECRET_KEY = ""
    # Whether /metrics, and /openapi.json with /docs, need an API key like the API does.
    METRICS_AUTH = True
    DOCS_AUTH = False
    # The operator dashboard (docs/dashboard.md): a static page on the public API.
    DASHBOARD = True
    DASHBOARD_PATH = "/dashboard"
    WA_URL = "https://web.whatsapp.com/"
    # Where config/<env>.py live, and a node_modules-shaped folder with the wa-js bundle and
    # swagger-ui-dist (/docs); WA_JS follows ASSETS_DIR unless set itself.
    CONFIG_DIR = str(SHARE_DIR / "config")
    ASSETS_DIR = str(SHARE_DIR / "node_modules")
    WA_JS = str(SHARE_DIR / "node_modules" / WA_JS_IN_ASSETS)
    # auto: inject wa-js when the page has no WPP of its own (web.whatsapp.com); never: don't.
    WA_JS_INJECT = "auto"
    DEVICE_NAME = "waengine"
    CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
    CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    # Where `waengine doctor --fix` looks chromedriver builds up (Chrome for Testing's JSON).
    CHROMEDRIVER_MIRROR = "https://googlechromelabs.github.io/chrome-for-testing"
    # A Selenium Grid (or any remote chromedriver) URL; empty means the engine runs its own.
    SELENIUM_REMOTE_URL = ""
    HEADLESS = True
    WA_LOAD_TIMEOUT = 120.0
    COMMAND_TIMEOUT = 60.0
    # push: the page notifies the gateway over a DevTools channel (engine/channel.py) and an
    # idle session polls only every SAFETY_POLL_INTERVAL; poll: every PUMP_INTERVAL
    # (also used while a page loads and whenever a channel cannot be opened).
    PUMP_MODE = "push"
    PUMP_INTERVAL = 0.25
    SAFETY_POLL_INTERVAL = 5.0
    # Browsers launched ahead on fresh profiles, page loaded, for new sessions (engine/warm.py);
    # a warm page older than WARM_MAX_AGE seconds is reloaded when a session takes it.
    WARM_BROWSERS = 0
    WARM_MAX_AGE = 30.0
    QR_FIRST_TTL = 60.0
    QR_TTL = 20.0
    # WhatsApp opened for the account in another window (status CONFLICT): take it back
    # ("Use here") by itself, at most once per 30 s, instead of waiting for POST …/takeover.
    TAKEOVER_ON_CONFLICT = False
    MAX_SESSIONS = 50
    LAUNCH_CONCURRENCY = 1
    RESTART_MAX = 5
    RESTART_WINDOW = 600.0
    RESTART_BACKOFF = 1.0
    # Operations (docs/operations.md): server, watchdog, recovery, reaper. MB and seconds.
    THREADS = 16
    BIND = "127.0.0.1:8080"
    WATCHDOG_INTERVAL = 30.0
    WORKER_MEMORY_LIMIT_MB = 300.0  # the seed's gcThreshold: gc + cache trim above it
    BROWSER_MEMORY_LIMIT_MB = 1024.0  # one session's browser tree (PSS); recycled above it
    # The PSS a session's browser is kept under by the memory ladder (ops/memory_ladder.py:
    # trim, then a soft reload, then a restart); 0 = no ladder. A WhatsApp-Web-weight page
    # measured 310-390 MB in a bare Chromium (docs/sandbox.md, Page weight): this leaves room.
    SESSION_MEMORY_BUDGET_MB = 450.0
    TOTAL_MEMORY_LIMIT_MB = 0.0  # worker + browsers + chromedriver; 0 = 80 % of the RAM
    MEMORY_RESERVE_MB = 512.0  # refuse a session that would leave the machine less free
    BROWSER_MEMORY_ESTIMATE_MB = 250.0  # a new session's cost until browsers are measured
    RECYCLE_COOLDOWN = 600.0  # a recycled session is not recycled again this soon
    POLL_TIMEOUT = 10.0  # one page poll; STUCK_POLLS timeouts in a row relaunch the browser
    STUCK_POLLS = 3
    STUCK_TIMEOUT = 120.0  # a browser call running longer gets its browser killed
    REAPER_INTERVAL = 60.0
    SESSION_IDLE_TIMEOUT = 86400.0  # the seed's sessionCleanupTimeout
    QR_SCAN_TIMEOUT = 300.0  # longest a session waits in SCAN_QR before FAILED qr_expired
    LOG_LEVEL = "INFO"
    LOG_FORMAT = "text"  # or json: one JSON object per line (docs/operations.md)
    # Events (webhooks, SSE). A global default webhook applies to sessions without their own.
    WEBHOOK_URL = ""
    WEBHOOK_SECRET = ""
    WEBHOOK_EVENTS: list[str] = []
    # Outgoing URLs a tenant sets (webhooks, sinks, proxies) may not reach loopback, private,
    # link-local, unique-local or multicast addresses (netguard.py) unless allowed here:
    # WEBHOOK_ALLOW_PRIVATE opens them all, WEBHOOK_ALLOW some (`10.1.2.0/24,hooks.lan,.corp`).
    # config/development.py opens them (a laptop's receivers listen on localhost).
    WEBHOOK_ALLOW_PRIVATE = False
    WEBHOOK_ALLOW: list[str] = []
    # Seconds for a whole webhook attempt (connect, send, the full answer), not one read.
    WEBHOOK_TIMEOUT = 5.0
    # Deliveries in flight at once (at most half of them to one URL; one per session and URL).
    WEBHOOK_CONCURRENCY = 8
    WEBHOOK_RETRY_BASE = 1.0
    WEBHOOK_RETRY_MAX_DELAY = 600.0
    WEBHOOK_RETRY_HORIZON = 86400.0
    # Gateway-wide event sinks, every session's events (docs/events.md): a JSON list of
    # {"url": "amqp://…|nats://…|redis://…|sqs://…", "events": [...]}. Retried like webhooks.
    SINKS: str | list = ""
    # Seconds for one publish to a sink's broker (connect, send, its acknowledgement).
    SINK_TIMEOUT = 5.0
    EVENT_RETENTION = 7 * 86400.0
    # Days of message history a session keeps (GET /sessions/{id}/messages; its own
    # `historyDays` wins); the reaper deletes older messages. 0: no history is kept.
    HISTORY_DAYS = 90.0
    # Seconds a write waits for another process's SQLite lock (PostgreSQL: for a connection)
    # before 503 storage_unavailable.
    STORE_BUSY_TIMEOUT = 5.0
    # postgresql://user:password@host:port/db: the store is PostgreSQL (cluster mode); empty:
    # SQLite at DATA_DIR/waengine.db.
    DATABASE_URL = ""
    # PostgreSQL connections this process keeps at most.
    DATABASE_POOL_SIZE = 10
    # This gateway process as a node (GET /nodes): its id (default: host name and a hash of
    # DATA_DIR) and the URL other nodes reach it at.
    NODE_ID = ""
    NODE_URL = ""
    # Seconds a session's lease lasts without renewal (renewed every third of it).
    LEASE_TTL = 15.0
    # Profile snapshots (docs/cluster.md): where (`s3://bucket/prefix`, with SNAPSHOT_S3_ENDPOINT
    # for a non-AWS S3 API, or a folder such as a shared mount; empty: none), the passphrase
    # their AES key is derived from, seconds between two snapshots of a CONNECTED session,
    # and how many versions each session keeps.
    SNAPSHOT_STORE = ""
    SNAPSHOT_KEY = ""
    SNAPSHOT_S3_ENDPOINT = ""
    SNAPSHOT_INTERVAL = 900.0
    SNAPSHOT_KEEP = 3
    # Shared by every node of a cluster (at least 32 characters): signs the requests one node
    # forwards to the node that owns a session (waengine/forward.py). Empty: no forwarding.
    CLUSTER_SECRET = ""
    # Long-lived streams (SSE) each hold a request thread for as long as they are open: at most
    # half of THREADS, so API calls and /health always find one. 0 = THREADS // 4.
    SSE_MAX_STREAMS = 0
    SSE_KEEPALIVE = 15.0
    # Of those, SSE_ADMIN_STREAMS places only admin keys (and an open API) may take, and a
    # scoped key holds at most SSE_STREAMS_PER_KEY at once, so one tenant cannot take them all.
    # -1 (defaults): 1 place reserved (none when SSE_MAX_STREAMS is 1); per key, half of the
    # places scoped keys may use (at least 1).
    SSE_ADMIN_STREAMS = -1
    SSE_STREAMS_PER_KEY = -1
    # WebSocket event streams (GET /ws, /sessions/{id}/ws) share SSE_MAX_STREAMS. A client more
    # than WS_SEND_BUFFER events behind is closed (4008); one that misses a ping's pong for
    # WS_PING_INTERVAL seconds is closed (1008).
    WS_SEND_BUFFER = 256
    # Web pages of other origins than the gateway's own that may open its WebSockets
    # (`https://app.example.com`); a browser page of any other origin gets 403.
    WS_ORIGINS: list[str] = []
    WS_PING_INTERVAL = 25.0
    # Send pacing (anti-ban): every send of a session waits at least SEND_MIN_INTERVAL plus up
    # to SEND_JITTER seconds after the previous one; SEND_DAILY_CAP (0 = none) per rolling 24 h;
    # SEND_TYPING shows "typing…" for len(text) / SEND_TYPING_CPS seconds (at most 5) first.
    SEND_MIN_INTERVAL = 2.0
    SEND_JITTER = 1.0
    SEND_DAILY_CAP = 0
    SEND_TYPING = False
    SEND_TYPING_CPS = 25.0
    # Reach-out limits (engine/reachout.py): first messages to people the account has no chat
    # with, per rolling hour and day (0 = no limit; a session's pacing may set its own). Past
    # them, and during a WhatsApp reach-out timelock, cold sends are held while replies go
    # out. A timelock whose end WhatsApp does not name holds them COLD_TIMELOCK_HOLD seconds.
    # Number lookups (…/exists): at most EXISTS_PER_MINUTE per session, answers cached for
    # EXISTS_CACHE_TTL seconds.
    COLD_CONTACTS_PER_HOUR = 0
    COLD_CONTACTS_PER_DAY = 0
    COLD_TIMELOCK_HOLD = 3600.0
    # Take a cold send refused with ERROR_UNKNOWN as the timelock too (WhatsApp Web builds
    # whose refusal shows no nack code): such sends are held, not failed.
    COLD_UNKNOWN_IS_TIMELOCK = False
    EXISTS_PER_MINUTE = 60
    EXISTS_CACHE_TTL = 3600.0
    # A send WhatsApp refuses for a passing reason (ERROR_NETWORK, ERROR_UPLOAD) or whose
    # recipient lookup got no answer is tried again up to SEND_RETRIES times, after
    # SEND_RETRY_DELAY seconds, doubling (at most 60 s); then it fails.
    SEND_RETRIES = 5
    SEND_RETRY_DELAY = 2.0
    # Connected but dead (docs/sessions.md, "Bad days"): a session is DEGRADED when a send of
    # its own waits at pending (ack 0) in the page DEGRADED_ACK_TIMEOUT seconds, when
    # DEGRADED_SEND_FAILURES sends in a row time out or are refused, or when the page reports
    # its socket down for DEGRADED_OFFLINE_AFTER seconds. It then reloads the page, relaunches
    # the browser, then alerts, each step DEGRADED_STEP_AFTER seconds after the one before
    # while the signs persist.
    DEGRADED_ACK_TIMEOUT = 90.0
    DEGRADED_SEND_FAILURES = 3
    DEGRADED_OFFLINE_AFTER = 300.0
    DEGRADED_STEP_AFTER = 120.0
    # List cache (contacts, groups, chats; docs/api.md): "simple" (this process), "none", or a
    # redis:// URL several gateway nodes share. TTLs in seconds; config/<env>.py tunes them
    # (the seed's table: 300 s in development, 3600 s in production). Chats change most.
    CACHE = "simple"
    CACHE_TTL_CONTACTS = 1800.0
    CACHE_TTL_GROUPS = 1800.0
    CACHE_TTL_CHATS = 60.0
    # Uploads (POST …/messages/media): bytes per file, and the extensions taken (uploads.py).
    UPLOAD_MAX_BYTES = 16 * 2**20
    UPLOAD_TYPES = ["jpg", "jpeg", "png", "gif", "bmp", "webp", "pdf", "doc", "docx", "xls",
                    "xlsx", "txt", "mp3", "ogg", "mp4"]
    # Incoming media (docs/configuration.md). MEDIA_MAX_BYTES: the largest file downloaded
    # (413 media_too_large above it); read out of the page MEDIA_CHUNK_BYTES at a time.
    MEDIA_MAX_BYTES = 64 * 2**20
    MEDIA_CHUNK_BYTES = 512 * 2**10
    # Automatic download of each incoming media message: "" (off), "local" (DATA_DIR/media,
    # at most MEDIA_LOCAL_MAX_BYTES, oldest evicted first) or "s3://bucket/prefix" (boto3;
    # credentials from the AWS_* variables; MEDIA_S3_ENDPOINT for a non-AWS S3 API).
    MEDIA_STORE = ""
    MEDIA_LOCAL_MAX_BYTES = 2**30
    MEDIA_S3_ENDPOINT = ""
    MEDIA_URL_TTL = 3600  # seconds a presigned S3 URL in an event stays valid
    MEDIA_PUBLIC_URL = ""  # prefix of local media URLs in events, e.g. https://wa.example.com
    MEDIA_WORKERS = 2  # downloads at once (each holds its session's events until stored)
    # Non-chat events (docs/webhooks.md). SYNC_ALL_STATUS: receive other people's status posts
    # (status.posted); wa-js syncAllStatus. UNDECRYPTABLE_AFTER: seconds a message may stay
    # "waiting for this message" (ciphertext) before message.undecryptable reports it.
    SYNC_ALL_STATUS = False
    UNDECRYPTABLE_AFTER = 60.0
    # Incoming calls (call.received): REJECT_CALLS rejects them at once and, with CALL_REPLY
    # set, answers the caller with that text (through the paced send queue). Defaults of the
    # per-session `rejectCalls` and `callReply` fields (POST /sessions).
    REJECT_CALLS = False
    CALL_REPLY = ""


def _coerce(name: str, raw: str, default):
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"WAENGINE_{name}={raw!r} is not a boolean")
    if isinstance(default, (int, float)):
        try:
            return type(default)(raw)
        except ValueError:
            raise ConfigError(f"WAENGINE_{name}={raw!r} is not a number") from None
    if isinstance(default, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def assets_dir(environ=None) -> Path:
    """The node_modules-shaped assets folder: WAENGINE_ASSETS_DIR, or the checkout's or the
    installed package's. Read from the environment only, as module-level paths need it."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("WAENGINE_ASSETS_DIR") or Defaults.ASSETS_DIR)


def _env_file(env: str, config_dir: str) -> dict:
    path = Path(config_dir) / f"{env}.py"
    if not path.is_file():
        # A silent {} would run production with development's limits and no one would know.
        raise ConfigError(f"WAENGINE_ENV={env}: {path} does not exist (set WAENGINE_CONFIG_DIR "
                          "to the folder holding config/<env>.py)")
    return {k: v for k, v in runpy.run_path(str(path)).items() if k.isupper()}


def load_config(overrides: dict | None = None, environ=None) -> dict:
    """Return the merged configuration as a dict of UPPERCASE keys, validated."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    env = overrides.get("ENV") or environ.get("WAENGINE_ENV") or Defaults.ENV
    if env not in ENVIRONMENTS:
        raise ConfigError(f"WAENGINE_ENV={env!r}: expected one of {', '.join(ENVIRONMENTS)}")
    config = {k: getattr(Defaults, k) for k in dir(Defaults) if k.isupper()}
    config_dir = overrides.get("CONFIG_DIR") or environ.get("WAENGINE_CONFIG_DIR") or Defaults.CONFIG_DIR
    config.update(_env_file(env, config_dir))
    for key, default in list(config.items()):
        raw = environ.get(f"WAENGINE_{key}")
        if raw is not None:
            config[key] = _coerce(key, raw, default)
    config.update(overrides)
    config["ENV"] = env
    config["CONFIG_DIR"] = str(config_dir)
    if config["WA_JS"] == Defaults.WA_JS:
        config["WA_JS"] = str(Path(config["ASSETS_DIR"]) / WA_JS_IN_ASSETS)
    validate(config)
    return config


def validate(config: dict) -> None:
    """Raise ConfigError naming the first setting that cannot work."""
    for key in ("WA_LOAD_TIMEOUT", "COMMAND_TIMEOUT", "PUMP_INTERVAL", "QR_TTL", "QR_FIRST_TTL",
                "WATCHDOG_INTERVAL", "REAPER_INTERVAL", "POLL_TIMEOUT", "SESSION_IDLE_TIMEOUT",
                "QR_SCAN_TIMEOUT", "SAFETY_POLL_INTERVAL", "WS_PING_INTERVAL",
                "DEGRADED_ACK_TIMEOUT", "DEGRADED_OFFLINE_AFTER", "DEGRADED_STEP_AFTER"):
        if config[key] <= 0:
            raise ConfigError(f"{key} must be positive, got {config[key]}")
    if not 0 <= config["HISTORY_DAYS"] <= 36500:
        raise ConfigError(f"HISTORY_DAYS must be between 0 and 36500, got {config['HISTORY_DAYS']}")
    if config["UNDECRYPTABLE_AFTER"] <= 0:
        raise ConfigError(f"UNDECRYPTABLE_AFTER must be positive, got {config['UNDECRYPTABLE_AFTER']}")
    if len(str(config["CALL_REPLY"])) > 4096:
        raise ConfigError("CALL_REPLY must be at most 4096 characters")
    if config["SESSION_MEMORY_BUDGET_MB"] < 0:
        raise ConfigError("SESSION_MEMORY_BUDGET_MB must be 0 (no ladder) or more")
    if int(config["SEND_RETRIES"]) < 0 or config["SEND_RETRY_DELAY"] < 0:
        raise ConfigError("SEND_RETRIES and SEND_RETRY_DELAY must be 0 or more")
    if int(config["WARM_BROWSERS"]) < 0 or config["WARM_MAX_AGE"] <= 0:
        raise ConfigError("WARM_BROWSERS must be 0 or more and WARM_MAX_AGE positive")
    for key in ("MAX_SESSIONS", "LAUNCH_CONCURRENCY", "THREADS", "STUCK_POLLS", "WS_SEND_BUFFER",
                "DEGRADED_SEND_FAILURES"):
        if int(config[key]) < 1:
            raise ConfigError(f"{key} must be at least 1, got {config[key]}")
    if not config["SSE_MAX_STREAMS"]:
        config["SSE_MAX_STREAMS"] = max(1, int(config["THREADS"]) // 4)
    if not 1 <= int(config["SSE_MAX_STREAMS"]) <= int(config["THREADS"]) // 2:
        raise ConfigError(f"SSE_MAX_STREAMS ({config['SSE_MAX_STREAMS']}) must be between 1 and "
                          f"half of THREADS ({config['THREADS']}): streams hold request threads, "
                          "and API calls and /health need the rest")
    _validate_security(config)
    if config["STUCK_TIMEOUT"] <= config["COMMAND_TIMEOUT"]:
        # A command may legitimately run COMMAND_TIMEOUT; killing its browser sooner breaks it.
        raise ConfigError(f"STUCK_TIMEOUT ({config['STUCK_TIMEOUT']}) must be longer than "
                          f"COMMAND_TIMEOUT ({config['COMMAND_TIMEOUT']})")
    for key in ("CACHE_TTL_CONTACTS", "CACHE_TTL_GROUPS", "CACHE_TTL_CHATS"):
        if config[key] <= 0:
            raise ConfigError(f"{key} must be positive, got {config[key]}")
    if not (config["CACHE"] in ("simple", "none")
            or str(config["CACHE"]).startswith(("redis://", "rediss://", "unix://"))):
        raise ConfigError(f"CACHE must be simple, none or a redis:// URL, got {config['CACHE']!r}")
    if not str(config["WA_URL"]).startswith(("http://", "https://")):
        raise ConfigError(f"WA_URL must be an http(s) URL, got {config['WA_URL']!r}")
    if not re.fullmatch(r"(/[A-Za-z0-9_.-]+)+", str(config["DASHBOARD_PATH"])):
        raise ConfigError(f"DASHBOARD_PATH must be a path like /dashboard, got "
                          f"{config['DASHBOARD_PATH']!r}")
    if config["PUMP_MODE"] not in ("push", "poll"):
        raise ConfigError(f"PUMP_MODE must be push or poll, got {config['PUMP_MODE']!r}")
    if config["WA_JS_INJECT"] not in ("auto", "never"):
        raise ConfigError(f"WA_JS_INJECT must be auto or never, got {config['WA_JS_INJECT']!r}")
    _validate_database(config)
    _validate_media(config)
    if config["LOG_FORMAT"] not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json, got {config['LOG_FORMAT']!r}")
    from .events.signing import secret_problem

    if secret_problem(config["WEBHOOK_SECRET"] or ""):
        raise ConfigError(f"WEBHOOK_SECRET: {secret_problem(config['WEBHOOK_SECRET'])}")
    from .events.sinks import parse_config

    try:
        config["SINKS"] = parse_config(config["SINKS"])
    except ValueError as e:  # json.JSONDecodeError is one
        raise ConfigError(f"SINKS: {e}") from None
    from .events.sinks import address_problem
    from .netguard import Guard

    guard = Guard.parse(bool(config["WEBHOOK_ALLOW_PRIVATE"]), config["WEBHOOK_ALLOW"])
    for sink in config["SINKS"]:
        if address_problem(sink["url"], guard):
            raise ConfigError(f"SINKS: {address_problem(sink['url'], guard)}")
    if config["SINK_TIMEOUT"] <= 0:
        raise ConfigError(f"SINK_TIMEOUT must be positive, got {config['SINK_TIMEOUT']}")
    if isinstance(config["API_KEYS"], str):
        config["API_KEYS"] = [k.strip() for k in config["API_KEYS"].split(",") if k.strip()]
    parse_api_keys(config["API_KEYS"])
    if config["ENV"] == "production" and not config["API_KEYS"] and not config["AUTH_DISABLED"]:
        raise ConfigError(
            "production needs WAENGINE_API_KEYS (or WAENGINE_AUTH_DISABLED=1 to run without auth)"
        )
    if config["API_KEYS"] and config["AUTH_DISABLED"]:
        # Which one was meant? Opening the API by mistake is the worse guess.
        raise ConfigError("WAENGINE_AUTH_DISABLED=1 and WAENGINE_API_KEYS are both set: unset "
                          "one (keys: auth on; AUTH_DISABLED alone: the API is open)")
    if config["ENV"] == "production":
        for key in parse_api_keys(config["API_KEYS"]):
            if key.short:
                raise ConfigError(f"API_KEYS entry {key.number} is shorter than "
                                  f"{RECOMMENDED_KEY_LENGTH} bytes: production keys must be "
                                  "random and long (openssl rand -hex 24)")


def _validate_security(config: dict) -> None:
    total = int(config["SSE_MAX_STREAMS"])
    if int(config["SSE_ADMIN_STREAMS"]) < 0:
        config["SSE_ADMIN_STREAMS"] = 1 if total > 1 else 0
    if not 0 <= int(config["SSE_ADMIN_STREAMS"]) < total:
        raise ConfigError(f"SSE_ADMIN_STREAMS ({config['SSE_ADMIN_STREAMS']}) must be 0 or more "
                          f"and less than SSE_MAX_STREAMS ({total})")
    if int(config["SSE_STREAMS_PER_KEY"]) < 0:
        config["SSE_STREAMS_PER_KEY"] = max(1, (total - int(config["SSE_ADMIN_STREAMS"])) // 2)
    if int(config["SSE_STREAMS_PER_KEY"]) < 1:
        raise ConfigError("SSE_STREAMS_PER_KEY must be at least 1")
    from .netguard import Guard

    try:
        guard = Guard.parse(bool(config["WEBHOOK_ALLOW_PRIVATE"]), config["WEBHOOK_ALLOW"])
        if config["WEBHOOK_URL"]:  # refused at every delivery otherwise: say so at start
            guard.check_url(str(config["WEBHOOK_URL"]))
    except ValueError as e:  # AddressRefused too
        raise ConfigError(f"WEBHOOK_URL: {e}" if "outgoing" in str(e) else str(e)) from None
    from .ratelimit import parse_limits

    for key in ("RATE_LIMIT", "AUTH_FAIL_LIMIT"):
        try:
            parse_limits(config[key])
        except ValueError:
            raise ConfigError(f"{key}={config[key]!r} is not a rate like 10/minute or "
                              "50/second;1800/minute") from None
    if config["SECRET_KEY"] and len(str(config["SECRET_KEY"])) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters (openssl rand -base64 32)")


def _validate_database(config: dict) -> None:
    url = str(config["DATABASE_URL"] or "")
    if url and not url.startswith(("postgresql://", "postgres://")):
        scheme = url.split("://", 1)[0] if "://" in url else "no scheme"  # never the password
        raise ConfigError(f"DATABASE_URL must be empty (SQLite) or postgresql://…, got {scheme}")
    if float(config["LEASE_TTL"]) < 1:
        raise ConfigError(f"LEASE_TTL must be at least 1 second, got {config['LEASE_TTL']}")
    if config["SNAPSHOT_INTERVAL"] <= 0 or int(config["SNAPSHOT_KEEP"]) < 1:
        raise ConfigError("SNAPSHOT_INTERVAL must be positive and SNAPSHOT_KEEP at least 1")
    if config["SNAPSHOT_STORE"] and not config["SNAPSHOT_KEY"] and config["ENV"] == "production":
        raise ConfigError("SNAPSHOT_STORE needs SNAPSHOT_KEY in production: the snapshots hold "
                          "WhatsApp logins (set WAENGINE_SNAPSHOT_KEY to a long passphrase)")
    secret = str(config["CLUSTER_SECRET"] or "")
    if secret and len(secret) < 32:
        raise ConfigError("CLUSTER_SECRET must be at least 32 characters (openssl rand -base64 32)")
    if url and not secret and config["ENV"] == "production":
        raise ConfigError("cluster mode (DATABASE_URL) in production needs WAENGINE_CLUSTER_SECRET:"
                          " nodes forward requests to each other signed with it")
    if int(config["DATABASE_POOL_SIZE"]) < 1:
        raise ConfigError(f"DATABASE_POOL_SIZE must be at least 1, got {config['DATABASE_POOL_SIZE']}")


def _validate_media(config: dict) -> None:
    if int(config["MEDIA_MAX_BYTES"]) < 1 or int(config["MEDIA_WORKERS"]) < 1:
        raise ConfigError("MEDIA_MAX_BYTES and MEDIA_WORKERS must be at least 1")
    if not 1024 <= int(config["MEDIA_CHUNK_BYTES"]) <= 8 * 2**20:
        # Each chunk is one WebDriver string (base64): big ones stall the session's queue.
        raise ConfigError(f"MEDIA_CHUNK_BYTES must be 1024..8388608, got {config['MEDIA_CHUNK_BYTES']}")
    store = str(config["MEDIA_STORE"] or "")
    if store and store != "local" and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?",
                                                       store):
        raise ConfigError(f"MEDIA_STORE must be empty, local or s3://bucket/prefix, got {store!r}")
    if store == "local" and int(config["MEDIA_LOCAL_MAX_BYTES"]) < int(config["MEDIA_MAX_BYTES"]):
        raise ConfigError("MEDIA_LOCAL_MAX_BYTES must be at least MEDIA_MAX_BYTES")
    if not 1 <= int(config["MEDIA_URL_TTL"]) <= 604800:  # S3 presigns at most 7 days
        raise ConfigError(f"MEDIA_URL_TTL must be 1..604800 seconds, got {config['MEDIA_URL_TTL']}")
