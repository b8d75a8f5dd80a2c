#!/usr/bin/env bash
# The README's sandbox walk-through against the images `make image` built: the gateway
# (non-root, Chromium's sandbox on), and in its network namespace (as compose.yaml does) nginx
# in front and the sandbox; every API request goes through nginx. Leaves nothing behind.
# docs/deployment.md, section 6.
#   PODMAN_OPTS  podman options, as for build-image.sh (scripts/podman-opts.sh: found out when unset)
#   PORT, SANDBOX_PORT  host ports for nginx and the sandbox (default: free ones)
set -euo pipefail
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=${PORT:-$(free_port)}
SANDBOX_PORT=${SANDBOX_PORT:-$(free_port)}
POD=waengine-walkthrough-$$
KEY=walkthrough-key-0123456789abcdef  # production refuses keys shorter than 24 bytes
cd "$(dirname "$0")/.."
source scripts/podman-opts.sh
podman_opts localhost/waengine:latest
opts=("${PODMAN_ARGS[@]}")
cleanup() {
  podman rm -f -v -t 30 "$POD-nginx" "$POD-sandbox" "$POD-gw" >/dev/null 2>&1 || true
  podman volume rm -f "$POD-data" >/dev/null 2>&1 || true
}
trap cleanup EXIT
podman run "${opts[@]}" -d --name "$POD-gw" --shm-size 1g -v "$POD-data:/data" \
  -p "127.0.0.1:$PORT:80" -p "127.0.0.1:$SANDBOX_PORT:8090" \
  -e WAENGINE_API_KEYS="$KEY" -e WAENGINE_BIND=127.0.0.1:8080 -e WAENGINE_WA_URL=http://127.0.0.1:8090/ \
  localhost/waengine:latest >/dev/null
podman run "${opts[@]}" -d --network "container:$POD-gw" --name "$POD-sandbox" localhost/waengine:latest \
  waengine sandbox --host 0.0.0.0 --port 8090 >/dev/null
podman run "${opts[@]}" -d --network "container:$POD-gw" --name "$POD-nginx" localhost/waengine-nginx:latest >/dev/null

GW=http://127.0.0.1:$PORT SB=http://127.0.0.1:$SANDBOX_PORT
J='Content-Type: application/json' K="X-API-Key: $KEY"
wait_until() { for _ in $(seq 1 "$1"); do if eval "$2"; then return 0; fi; sleep 1; done
               echo "walkthrough: timed out: $2" >&2; podman logs --tail 30 "$POD-gw" >&2; exit 1; }
wait_until 90 "curl -sf $GW/health >/dev/null"
echo "health (through nginx): $(curl -s $GW/health)"
podman healthcheck run "$POD-gw" && echo "HEALTHCHECK: healthy"
echo "gateway user: $(podman exec "$POD-gw" id -un); PID 1: $(podman exec "$POD-gw" cat /proc/1/comm)"
curl -sf "$GW/sessions" -H "$J" -H "$K" -d '{"id":"sales"}'; echo
wait_until 90 "QR=\$(curl -sf $GW/sessions/sales/qr -H '$K' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"qr\"])' 2>/dev/null)"
curl -sf "$SB/_sandbox/link" -H "$J" -d "{\"qr\":\"$QR\",\"phone\":\"6281111111111\"}"; echo
wait_until 90 "curl -s $GW/sessions/sales -H '$K' | grep -q CONNECTED"
# Chromium runs as the non-root user with its sandbox: no --no-sandbox on any of its processes.
procs=$(podman exec "$POD-gw" sh -c 'for p in /proc/[0-9]*; do echo "$(stat -c %U $p) $(readlink $p/ns/user) $(tr "\0" " " < $p/cmdline)"; done' 2>/dev/null | tr -d '\0')
echo "$procs" | grep -c "chromium/chromium" | xargs echo "chromium processes:"
echo "$procs" | grep -- "--type=renderer" | cut -c1-110 | head -2
echo "user namespaces: $(echo "$procs" | grep "chromium/chromium" | cut -d' ' -f2 | sort | uniq -c | tr '\n' ' ')(renderers in their own: the namespace sandbox)"
if echo "$procs" | grep -q -- "--no-sandbox"; then echo "walkthrough: chromium runs with --no-sandbox" >&2; exit 1; fi
echo "chromium: runs as $(echo "$procs" | grep "chromium/chromium" | cut -d' ' -f1 | sort -u | tr '\n' ' ')with its sandbox (no --no-sandbox)"
curl -sf "$SB/_sandbox/phones" -H "$J" -d '{"phone":"6282222222222","name":"Budi"}'; echo
curl -sf "$GW/sessions/sales/messages" -H "$J" -H "$K" -d '{"to":"+62 822-2222-2222","text":"Halo!"}'; echo
wait_until 60 "curl -s '$SB/_sandbox/messages?to=6282222222222' | grep -q Halo"
echo "Budi's phone: $(curl -s "$SB/_sandbox/messages?to=6282222222222")"
echo "walkthrough: ok"
