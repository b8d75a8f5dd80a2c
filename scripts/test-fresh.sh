#!/usr/bin/env bash
# make test-fresh: `make test` on a stock Debian 12 (or 13) root, as a normal user with sudo, with
# Chromium's sandbox on. Run as root on a Debian host with debootstrap (docs/deployment.md).
#
#   FRESH_DIR     work folder, outside the checkout (default /var/tmp/waengine-fresh)
#   FRESH_BASE    an existing debootstrapped root to start from (default: FRESH_DIR/base,
#                 made once with debootstrap and reused)
#   FRESH_MIRROR  Debian mirror (default: the first one this host's apt uses)
#   FRESH_SUITE   bookworm (Debian 12, default) or trixie (Debian 13)
#   FRESH_NODE    host: put this host's node and npm (a NodeSource Node.js: npm bundled) in the
#                 root's /usr/local before `make`, as a machine with NodeSource's Node has them;
#                 apt must then be asked for neither nodejs nor npm (make test-fresh-nodesource)
#   FRESH_MAKE    the make target run inside (default test; install stops after the set-up)
#   PYTEST_ARGS   passed to `make test` (default: the whole suite)
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT=$PWD
[ "$(id -u)" = 0 ] || { echo "test-fresh: run as root (debootstrap, mounts)" >&2; exit 1; }
FRESH_SUITE=${FRESH_SUITE:-bookworm}
FRESH_DIR=${FRESH_DIR:-/var/tmp/waengine-fresh}
FRESH_BASE=${FRESH_BASE:-$FRESH_DIR/base-$FRESH_SUITE}
mirror() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    2>/dev/null | grep -oE '^(URIs:|deb)[[:space:]]+https?://[^ ]+/debian/?$' \
    | awk '{print $2}' | head -n1 || true
}
FRESH_MIRROR=${FRESH_MIRROR:-$(mirror)}
FRESH_MIRROR=${FRESH_MIRROR%/}
ROOT=$FRESH_DIR/root
mkdir -p "$FRESH_DIR"

if [ ! -x "$FRESH_BASE/usr/bin/python3" ]; then
  # What a stock Debian 12 server has, plus make and sudo: no python3-venv, no Chromium.
  echo "test-fresh: debootstrap $FRESH_SUITE from $FRESH_MIRROR into $FRESH_BASE"
  debootstrap --variant=minbase --include=python3,make,sudo,ca-certificates \
    "$FRESH_SUITE" "$FRESH_BASE" "$FRESH_MIRROR"
fi

rm -rf "$ROOT"
cp -a "$FRESH_BASE" "$ROOT"

# Debian's own sources (main, updates, security: Chromium ships through security updates).
cat > "$ROOT/etc/apt/sources.list" <<SOURCES
deb $FRESH_MIRROR $FRESH_SUITE main
deb $FRESH_MIRROR $FRESH_SUITE-updates main
deb ${FRESH_MIRROR}-security $FRESH_SUITE-security main
SOURCES
# No init runs in here: packages must not try to start redis or nginx services.
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '127.0.0.1 localhost %s\n' "$(hostname)" > "$ROOT/etc/hosts"
# A site CA (a TLS-inspecting proxy) the host trusts: the root trusts it too, and pip and npm
# use the system store, as the site's own servers would be set up.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  chroot "$ROOT" update-ca-certificates >/dev/null
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$ROOT/etc/pip.conf"
  echo 'cafile=/etc/ssl/certs/ca-certificates.crt' > "$ROOT/etc/npmrc"
fi
if [ "${FRESH_NODE:-}" = host ]; then
  # node and npm outside apt: dpkg in the root knows neither, so only the Makefile's own check
  # (is the command there?) keeps apt from being asked for Debian's nodejs and npm.
  node=$(command -v node) npm_dir=$(dirname "$(readlink -f "$(command -v npm)")")/..
  [ -n "$node" ] && [ -f "$npm_dir/package.json" ] || { echo "test-fresh: no node/npm here" >&2; exit 1; }
  mkdir -p "$ROOT/usr/local/bin" "$ROOT/usr/local/lib/node_modules"
  cp "$(readlink -f "$node")" "$ROOT/usr/local/bin/node"
  cp -a "$(readlink -f "$npm_dir")" "$ROOT/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
  # This npm reads its global config from its own prefix (/usr/local/etc/npmrc), not /etc/npmrc.
  if [ -f "$ROOT/etc/npmrc" ]; then
    mkdir -p "$ROOT/usr/local/etc"
    cp "$ROOT/etc/npmrc" "$ROOT/usr/local/etc/npmrc"
  fi
  echo "test-fresh: node $(chroot "$ROOT" /usr/local/bin/node --version), npm" \
    "$(chroot "$ROOT" /usr/local/bin/node /usr/local/bin/npm --version) in /usr/local (not apt)"
fi
chroot "$ROOT" useradd --create-home --shell /bin/bash tester
echo 'tester ALL=(ALL) NOPASSWD: ALL' > "$ROOT/etc/sudoers.d/tester"
chmod 0440 "$ROOT/etc/sudoers.d/tester"
# The checkout as committed (git archive), not the working tree.
mkdir -p "$ROOT/home/tester/waengine"
git -C "$CHECKOUT" archive --format=tar HEAD | tar -x -C "$ROOT/home/tester/waengine"
chroot "$ROOT" chown -R tester:tester /home/tester/waengine

ARGS=${PYTEST_ARGS:-tests}
TARGET=${FRESH_MAKE:-test}
echo "test-fresh: make $TARGET PYTEST_ARGS='$ARGS' as tester in $ROOT"
# A private mount namespace: /proc, /dev and /dev/shm are mounted for the root and vanish with
# it, never touching the host's. pivot_root, not a bare chroot: the kernel refuses user
# namespaces (Chromium's sandbox) to a chrooted process, not to one whose root is its mount
# namespace's root.
unshare --mount --propagation private /bin/sh -c '
  set -e
  mount --bind "$1" "$1"
  mount -t proc proc "$1/proc"
  mount -t sysfs sys "$1/sys"
  mount --rbind /dev "$1/dev"
  mount -t tmpfs -o mode=1777,size=1g shm "$1/dev/shm"
  cd "$1"
  mkdir -p .oldroot
  pivot_root . .oldroot
  exec /usr/sbin/chroot . /bin/sh -c "umount -l /.oldroot && rmdir /.oldroot &&
    exec su - tester -c \"cd waengine && make $3 PYTEST_ARGS=\\\"$2\\\"\""
' sh "$ROOT" "$ARGS" "$TARGET"
