#!/usr/bin/env bash
# Agent authentication: every agent call but enrolment and the CA needs a client
# certificate issued by this server's CA for a live host. No certificate, a certificate
# from another CA (even with the right serial and subject), an expired one, one not for
# client authentication, or one of a revoked or deleted host are refused; and an agent can
# only ever write as the host of its own certificate.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"

start_server || {
	ok 1 "server starts"
	finish
}
tok=$(new_token '{"uses": 3}')
for n in a b c; do
	new_agent $n
	enroll $n "$tok" || diag "enrolment of $n failed: $BODY"
done
ida=$(cat "$T/a.id")
idb=$(cat "$T/b.id")
idc=$(cat "$T/c.id")
serial_a=$(certtool -i --infile "$T/a.crt" 2>/dev/null | sed -n 's/.*Serial Number (hex): *//p')
events='{"events": [{"seq": 1, "time": 1795650000000, "type": "agent.test", "data": {}}]}'

for path in checkin inventory events; do
	call "$AGENT_URL/agent/v1/$path" -H 'Content-Type: application/json' --data-binary '{}'
	expect_status 401 "POST /agent/v1/$path without a certificate is refused"
	expect_code no_client_certificate "as no_client_certificate"
done

# Another CA issues a certificate with host a's serial number and subject.
cat >"$T/other-ca.tmpl" <<EOF
cn = "mamori CA impostor"
ca
cert_signing_key
expiration_days = 30
EOF
certtool --generate-privkey --key-type ecdsa --no-text --outfile "$T/other-ca.key" 2>/dev/null
certtool --generate-self-signed --load-privkey "$T/other-ca.key" --template "$T/other-ca.tmpl" \
	--no-text --outfile "$T/other-ca.crt" 2>/dev/null
cat >"$T/forged.tmpl" <<EOF
cn = "$ida"
serial = 0x$serial_a
tls_www_client
signing_key
expiration_days = 30
EOF
certtool --generate-certificate --load-request "$T/a.csr" --load-ca-certificate "$T/other-ca.crt" \
	--load-ca-privkey "$T/other-ca.key" --template "$T/forged.tmpl" --no-text \
	--outfile "$T/forged.crt" 2>/dev/null
ok $? "made a certificate from another CA with host a's serial and subject"
call "$AGENT_URL/agent/v1/events" --cert "$T/forged.crt" --key "$T/a.key" --data-binary "$events"
expect_status 403 "a certificate from another CA is refused"
expect_code bad_certificate "as bad_certificate"

# Our own CA, but expired (the test can read ca.key; an attacker cannot).
cat >"$T/expired.tmpl" <<EOF
cn = "$ida"
serial = 0x$serial_a
tls_www_client
signing_key
activation_date = "2001-01-01 00:00:00"
expiration_date = "2002-01-01 00:00:00"
EOF
certtool --generate-certificate --load-request "$T/a.csr" --load-ca-certificate "$STATE/ca.crt" \
	--load-ca-privkey "$STATE/ca.key" --template "$T/expired.tmpl" --no-text \
	--outfile "$T/expired.crt" 2>/dev/null
call "$AGENT_URL/agent/v1/events" --cert "$T/expired.crt" --key "$T/a.key" --data-binary "$events"
expect_code bad_certificate "an expired certificate is refused"
grep -qi "expired" <<<"$(jget "$BODY" .error)"
ok $? "and the message says it expired"

# Our CA, a serial no host holds.
sed 's/^serial = .*/serial = 12345/; /_date/d' "$T/expired.tmpl" >"$T/stray.tmpl"
echo "expiration_days = 30" >>"$T/stray.tmpl"
certtool --generate-certificate --load-request "$T/a.csr" --load-ca-certificate "$STATE/ca.crt" \
	--load-ca-privkey "$STATE/ca.key" --template "$T/stray.tmpl" --no-text \
	--outfile "$T/stray.crt" 2>/dev/null
call "$AGENT_URL/agent/v1/events" --cert "$T/stray.crt" --key "$T/a.key" --data-binary "$events"
expect_code bad_certificate "a certificate whose serial is no host's is refused"

# The server's own certificate is for TLS servers only.
call "$AGENT_URL/agent/v1/events" --cert "$STATE/server.crt" --key "$STATE/server.key" \
	--data-binary "$events"
expect_code bad_certificate "a certificate not made for client authentication is refused"

# Agent a writes, naming host b in every way a body could.
agent a POST /agent/v1/events "{\"host_id\": \"$idb\", \"host\": \"$idb\", \"events\": [
	{\"seq\": 1, \"time\": 1795650000000, \"type\": \"agent.test\", \"host_id\": \"$idb\",
	 \"data\": {\"host_id\": \"$idb\"}}]}"
expect_status 200 "agent a posts an event naming host b"
agent a POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 1, \"host_id\": \"$idb\"}"
expect_status 200 "and a check-in naming host b"
printf '{"os": {"name": "Debian"}, "host_id": "%s"}' "$idb" >"$T/doc.json"
body=$("$MAMORI_BUILD_ROOT/tests/api/invtool" full "$T/doc.json" |
	python3 -c 'import json,sys; d=json.load(sys.stdin); d["host_id"]=sys.argv[1]; print(json.dumps(d))' "$idb")
agent a POST /agent/v1/inventory "$body"
expect_status 200 "and an inventory naming host b"
api GET "/api/v1/hosts/$ida/events"
[ "$(jget "$BODY" .acked_seq)" = 1 ]
ok $? "the event was stored for host a"
api GET "/api/v1/hosts/$idb/events"
[ "$(jget "$BODY" .acked_seq)" = 0 ] && [ "$(jget "$BODY" .events)" = "[]" ]
ok $? "and nothing for host b"
api GET "/api/v1/hosts/$idb"
[ "$(jget "$BODY" .last_seen)" = null ] || [ "$(jget "$BODY" .last_seen)" = 0 ]
ok $? "host b was never seen"
[ -z "$(jget "$BODY" .inventory_digest | tr -d 'null')" ]
ok $? "and has no inventory"
api GET "/api/v1/hosts/$ida"
[ -n "$(jget "$BODY" .inventory_digest | tr -d 'null')" ] && [ "$(jget "$BODY" .last_seen)" != null ]
ok $? "host a has both"

# Revoked and deleted hosts.
api POST "/api/v1/hosts/$idb/revoke"
expect_status 200 "an admin revokes host b"
agent b POST /agent/v1/events "$events"
expect_status 403 "host b's certificate is refused"
expect_code host_revoked "as host_revoked"
api DELETE "/api/v1/hosts/$idc"
expect_status 200 "an admin deletes host c"
agent c POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 1}'
expect_code host_revoked "host c's certificate is refused too"
api GET "/api/v1/hosts/$idc"
expect_status 404 "and host c is gone"
agent a POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 2}'
expect_status 200 "host a still works"
api GET "/api/v1/hosts?status=revoked"
[ "$(jget "$BODY" .total)" = 1 ] && [ "$(jget "$BODY" '.hosts[0].id')" = "$idb" ]
ok $? "the host list filters revoked hosts"

call "$AGENT_URL/agent/v1/ca" --cert "$T/forged.crt" --key "$T/a.key"
expect_status 200 "GET /agent/v1/ca does not care about certificates"
grep -q '(M4102)' "$T/server.log"
ok $? "refused certificates are logged (M4102)"
grep -q '(M4103)' "$T/server.log"
ok $? "revoked hosts' attempts are logged (M4103)"

stop_server
ok $? "the server exits 0 on SIGTERM"
finish
