# Helpers for the API tests (sourced after tests/integ/lib.sh): start the real
# mamori-server on loopback ports chosen by the kernel in a temporary state directory,
# call both APIs with curl, and make agents (key and CSR with certtool, enrolment,
# client certificates).
#   start_server [ARGS…]       — starts it; sets $T, $STATE, $AGENT_URL, $API_URL, $ADMIN;
#                                its store is SQLite in $STATE, or with MAMORI_STORE_URL a
#                                PostgreSQL database of the test's own (test_store_args)
#   stop_server                — SIGTERM, waits; returns the server's exit status
#   api METHOD PATH [JSON]     — admin call with $ADMIN; body in $BODY, status in $STATUS
#   call URL CURL_ARGS…        — any call; body in $BODY, status in $STATUS
#   new_agent NAME             — key and CSR in $T/NAME.key, $T/NAME.csr
#   new_token [JSON]           — creates an enrolment token, prints its secret
#   enroll NAME TOKEN          — enrols agent NAME; $T/NAME.crt, host id in $T/NAME.id
#   agent NAME METHOD PATH [JSON|@FILE] [CURL_ARGS…] — agent call with NAME's certificate
#   jget JSON PATH             — prints a member of a JSON text (PATH like .a.b[0].c)
need_cmd curl certtool python3

T=$(mktemp -d /tmp/mamori-api-XXXXXX)
STATE=$T/state
SERVER_PID=
BODY=
STATUS=

cleanup() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -KILL "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	test_store_drop
	if [ -n "${MAMORI_KEEP_TEST_DIR:-}" ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

# Waits (up to 30 s) for a line matching $1 in the server's log.
wait_log() {
	local i
	for i in $(seq 300); do
		grep -q -- "$1" "$T/server.log" 2>/dev/null && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

start_server() {
	: >"$T/server.log"
	test_store_args || return 1
	"$SERVER" --state-dir "$STATE" --agent-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
		--log-level debug "${STORE_ARGS[@]}" "$@" >"$T/server.out" 2>>"$T/server.log" &
	SERVER_PID=$!
	if ! wait_log '(M3000)'; then
		diag "the server did not start:"
		sed 's/^/#   /' "$T/server.log" | tail -20
		return 1
	fi
	AGENT_URL=https://127.0.0.1:$(grep -o 'agent API listening on [0-9.]*:[0-9]*' "$T/server.log" |
		tail -1 | sed 's/.*://')
	API_URL=https://127.0.0.1:$(grep -o 'admin API listening on [0-9.]*:[0-9]*' "$T/server.log" |
		tail -1 | sed 's/.*://')
	ADMIN=$(cat "$STATE/admin.token")
}

stop_server() {
	local rc
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	rc=$?
	SERVER_PID=
	return $rc
}

call() {
	local url=$1
	shift
	STATUS=$(curl -sS -o "$T/body" -w '%{http_code}' --cacert "$STATE/ca.crt" "$@" "$url" \
		2>"$T/curl.err") || STATUS=000
	BODY=$(cat "$T/body" 2>/dev/null)
}

api() {
	local method=$1 path=$2
	if [ $# -ge 3 ]; then
		call "$API_URL$path" -X "$method" -H "Authorization: Bearer $ADMIN" \
			-H 'Content-Type: application/json' --data-binary "$3"
	else
		call "$API_URL$path" -X "$method" -H "Authorization: Bearer $ADMIN"
	fi
}

new_agent() {
	certtool --generate-privkey --key-type ecdsa --no-text --outfile "$T/$1.key" 2>/dev/null
	printf 'cn = "%s"\ndns_name = "evil.example"\n' "$1" >"$T/$1.tmpl"
	certtool --generate-request --load-privkey "$T/$1.key" --template "$T/$1.tmpl" --no-text \
		--outfile "$T/$1.csr" 2>/dev/null
}

new_token() {
	api POST /api/v1/enroll-tokens "${1:-{\}}"
	jget "$BODY" .token
}

jget() {
	python3 -c '
import json, re, sys
v = json.loads(sys.argv[1])
for part in re.findall(r"\.([A-Za-z_0-9]+)|\[(\d+)\]", sys.argv[2]):
    v = v[part[0]] if part[0] else v[int(part[1])]
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
' "$1" "$2" 2>/dev/null
}

# The enrolment body for agent NAME with TOKEN (and optional extra facts JSON).
enroll_body() {
	python3 -c '
import json, sys
print(json.dumps({"token": sys.argv[2], "csr": open(sys.argv[1]).read(),
                  "facts": {"hostname": sys.argv[3], "os": "Debian GNU/Linux 12",
                            "machine_id": "0123456789abcdef0123456789abcdef",
                            "agent_version": "0.1.0"}}))
' "$T/$1.csr" "$2" "$1"
}

enroll() {
	enroll_body "$1" "$2" >"$T/$1.enroll.json"
	call "$AGENT_URL/agent/v1/enroll" -H 'Content-Type: application/json' \
		--data-binary "@$T/$1.enroll.json"
	[ "$STATUS" = 200 ] || return 1
	jget "$BODY" .certificate >"$T/$1.crt"
	jget "$BODY" .host_id >"$T/$1.id"
}

agent() {
	local name=$1 method=$2 path=$3
	shift 3
	local data=()
	if [ $# -ge 1 ]; then
		data=(--data-binary "$1")
		shift
	fi
	call "$AGENT_URL$path" -X "$method" --cert "$T/$name.crt" --key "$T/$name.key" \
		-H 'Content-Type: application/json' "${data[@]}" "$@"
}

# ok-style checks on the last call.
expect_status() { # STATUS what
	[ "$STATUS" = "$1" ]
	ok $? "$2 (HTTP $1)"
	[ "$STATUS" = "$1" ] || diag "got HTTP $STATUS: $BODY"
}
expect_code() { # CODE what
	local c
	c=$(jget "$BODY" .code)
	[ "$c" = "$1" ]
	ok $? "$2 (code $1)"
	[ "$c" = "$1" ] || diag "got HTTP $STATUS: $BODY"
}
