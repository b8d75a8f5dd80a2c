# The waengine gateway: Debian 12, Chromium and chromedriver from apt, Node only to fetch the
# npm assets, a non-root user (so Chromium's sandbox stays on), tini as PID 1 (it reaps the
# zombies Chromium leaves), /data as the volume of logins. docs/deployment.md, section 6.
#   docker build -t waengine .        podman build --format docker -t waengine .
# BASE: any Debian 12 image; `make image` builds on a root made with debootstrap.
ARG BASE=docker.io/library/debian:12-slim

# wa-js (injected into WhatsApp Web) and Swagger UI (/docs offline) from package-lock.json.
FROM ${BASE} AS assets
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# The package, installed (not editable) into a venv; config/, gunicorn.conf.py and the assets
# land in /opt/waengine/share/waengine (setup.cfg data_files), where the package looks.
FROM ${BASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/waengine
WORKDIR /src
COPY setup.cfg pyproject.toml README.md gunicorn.conf.py ./
COPY config/ config/
COPY waengine/ waengine/
COPY --from=assets /src/node_modules/ node_modules/
RUN /opt/waengine/bin/pip install --no-cache-dir --disable-pip-version-check '.[redis,sinks,s3]'

FROM ${BASE}
# chromium-sandbox: the setuid helper, for runtimes whose seccomp profile refuses user
# namespaces (Docker's default); with them (podman's default) Chromium uses namespaces.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      chromium chromium-driver chromium-sandbox python3 tini ca-certificates fonts-liberation \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --uid 10001 --create-home --home-dir /home/waengine --shell /usr/sbin/nologin waengine \
 && install -d -o waengine -g waengine -m 0700 /data
COPY --from=build /opt/waengine /opt/waengine
ENV PATH=/opt/waengine/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WAENGINE_ENV=production \
    WAENGINE_DATA_DIR=/data \
    WAENGINE_BIND=0.0.0.0:8080
USER waengine
WORKDIR /home/waengine
VOLUME /data
EXPOSE 8080
# The port follows WAENGINE_BIND; /health needs no key.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ['WAENGINE_BIND'].rsplit(':', 1)[1], timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["gunicorn", "-c", "/opt/waengine/share/waengine/gunicorn.conf.py", "waengine:create_app()"]
