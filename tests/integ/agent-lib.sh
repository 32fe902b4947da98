# Helpers for the agent daemon's integration tests (sourced after lib.sh).
#   start_fake / restart_fake / stop_fake   the fake server (fake-server.py) in $WORK/srv
#   fake_config JSON, fake_token TOKEN      steer it through its control listener
#   fake_query EXPR                         evaluates a Python expression over its state `s`
#   enroll_agent DIR [args…]                enrols a state directory with a fresh token
#   start_agent DIR [args…] / stop_agent / kill9_agent / agent_pids
#   make_root DIR                           a small endpoint root for --root
#   wait_until SECONDS CMD…                 retries CMD until it succeeds or time runs out
# Everything lives in $WORK, removed on exit. Tests run as root use privilege separation;
# the worker runs as nobody, so $WORK is world-traversable.
need_cmd python3 openssl
WORK=$(mktemp -d /tmp/mamori-agent-test.XXXXXX)
chmod 755 "$WORK"
FAKE_PID=
AGENT_PID=
AGENT_LOG=$WORK/agent.log
_started=() # every daemon and server this test started, killed (by pid) at exit

_agent_cleanup() {
	local p
	kill9_agent
	stop_fake
	stop_server
	# Only processes whose command line names this test's directory: a pid may be reused.
	for p in "${_started[@]}" $(for p in "${_started[@]}"; do pgrep -P "$p"; done 2>/dev/null); do
		tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF "$WORK" && kill -9 "$p" 2>/dev/null
	done
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "# kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap _agent_cleanup EXIT

wait_until() { # seconds, command…
	local end=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
	return 0
}

_ports() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
	"$WORK/srv/ports.json" "$1"; }

start_fake() {
	rm -f "$WORK/srv/ports.json"
	python3 "$SRC/tests/integ/fake-server.py" "$WORK/srv" >>"$WORK/srv.log" 2>&1 &
	FAKE_PID=$!
	_started+=("$FAKE_PID")
	local before=${1:-}
	wait_until 30 test -f "$WORK/srv/ports.json" || {
		diag "the fake server did not start"
		sed 's/^/# /' "$WORK/srv.log"
		return 1
	}
	CTL_PORT=$(_ports control)
	AGENT_PORT=$(_ports agent)
	SERVER_URL=https://127.0.0.1:$AGENT_PORT
	CA_FP=$(openssl x509 -in "$WORK/srv/ca.crt" -noout -fingerprint -sha256 | sed 's/.*=//')
}

stop_fake() {
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
		FAKE_PID=
	fi
}

restart_fake() {
	stop_fake
	start_fake
}

_ctl() { # path json
	python3 - "$CTL_PORT" "$1" "$2" <<'PY'
import sys, urllib.request
req = urllib.request.Request("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]),
                             data=sys.argv[3].encode(), method="POST")
urllib.request.urlopen(req, timeout=10).read()
PY
}
fake_config() { _ctl /config "$1"; }
fake_token() { _ctl /token "{\"token\": \"$1\", \"uses\": ${2:-1}}"; }

# fake_query 'len(s["hosts"])' — prints the value; fails when it is false or the query fails.
fake_query() {
	python3 - "$CTL_PORT" "$1" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen("http://127.0.0.1:%s/state" % sys.argv[1], timeout=10))
hosts = list(s["hosts"].values())
h = hosts[-1] if hosts else None
v = eval(sys.argv[2])
print(v if not isinstance(v, (dict, list)) else json.dumps(v))
sys.exit(0 if v else 1)
PY
}

_token_n=0
enroll_agent() { # dir, extra args…
	local dir=$1 tok
	shift
	if [ "$BACKEND" = real ]; then
		tok=$(server_token) || return 1
	else
		_token_n=$((_token_n + 1))
		tok=tok-$$-$_token_n
		fake_token "$tok"
	fi
	"$AGENT" enroll --server "$SERVER_URL" --token "$tok" --state-dir "$dir" "$@"
}

start_agent() { # dir, extra args…
	local dir=$1
	shift
	rm -f "$dir/status.json" # a killed daemon's says "running"
	"$AGENT" run --state-dir "$dir" "$@" >>"$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	_started+=("$AGENT_PID")
	AGENT_DIR=$dir
	# Ready once the daemon (the worker, when separated) wrote its status.
	wait_until 20 grep -q '"running":true' "$dir/status.json" 2>/dev/null
}

agent_pids() {
	[ -n "$AGENT_PID" ] || return 0
	echo "$AGENT_PID"
	pgrep -P "$AGENT_PID" 2>/dev/null
}

stop_agent() { # → the daemon's exit status
	local rc=0
	[ -n "$AGENT_PID" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	rc=$?
	AGENT_PID=
	return $rc
}

# The daemon's processes: the parent (root) and, when separated, its worker.
agent_worker() { pgrep -P "$AGENT_PID" 2>/dev/null | head -1; }

_gone() { # pids…
	local p
	for p in "$@"; do
		# A zombie waiting for init to reap it is gone for our purposes.
		[ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && return 1
	done
	return 0
}

kill9_agent() {
	local p pids
	[ -n "$AGENT_PID" ] || return 0
	pids=$(agent_pids)
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
	# shellcheck disable=SC2086
	wait_until 5 _gone $pids
}

agent_status() { # dir, python expression over the status JSON `j`
	"$AGENT" status --state-dir "$1" --json 2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)
v = eval(sys.argv[1])
print(v)
sys.exit(0 if v else 1)' "$2"
}

make_root() { # a small endpoint for --root: identity, os, cpu, memory
	local r=$1
	mkdir -p "$r/etc" "$r/proc" "$r/sys/class/dmi/id"
	printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n' >"$r/etc/os-release"
	echo testhost >"$r/etc/hostname"
	echo 0123456789abcdef0123456789abcdef >"$r/etc/machine-id"
	cp /proc/cpuinfo /proc/meminfo "$r/proc/" 2>/dev/null
	echo "Test Vendor" >"$r/sys/class/dmi/id/sys_vendor"
	echo "Test Laptop" >"$r/sys/class/dmi/id/product_name"
	echo 10 >"$r/sys/class/dmi/id/chassis_type"
	chmod -R a+rX "$r"
}

# ---- the real server (build/server/mamori-server) ----
#   start_server [CONFIG LINES…] / stop_server   on fixed loopback ports, so a restart keeps
#                                                them (and the agent's URL); state in $WORK/server
#   server_api METHOD PATH [JSON]                admin API call; prints the body
#   server_events HOST                           prints every event of HOST as a JSON array
BACKEND=fake
SERVER_PID=

_ready_count() { grep -c "(M3000)" "$WORK/server.log" 2>/dev/null || true; }
_ready_after() { [ "$(_ready_count)" -gt "${1:-0}" ]; }

_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_server() {
	local n
	[ -x "$SERVER" ] || skip_all "needs the server ($SERVER)"
	BACKEND=real
	if [ -z "${SRV_AGENT_PORT:-}" ]; then
		SRV_AGENT_PORT=$(_free_port)
		SRV_API_PORT=$(_free_port)
		printf '%s\n' "$@" >"$WORK/server.conf"
	fi
	n=$(_ready_count)
	"$SERVER" --config "$WORK/server.conf" --state-dir "$WORK/server" \
		--agent-listen "127.0.0.1:$SRV_AGENT_PORT" --api-listen "127.0.0.1:$SRV_API_PORT" \
		>>"$WORK/server.out" 2>>"$WORK/server.log" &
	SERVER_PID=$!
	_started+=("$SERVER_PID")
	if ! wait_until 30 _ready_after "$n"; then
		diag "the server did not start:"
		tail -20 "$WORK/server.log" | sed 's/^/#   /'
		return 1
	fi
	SERVER_URL=https://127.0.0.1:$SRV_AGENT_PORT
	API_URL=https://127.0.0.1:$SRV_API_PORT
	CA_FP=$(openssl x509 -in "$WORK/server/ca.crt" -noout -fingerprint -sha256 | sed 's/.*=//')
}

stop_server() {
	local rc=0
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID"
	rc=$?
	SERVER_PID=
	return $rc
}

server_api() { # method, path, [json]
	python3 - "$API_URL" "$WORK/server/ca.crt" "$WORK/server/admin.token" "$@" <<'PY'
import json, ssl, sys, urllib.request, urllib.error
url, ca, tok, method, path = sys.argv[1:6]
data = sys.argv[6].encode() if len(sys.argv) > 6 else None
req = urllib.request.Request(url + path, data=data, method=method, headers={
    "Authorization": "Bearer " + open(tok).read().strip(), "Content-Type": "application/json"})
try:
    body = urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca), timeout=30).read()
except urllib.error.HTTPError as e:
    body = e.read()
    print(body.decode(), file=sys.stderr)
    sys.exit(1)
print(body.decode())
PY
}

server_token() { server_api POST /api/v1/enroll-tokens '{"uses": 1}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }

server_events() { # host id
	python3 "$SRC/tests/integ/check-events.py" --dump "$API_URL" "$WORK/server/ca.crt" \
		"$WORK/server/admin.token" "$1"
}

# server_query HOST EXPR — like fake_query, over `ev` (HOST's events) and `host` (its record).
server_query() {
	python3 - "$API_URL" "$WORK/server/ca.crt" "$WORK/server/admin.token" "$1" "$2" <<'PY'
import json, ssl, sys, urllib.request
url, ca, tok, hid, expr = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
auth = {"Authorization": "Bearer " + open(tok).read().strip()}
def get(path):
    return json.load(urllib.request.urlopen(urllib.request.Request(url + path, headers=auth), context=ctx, timeout=30))
ev, after = [], 0
while True:
    page = get("/api/v1/hosts/%s/events?after=%d&limit=1000" % (hid, after))["events"]
    ev += page
    if len(page) < 1000:
        break
    after = page[-1]["seq"]
host = get("/api/v1/hosts/" + hid)
v = eval(expr)
print(v if not isinstance(v, (dict, list)) else json.dumps(v))
sys.exit(0 if v else 1)
PY
}
