#!/usr/bin/env bash
# `mamori-agent enroll` against a fake server: the CA is checked against --ca-fingerprint
# or pinned on first use, the private key never leaves the host, the state directory holds
# what docs/agent.md says, re-enrolment needs --force, and a changed CA is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"

start_fake || exit 1
st=$WORK/state
wrong=00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF

out=$(enroll_agent "$st" --ca-fingerprint "$wrong" 2>&1); rc=$?
ok $((rc == 0)) "a wrong --ca-fingerprint is refused"
printf '%s' "$out" | grep -q "refusing to enrol"; ok $? "saying so"
printf '%s' "$out" | grep -qi "$CA_FP"; ok $? "and showing the server's real fingerprint"
[ ! -e "$st/agent.conf" ] && [ ! -e "$st/agent.key" ] && [ ! -e "$st/ca.crt" ]
ok $? "leaving no state behind"

out=$("$AGENT" enroll --server "$SERVER_URL" --token no-such-token --state-dir "$st" 2>&1); rc=$?
ok $((rc == 0)) "an unknown token is refused"
printf '%s' "$out" | grep -q "token_unknown"; ok $? "with the server's reason"
[ ! -e "$st/agent.conf" ]; ok $? "and no agent.conf"

out=$(enroll_agent "$st" 2>&1); rc=$?
ok $rc "enrolment on first use succeeds"
printf '%s' "$out" | grep -qi "$CA_FP"; ok $? "printing the CA fingerprint for comparison"
host=$(fake_query 'list(s["hosts"])[0]')
grep -q "^host_id = $host\$" "$st/agent.conf"; ok $? "agent.conf names the host the server created"
grep -q "^server = $SERVER_URL\$" "$st/agent.conf"; ok $? "and the server"
[ "$(stat -c %a "$st/agent.key")" = 600 ]; ok $? "agent.key is mode 600"
[ "$(stat -c %a "$st")" = 700 ]; ok $? "the state directory is mode 700"
cmp -s "$st/ca.crt" "$WORK/srv/ca.crt"; ok $? "ca.crt is the server's CA"
openssl verify -CAfile "$st/ca.crt" "$st/agent.crt" >/dev/null 2>&1; ok $? "agent.crt is issued by it"
openssl x509 -in "$st/agent.crt" -noout -subject | grep -q "CN = $host"
ok $? "for CN=<host id>"
openssl pkey -in "$st/agent.key" -noout -text 2>/dev/null | grep -q "prime256v1\|P-256"
ok $? "the key is ECDSA P-256"
[ "$(openssl x509 -in "$st/agent.crt" -noout -pubkey)" = "$(openssl pkey -in "$st/agent.key" -pubout)" ]
ok $? "and the certificate is for it"
keybody=$(grep -v -- ----- "$st/agent.key" | tr -d '\n' | cut -c1-40)
! grep -q -- "$keybody" "$WORK/srv/state.json" && ! grep -q "PRIVATE KEY" "$WORK/srv/state.json"
ok $? "the private key was never sent (only a CSR)"
fake_query 'h["facts"]["agent_version"] and h["facts"]["hostname"]' >/dev/null
ok $? "the enrolment carried the agent's facts"

out=$("$AGENT" status --state-dir "$st" 2>&1); rc=$?
ok $rc "status succeeds on an enrolled directory"
printf '%s' "$out" | grep -q "yes, as host $host"; ok $? "and says enrolled, with the host id"
printf '%s' "$out" | grep -qi "$CA_FP"; ok $? "and the CA fingerprint"

sum=$(cat "$st"/agent.* | cksum)
keysum=$(cksum <"$st/agent.key")
out=$(enroll_agent "$st" 2>&1); rc=$?
ok $((rc == 0)) "enrolling again is refused"
printf '%s' "$out" | grep -q "already enrolled.*--force"; ok $? "pointing at --force"
[ "$(cat "$st"/agent.* | cksum)" = "$sum" ]; ok $? "and changes nothing"

out=$(enroll_agent "$st" --force --ca-fingerprint "$CA_FP" 2>&1); rc=$?
ok $rc "--force enrols again (the right fingerprint given, with colons)"
host2=$(sed -n 's/^host_id = //p' "$st/agent.conf")
[ -n "$host2" ] && [ "$host2" != "$host" ]; ok $? "as a new host"
[ "$(cksum <"$st/agent.key")" != "$keysum" ]; ok $? "with a new key"

# Another server (another CA) behind the same URL: the pinned CA refuses it.
stop_fake
mv "$WORK/srv" "$WORK/srv-old"
mkdir -p "$WORK/srv"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(json.dumps({"agent_port": s["agent_port"], "tokens": {}, "hosts": {}, "serials": {}, "next_serial": 100, "config": s["config"], "requests": [], "conflicts": [], "enrollments": []}))' \
	"$WORK/srv-old/state.json" >"$WORK/srv/state.json"
start_fake || exit 1
out=$(enroll_agent "$st" --force 2>&1); rc=$?
ok $((rc == 0)) "a server with another CA is refused by the pinned CA"
printf '%s' "$out" | grep -q "differs from the one pinned"; ok $? "saying so"
grep -q "^host_id = $host2\$" "$st/agent.conf"; ok $? "and the old enrolment stays"
out=$(enroll_agent "$st" --force --ca-fingerprint "$CA_FP" 2>&1); rc=$?
ok $rc "with the new CA's fingerprint given, it is accepted"
cmp -s "$st/ca.crt" "$WORK/srv/ca.crt"; ok $? "and the new CA is pinned"

"$AGENT" enroll --server "http://127.0.0.1:$AGENT_PORT" --token x --state-dir "$WORK/s2" >/dev/null 2>&1
ok $(($? != 2)) "an http:// server is bad use (exit 2)"
"$AGENT" enroll --server "$SERVER_URL" --state-dir "$WORK/s2" >/dev/null 2>&1
ok $(($? != 2)) "a missing --token is bad use (exit 2)"
"$AGENT" enroll --server "$SERVER_URL" --token x --state-dir "$WORK/s2" --ca-fingerprint abc >/dev/null 2>&1
ok $(($? != 2)) "a malformed --ca-fingerprint is bad use (exit 2)"
"$AGENT" status --state-dir "$WORK/s3" >/dev/null 2>&1
ok $(($? != 1)) "status on a directory never enrolled exits 1"

# libcurl's libssh2_init() binds to the agent's own (agent/uplink_init.c), so OpenSSL's
# engines are never set up: about 1.5 MiB of libcrypto per process (bench/agent-idle.sh).
if ldd "$AGENT" | grep -q libssh2; then
	LD_DEBUG=bindings "$AGENT" enroll --server "https://127.0.0.1:1" --token x \
		--state-dir "$WORK/s4" >"$WORK/bindings" 2>&1
	grep "symbol \`libssh2_init'" "$WORK/bindings" | grep -q "libcurl.* to .*mamori-agent"
	ok $? "libcurl's libssh2_init() is the agent's (no OpenSSL engine set-up)"
	grep "symbol \`libssh2_init'" "$WORK/bindings" | grep -vq "mamori-agent"
	ok $((! $?)) "and nothing binds it to libssh2's"
else
	diag "this libcurl does not link libssh2: nothing to check"
fi
finish
