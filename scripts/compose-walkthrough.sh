#!/usr/bin/env bash
# The README's sandbox walk-through against compose.yaml run by podman-compose, with
# deploy/compose.sandbox.yaml adding the sandbox: every API request goes through nginx.
# Needs the images of `make image`. Leaves nothing behind. docs/deployment.md, section 6.
#   PODMAN_OPTS            podman options, as for build-image.sh (scripts/podman-opts.sh)
#   PORT, SANDBOX_PORT     host ports for nginx and the sandbox (default: free ones)
#   PODMAN_COMPOSE         the podman-compose command (default: .venv/bin/podman-compose)
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export PORT=${PORT:-$(free_port)} SANDBOX_PORT=${SANDBOX_PORT:-$(free_port)}
export WAENGINE_API_KEYS=walkthrough-key-0123456789abcdef
PODMAN_COMPOSE=${PODMAN_COMPOSE:-.venv/bin/podman-compose}
source scripts/podman-opts.sh
podman_opts localhost/waengine:latest
compose=("$PODMAN_COMPOSE" -p "waengine-walkthrough-$$" --in-pod false
         --podman-run-args "${PODMAN_ARGS[*]}" -f compose.yaml -f deploy/compose.sandbox.yaml)
cleanup() { "${compose[@]}" down -v -t 30 >/dev/null 2>&1 || true; }
trap cleanup EXIT
"${compose[@]}" up -d --no-build

GW=http://127.0.0.1:$PORT SB=http://127.0.0.1:$SANDBOX_PORT
J='Content-Type: application/json' K="X-API-Key: $WAENGINE_API_KEYS"
wait_until() { for _ in $(seq 1 "$1"); do if eval "$2"; then return 0; fi; sleep 1; done
               echo "walkthrough: timed out: $2" >&2; "${compose[@]}" logs --tail 30 >&2; exit 1; }
wait_until 120 "curl -sf $GW/health >/dev/null"
echo "health (through nginx): $(curl -s $GW/health)"
"${compose[@]}" ps
wait_until 60 "curl -sf $SB/ >/dev/null"
curl -sf "$GW/sessions" -H "$J" -H "$K" -d '{"id":"sales"}' >/dev/null
wait_until 90 "QR=\$(curl -sf $GW/sessions/sales/qr -H '$K' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"qr\"])' 2>/dev/null)"
curl -sf "$SB/_sandbox/link" -H "$J" -d "{\"qr\":\"$QR\",\"phone\":\"6281111111111\"}"; echo
wait_until 90 "curl -s $GW/sessions/sales -H '$K' | grep -q CONNECTED"
echo "session sales: CONNECTED"
curl -sf "$SB/_sandbox/phones" -H "$J" -d '{"phone":"6282222222222","name":"Budi"}' >/dev/null
curl -sf "$GW/sessions/sales/messages" -H "$J" -H "$K" -d '{"to":"+62 822-2222-2222","text":"Halo!"}'; echo
wait_until 60 "curl -s '$SB/_sandbox/messages?to=6282222222222' | grep -q Halo"
echo "Budi's phone got: $(curl -s "$SB/_sandbox/messages?to=6282222222222" | python3 -c 'import json,sys; print([m["text"] for m in json.load(sys.stdin)["data"]])')"
echo "compose walkthrough: ok"
