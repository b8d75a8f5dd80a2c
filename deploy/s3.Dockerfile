# An S3 API for deploy/compose.cluster.yaml's profile snapshots: moto's server (the S3
# emulator the test suite runs), built on the gateway's base, so nothing is pulled from an image
# registry. It keeps objects in memory only: it stands in for a real S3 (AWS, MinIO, Ceph, R2)
# on one machine; point WAENGINE_SNAPSHOT_STORE and WAENGINE_SNAPSHOT_S3_ENDPOINT at that
# in production.
ARG BASE=docker.io/library/debian:12-slim
FROM ${BASE}
# moto's S3 and its server's Flask only: moto[server] adds every other service's libraries
# (CloudFormation linting, sympy, ...: 170 MB more) that an S3 server never imports.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/moto \
 && /opt/moto/bin/pip install --no-cache-dir --disable-pip-version-check 'moto[s3]>=5.0,<6' flask flask-cors \
 && useradd --uid 10002 --no-create-home --shell /usr/sbin/nologin moto
COPY deploy/s3-server.py /opt/moto/s3-server.py
USER moto
EXPOSE 9000
CMD ["/opt/moto/bin/python", "/opt/moto/s3-server.py"]
