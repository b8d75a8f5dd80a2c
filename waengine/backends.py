"""The store backend the configuration names: PostgreSQL (DATABASE_URL) or SQLite."""

from __future__ import annotations

from pathlib import Path

from .sealing import sealer_from_config
from .store import Store, StoreBase, check_database


def check_registry(config: dict, data_dir: Path) -> None:
    """Refuse a damaged or missing waengine.db while profiles are on disk (store.py
    check_database). SQLite only: with DATABASE_URL the registry is PostgreSQL's, and a cluster
    node's local profiles are its own copies of sessions the database knows."""
    if not (config.get("DATABASE_URL") or ""):
        check_database(data_dir)


def open_store(config: dict, data_dir: Path) -> StoreBase:
    """The store DATABASE_URL names (postgresql://…), else SQLite at data_dir/waengine.db."""
    url = config.get("DATABASE_URL") or ""
    if url:
        from .store_pg import PostgresStore  # psycopg only where PostgreSQL is used
        return PostgresStore(url, pool_size=int(config.get("DATABASE_POOL_SIZE") or 10),
                             timeout=float(config.get("STORE_BUSY_TIMEOUT") or 5.0),
                             # well inside a lease: a paused node cannot stall a takeover
                             idle_tx_timeout=max(1.0, float(config.get("LEASE_TTL") or 15) / 3),
                             sealer=sealer_from_config(config))
    check_registry(config, data_dir)
    return Store(data_dir / "waengine.db", config.get("STORE_BUSY_TIMEOUT") or 5.0,
                 sealer_from_config(config))
