#!/usr/bin/env bash
# docs/cluster.md's "Three nodes under compose": deploy/compose.cluster.yaml run by podman-compose
# (three nodes, PostgreSQL, moto's S3, nginx, the sandbox), a session linked and sending, then the
# node running it killed (SIGKILL, its browser with it): the session comes back CONNECTED on
# another node without a QR scan and sends again. Every API request goes through nginx; only
# the phone's side goes to the sandbox. Needs the images of `make image`. Leaves nothing behind.
#   PODMAN_OPTS            podman options, as for build-image.sh (scripts/podman-opts.sh)
#   PORT, SANDBOX_PORT     host ports for nginx and the sandbox (default: free ones)
#   WAENGINE_LEASE_TTL     the nodes' lease, seconds (default 15)
#   PODMAN_COMPOSE         the podman-compose command (default: .venv/bin/podman-compose)
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export PORT=${PORT:-$(free_port)} SANDBOX_PORT=${SANDBOX_PORT:-$(free_port)}
export WAENGINE_API_KEYS=walkthrough-key-0123456789abcdef
export WAENGINE_CLUSTER_SECRET=walkthrough-cluster-secret-0123456789abcdef
export WAENGINE_SNAPSHOT_KEY="walkthrough snapshot passphrase" POSTGRES_PASSWORD=walkthrough
export WAENGINE_LEASE_TTL=${WAENGINE_LEASE_TTL:-15}
PODMAN_COMPOSE=${PODMAN_COMPOSE:-.venv/bin/podman-compose}
source scripts/podman-opts.sh
podman_opts localhost/waengine:latest
project=waengine-cluster-walkthrough-$$
compose=("$PODMAN_COMPOSE" -p "$project" --in-pod false
         --podman-run-args "${PODMAN_ARGS[*]}" -f deploy/compose.cluster.yaml)
cleanup() { "${compose[@]}" down -v -t 30 >/dev/null 2>&1 || true; }
trap cleanup EXIT
"${compose[@]}" up -d --no-build >/dev/null

GW=http://127.0.0.1:$PORT SB=http://127.0.0.1:$SANDBOX_PORT
J='Content-Type: application/json' K="X-API-Key: $WAENGINE_API_KEYS"
wait_until() { for _ in $(seq 1 "$1"); do if eval "$2"; then return 0; fi; sleep 1; done
               echo "walkthrough: timed out: $2" >&2; "${compose[@]}" logs --tail 30 >&2; exit 1; }
# a field of a JSON document on stdin (empty when it is not JSON)
field() { python3 -c 'import json, sys
try: print(json.load(sys.stdin)[sys.argv[1]])
except Exception: pass' "$1"; }
alive_nodes() { curl -sf "$GW/nodes" -H "$K" | python3 -c 'import json, sys
print(" ".join(sorted(n["id"] for n in json.load(sys.stdin)["data"] if n["alive"])))' 2>/dev/null || true; }
session() { curl -s "$GW/sessions/sales" -H "$K"; }
# POST through nginx: the answer's body, or its status and body on stderr and a failure
post() { local out; out=$(curl -s -w '\n%{http_code}' "$GW$1" -H "$J" -H "$K" -d "$2")
         echo "${out%$'\n'*}"; [[ "${out##*$'\n'}" == 20? ]] || { echo "walkthrough: POST $1: HTTP ${out##*$'\n'}" >&2; return 1; }; }

wait_until 180 "curl -sf $GW/health >/dev/null"
"${compose[@]}" ps
wait_until 120 '[ "$(alive_nodes)" = "gw-1 gw-2 gw-3" ]'
echo "health (through nginx): $(curl -s $GW/health)"
echo "nodes alive: $(alive_nodes)"
wait_until 60 "curl -sf $SB/ >/dev/null"

post /sessions '{"id":"sales"}' >/dev/null
# The QR rotates: a code read just before it changes is refused, and the next one is read.
wait_until 120 "QR=\$(curl -sf $GW/sessions/sales/qr -H '$K' | field qr) && [ -n \"\$QR\" ] &&
  curl -sf $SB/_sandbox/link -H '$J' -d \"{\\\"qr\\\":\\\"\$QR\\\",\\\"phone\\\":\\\"6281111111111\\\"}\" >/dev/null"
echo "linked: the sandbox phone 6281111111111 scanned the QR of session sales"
wait_until 120 "session | grep -q '\"status\":\"CONNECTED\"'"
owner=$(session | field node)
echo "session sales: CONNECTED on $owner"
curl -sf "$SB/_sandbox/phones" -H "$J" -d '{"phone":"6282222222222","name":"Budi"}' >/dev/null
post /sessions/sales/messages '{"to":"+62 822-2222-2222","text":"Halo!"}'
inbox() { curl -s "$SB/_sandbox/messages?to=6282222222222" | python3 -c 'import json, sys
print([m["text"] for m in json.load(sys.stdin)["data"]])'; }
wait_until 60 "inbox | grep -q Halo"
echo "Budi's phone got: $(inbox)"
# Failover restores the newest snapshot: the one taken once the session is CONNECTED.
wait_until 120 "curl -sf '$GW/sessions/sales/events/recent?limit=100' -H '$K' | grep -q '\"session.snapshot\"'"
echo "snapshot: $(curl -s "$GW/sessions/sales/events/recent?limit=100" -H "$K" | python3 -c 'import json, sys
print([e["data"] for e in json.load(sys.stdin)["data"] if e["type"] == "session.snapshot"][-1])')"

service=node${owner#gw-}
container=$(podman ps --filter "label=io.podman.compose.project=$project" \
                      --filter "label=com.docker.compose.service=$service" --format '{{.Names}}')
echo "podman kill $container   (SIGKILL: the node $owner dies with its Chromium)"
killed=$EPOCHREALTIME
podman kill "$container" >/dev/null
since() { awk -v a="$killed" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# "status node browser" of the session, or the error code of the answer (503 session_moving
# while its owner does not answer). Until the new owner's browser runs, the status is the one
# the dead node stored last.
state() { session | python3 -c 'import json, sys
try: view = json.load(sys.stdin)
except Exception: view = {}
print(view.get("status") or view.get("error", {}).get("code", "no answer"), view.get("node") or "-",
      "browser pid %s" % view["browser"]["pid"] if view.get("browser") else "no browser")'; }
last=""
taken_over() {
  local now status node browser
  now=$(state); read -r status node browser <<<"$now"
  if [ "$now" != "$last" ]; then printf '%6ss  sales: %s on %s, %s\n' "$(since)" "$status" "$node" "$browser"; last=$now; fi
  if [ "$status" = SCAN_QR ]; then echo "walkthrough: $node asks for a new QR scan" >&2; exit 1; fi
  [ "$status" = CONNECTED ] && [ "$node" != - ] && [ "$node" != "$owner" ] && [ "$browser" != "no browser" ]
}
wait_until 180 taken_over
took=$(since)
new=$(session | field node)
echo "session sales: CONNECTED on $new without a QR scan, $took s after the SIGKILL (lease ${WAENGINE_LEASE_TTL} s)"
echo "nodes alive: $(alive_nodes); $container: $(podman inspect --format '{{.State.Status}}, exit code {{.State.ExitCode}}' "$container")"
curl -s "$GW/sessions/sales/events/recent?limit=100" -H "$K" | python3 -c 'import json, sys
print("event:", [(e["type"], e["data"]) for e in json.load(sys.stdin)["data"] if e["type"] == "session.moved"][-1])'
post /sessions/sales/messages '{"to":"+62 822-2222-2222","text":"Masih di sini!"}'
wait_until 60 "inbox | grep -q 'Masih di sini'"
echo "Budi's phone got: $(inbox)"
echo "compose cluster walkthrough: ok"
