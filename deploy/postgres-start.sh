#!/bin/sh
# The entry point of deploy/postgres.Dockerfile: at the first start (an empty data volume)
# initdb and the database and role POSTGRES_DB / POSTGRES_USER / POSTGRES_PASSWORD; then the
# server in the foreground, on POSTGRES_LISTEN (default 127.0.0.1: the compose file's shared
# network namespace) port 5432.
set -eu
: "${POSTGRES_DB:=waengine}" "${POSTGRES_USER:=waengine}"
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    --username=postgres -D "$PGDATA" >/dev/null
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /tmp" -w start >/dev/null
  psql -h /tmp -U postgres -v ON_ERROR_STOP=1 -q \
    -v user="$POSTGRES_USER" -v password="$POSTGRES_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres-start: created database $POSTGRES_DB owned by $POSTGRES_USER"
fi
exec postgres -D "$PGDATA" -c listen_addresses="${POSTGRES_LISTEN:-127.0.0.1}" -k /tmp
