# Helpers for tests with several mamori-servers sharing one store ($MAMORI_STORE_URL, a
# PostgreSQL database from tests/pg-cluster.sh) and one CA, as docs/operations.md runs
# them behind a load balancer. Sourced after tests/integ/lib.sh.
#   srv_start N [ARGS…]   — starts server N (1, 2, …) in $T/sN with its log in $T/sN.log;
#                           server 1 makes the CA, the others get copies of its files;
#                           sets SPID[N], AURL[N] (agent API), PURL[N] (admin API), $ADMIN
#   srv_wait_log N REGEX [SECONDS] — waits for a line in server N's log
#   srv_kill N            — kill -9
need_cmd curl python3
[ -n "${MAMORI_STORE_URL:-}" ] || skip_all "no PostgreSQL store (run through tests/pg-cluster.sh)"

T=$(mktemp -d /tmp/mamori-servers-XXXXXX)
declare -a SPID AURL PURL
ADMIN=

srv_cleanup() {
	local p
	for p in "${SPID[@]}"; do
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [ -n "${MAMORI_KEEP_TEST_DIR:-}" ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
}
trap srv_cleanup EXIT

srv_wait_log() { # N REGEX [SECONDS]
	local i
	for i in $(seq $((${3:-30} * 10))); do
		grep -q -- "$2" "$T/s$1.log" 2>/dev/null && return 0
		kill -0 "${SPID[$1]}" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

srv_start() { # N [ARGS…]
	local n=$1 f
	shift
	mkdir -p -m 0700 "$T/s$n"
	if [ "$n" != 1 ]; then
		for f in ca.key ca.crt server.key server.crt; do
			install -m 0600 "$T/s1/$f" "$T/s$n/$f"
		done
	fi
	: >"$T/s$n.log"
	"$SERVER" --state-dir "$T/s$n" --store "$MAMORI_STORE_URL" --agent-listen 127.0.0.1:0 \
		--api-listen 127.0.0.1:0 --log-level debug "$@" >"$T/s$n.out" 2>>"$T/s$n.log" &
	SPID[n]=$!
	if ! srv_wait_log "$n" '(M3000)'; then
		diag "server $n did not start:"
		sed 's/^/#   /' "$T/s$n.log" | tail -20
		return 1
	fi
	AURL[n]=https://127.0.0.1:$(grep -o 'agent API listening on [0-9.]*:[0-9]*' "$T/s$n.log" |
		tail -1 | sed 's/.*://')
	PURL[n]=https://127.0.0.1:$(grep -o 'admin API listening on [0-9.]*:[0-9]*' "$T/s$n.log" |
		tail -1 | sed 's/.*://')
	[ -n "$ADMIN" ] || ADMIN=$(cat "$T/s1/admin.token")
}

srv_kill() {
	kill -KILL "${SPID[$1]}"
	wait "${SPID[$1]}" 2>/dev/null
	SPID[$1]=
}

# An admin call on server N: body in $BODY, status in $STATUS.
srv_api() { # N METHOD PATH [JSON]
	local n=$1 method=$2 path=$3
	local data=()
	[ $# -ge 4 ] && data=(-H 'Content-Type: application/json' --data-binary "$4")
	STATUS=$(curl -sS -o "$T/body" -w '%{http_code}' --cacert "$T/s1/ca.crt" -X "$method" \
		-H "Authorization: Bearer $ADMIN" "${data[@]}" "${PURL[$n]}$path" 2>"$T/curl.err") ||
		STATUS=000
	BODY=$(cat "$T/body" 2>/dev/null)
}
