# PostgreSQL 15 from Debian 12 for deploy/compose.cluster.yaml (cluster mode's store), built on
# the same base as the gateway, so nothing is pulled from an image registry. Any PostgreSQL
# (13 or newer) works the same; a managed one replaces this service.
ARG BASE=docker.io/library/debian:12-slim
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
COPY deploy/postgres-start.sh /usr/local/bin/postgres-start
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
# SIGINT is PostgreSQL's fast shutdown: the gateways' pooled connections would hold off a smart
# one (SIGTERM) until the stop timeout.
STOPSIGNAL SIGINT
CMD ["postgres-start"]
