#!/usr/bin/env bash
# make image: build the gateway and nginx images (and the PostgreSQL and S3 images of
# deploy/compose.cluster.yaml) with podman where base images cannot be
# pulled: a Debian 12 root made with debootstrap is imported as the base (docs/deployment.md).
#   IMAGE_BASE_ROOT  a debootstrapped bookworm root (default: test-fresh's, made if missing)
#   FRESH_MIRROR     Debian mirror (default: the first one this host's apt uses)
#   PODMAN_OPTS      podman options for build and run (scripts/podman-opts.sh: found out when unset)
set -euo pipefail
cd "$(dirname "$0")/.."
FRESH_DIR=${FRESH_DIR:-/var/tmp/waengine-fresh}
IMAGE_BASE_ROOT=${IMAGE_BASE_ROOT:-$FRESH_DIR/base}
BASE=localhost/waengine-base:bookworm
mirror() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | grep -oE '^(URIs:|deb)[[:space:]]+https?://[^ ]+/debian/?$' \
    | awk '{print $2}' | head -n1 || true
}
FRESH_MIRROR=${FRESH_MIRROR:-$(mirror)}
FRESH_MIRROR=${FRESH_MIRROR%/}
# The base root has what this script uses in it (ca-certificates, for the site CA); a root made
# without it (by hand, or an older test-fresh) gets it through the root's own apt.
if [ ! -x "$IMAGE_BASE_ROOT/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase --include=ca-certificates bookworm "$IMAGE_BASE_ROOT" "$FRESH_MIRROR"
fi

# The base: that root with Debian's sources (security included) and the host's site CA, if it
# has one, so apt, npm and pip inside the build trust the same TLS as the host.
work=$(mktemp -d /var/tmp/waengine-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a "$IMAGE_BASE_ROOT" "$work/root"
cat > "$work/root/etc/apt/sources.list" <<SOURCES
deb $FRESH_MIRROR bookworm main
deb $FRESH_MIRROR bookworm-updates main
deb ${FRESH_MIRROR}-security bookworm-security main
SOURCES
if [ ! -x "$work/root/usr/sbin/update-ca-certificates" ]; then
  cp /etc/resolv.conf "$work/root/etc/resolv.conf"
  chroot "$work/root" apt-get update -qq
  chroot "$work/root" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null
  chroot "$work/root" apt-get clean
fi
rm -rf "$work/root/home/"* "$work/root/var/cache/apt/archives/"*.deb
changes=(--change 'CMD ["/bin/bash"]')
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$work/root/usr/local/share/ca-certificates/"
  chroot "$work/root" update-ca-certificates >/dev/null
  changes+=(--change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt'
            --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
fi
tar -C "$work/root" -c . | podman import "${changes[@]}" - "$BASE"

source scripts/podman-opts.sh
podman_opts "$BASE"
podman build "${PODMAN_ARGS[@]}" --format docker --build-arg BASE="$BASE" -t localhost/waengine:latest .
podman build "${PODMAN_ARGS[@]}" --format docker --build-arg BASE="$BASE" -f deploy/nginx.Dockerfile \
  -t localhost/waengine-nginx:latest .
# deploy/compose.cluster.yaml's store and snapshot store, from the same base (no image registry)
podman build "${PODMAN_ARGS[@]}" --format docker --build-arg BASE="$BASE" -f deploy/postgres.Dockerfile \
  -t localhost/waengine-postgres:latest .
podman build "${PODMAN_ARGS[@]}" --format docker --build-arg BASE="$BASE" -f deploy/s3.Dockerfile \
  -t localhost/waengine-s3:latest .
podman images --filter reference='localhost/waengine*'
