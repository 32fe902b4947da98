#!/usr/bin/env bash
# The server's life: command-line errors (one line, exit 2), configuration errors (every
# one with file:line), refusing to start with readable key or token files, shedding load
# with 503 and Retry-After, and SIGTERM: no new connections, requests in progress
# finish, exit 0.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"

out=$("$SERVER" --bogus 2>&1); rc=$?
[ $rc = 2 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q -- --bogus <<<"$out"
ok $? "an unknown option: one line naming it, exit 2"
out=$("$SERVER" --state-dir 2>&1); rc=$?
[ $rc = 2 ] && grep -q "needs a value" <<<"$out"
ok $? "an option without its value: exit 2"
out=$("$SERVER" stray 2>&1); rc=$?
[ $rc = 2 ] && grep -q stray <<<"$out"
ok $? "a stray argument: exit 2"
out=$("$SERVER" --state-dir "$STATE" --agent-listen nowhere 2>&1); rc=$?
[ $rc = 2 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q -- "--agent-listen" <<<"$out"
ok $? "a bad --agent-listen: one line naming the flag, exit 2"
[ ! -e "$STATE" ]
ok $? "and nothing was created"
"$SERVER" --version | grep -q '^mamori-server [0-9]'
ok $? "--version"
"$SERVER" --help | grep -q -- --agent-listen
ok $? "--help"

cat >"$T/bad.conf" <<EOF
# three mistakes
threads = lots
colour = blue
agent_listen = 127.0.0.1:0
name = not a name
EOF
out=$("$SERVER" --config "$T/bad.conf" --state-dir "$STATE" 2>&1); rc=$?
[ $rc = 1 ]
ok $? "a configuration file with errors: exit 1"
grep -q "bad.conf:2:.*threads" <<<"$out" && grep -q "bad.conf:3:.*colour" <<<"$out" &&
	grep -q "bad.conf:5:.*not a name" <<<"$out"
ok $? "every error reported with file:line, in one go"
[ "$(grep -c '(M3001)' <<<"$out")" -ge 3 ]
ok $? "under message id M3001"

cat >"$T/good.conf" <<EOF
# the overload test's settings
agent_max_inflight = 1
retry_after = 7
shutdown_timeout = 20s
api_listen = 127.0.0.1:1
EOF
start_server --config "$T/good.conf" || {
	ok 1 "server starts with a configuration file (flags override it)"
	finish
}
ok 0 "server starts with a configuration file (flags override it)"

# A second server on the same port must fail, not share the port.
out=$(timeout 10 "$SERVER" --state-dir "$T/state2" --agent-listen "127.0.0.1:${AGENT_URL##*:}" \
	--api-listen 127.0.0.1:0 2>&1)
rc=$?
[ $rc = 1 ] && grep -q "(M3004).*in use" <<<"$out"
ok $? "a second server on the same agent port refuses to start (address in use)"

# One slow request holds the only agent slot; the next is shed.
head -c 60000 /dev/zero | tr '\0' 'x' >"$T/slow.json"
curl -sS -o "$T/slow.out" -w '%{http_code}' --cacert "$STATE/ca.crt" --limit-rate 15k \
	--data-binary "@$T/slow.json" "$AGENT_URL/agent/v1/enroll" >"$T/slow.status" 2>/dev/null &
slow=$!
sleep 1
curl -sS -D "$T/h" -o "$T/b" --cacert "$STATE/ca.crt" "$AGENT_URL/agent/v1/ca" 2>/dev/null
BODY=$(cat "$T/b")
STATUS=$(sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p' "$T/h")
expect_status 503 "an agent request over the in-flight cap is shed"
expect_code busy "as busy"
grep -qi '^retry-after: 7' "$T/h"
ok $? "with Retry-After from the configuration"
call "$API_URL/api/v1/status" -H "Authorization: Bearer $ADMIN"
expect_status 200 "the admin API is not affected"

# SIGTERM while the slow request is still uploading.
kill -TERM "$SERVER_PID"
sleep 0.5
curl -sS -o /dev/null --cacert "$STATE/ca.crt" --max-time 3 "$AGENT_URL/agent/v1/ca" 2>/dev/null
[ $? = 7 ]
ok $? "after SIGTERM new connections are refused"
wait $slow
[ "$(cat "$T/slow.status")" = 400 ] && grep -q malformed "$T/slow.out"
ok $? "the request in progress still got its answer"
wait "$SERVER_PID"
rc=$?
SERVER_PID=
[ $rc = 0 ]
ok $? "the server exits 0"
grep -q '(M3006)' "$T/server.log" && grep -q '(M3007)' "$T/server.log"
ok $? "logging that it stops and stopped"

# Secrets readable by others stop the server before it listens.
for f in ca.key server.key admin.token; do
	chmod 0644 "$STATE/$f"
	out=$("$SERVER" --state-dir "$STATE" --agent-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 2>&1)
	rc=$?
	[ $rc = 1 ] && grep -q "(M3023).*$f.*0644" <<<"$out"
	ok $? "$f with mode 0644: the server refuses to start, naming it"
	chmod 0600 "$STATE/$f"
done
chmod 0640 "$STATE/ca.key"
"$SERVER" --state-dir "$STATE" --agent-listen 127.0.0.1:0 --api-listen 127.0.0.1:0 >/dev/null 2>&1
[ $? = 1 ]
ok $? "mode 0640 too"
chmod 0600 "$STATE/ca.key"

fp=$(certtool -i --infile "$STATE/ca.crt" 2>/dev/null | sed -n '/Fingerprint:/,/sha256/s/.*sha256://p')
start_server || ok 1 "restarts"
[ ${#fp} = 64 ] && grep '(M3021)' "$T/server.log" | tr -d ':' | grep -q "$fp"
ok $? "restarted with the same CA (fingerprint logged)"
! grep -q '(M3010)' "$T/server.log"
ok $? "and no new bootstrap token"
api GET /api/v1/status
[ "$(jget "$BODY" .ca_fingerprint | tr -d :)" = "$fp" ]
ok $? "the old admin token still works and the status names the CA"
stop_server
ok $? "exit 0 again"
finish
