#!/usr/bin/env bash
# Enrolment: a good token gives a certificate whose subject the server chose; expired, used
# up, unknown and revoked tokens are refused with their own codes; a refused enrolment
# consumes nothing and creates no host; admin writes land in the audit trail.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"

start_server || {
	ok 1 "server starts"
	finish
}
grep -q '^(M3010) bootstrap admin token written to .*admin.token: mat_' "$T/server.out"
ok $? "the bootstrap admin token is printed once on stdout"
[ "$(stat -c %a "$STATE/admin.token")" = 600 ]
ok $? "admin.token has mode 0600"

call "$AGENT_URL/agent/v1/ca"
expect_status 200 "GET /agent/v1/ca works without a client certificate"
[ "$BODY" = "$(cat "$STATE/ca.crt")" ]
ok $? "and returns the CA certificate"

# A good token, in a group, for two hosts.
api POST /api/v1/enroll-tokens '{"uses": 2, "expires_in": "1h", "group": "sales", "comment": "laptops"}'
expect_status 201 "an admin creates an enrolment token"
tok=$(jget "$BODY" .token)
tok_id=$(jget "$BODY" .id)
[[ $tok == mtk_* ]] && [ ${#tok} -eq 56 ]
ok $? "its secret is mtk_ and 52 base32 characters"

new_agent pc1
enroll pc1 "$tok"
expect_status 200 "enrolment with a good token"
id1=$(cat "$T/pc1.id")
[[ $id1 =~ ^[0-9a-f-]{36}$ ]]
ok $? "gives a host id ($id1)"
ca_in_answer=$(jget "$BODY" .ca)
[ "$ca_in_answer" = "$(cat "$STATE/ca.crt")" ]
ok $? "and the CA certificate"
[ "$(jget "$BODY" .checkin_interval)" = 300 ]
ok $? "and the check-in interval"
info=$(certtool -i --infile "$T/pc1.crt" 2>/dev/null)
grep -q "Subject: CN=$id1\$" <<<"$info"
ok $? "the certificate's subject is CN=<host id>, not the CSR's"
! grep -q "evil.example" <<<"$info"
ok $? "the CSR's subject alternative name is not copied"
grep -q "TLS WWW Client" <<<"$info"
ok $? "the certificate is for client authentication"
certtool --verify --load-ca-certificate "$STATE/ca.crt" --infile "$T/pc1.crt" >/dev/null 2>&1
ok $? "it verifies against the server's CA"

agent pc1 POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 1795650000}'
expect_status 200 "the new certificate is accepted for check-in"

new_agent pc2
enroll pc2 "$tok"
expect_status 200 "a second use of a two-use token"
new_agent pc3
enroll pc3 "$tok"
expect_status 403 "a third use is refused"
expect_code token_used "because the token is used up"
grep -q "used" <<<"$(jget "$BODY" .error)"
ok $? "and the message says so"

# Unknown and malformed tokens.
enroll pc3 "mtk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
expect_code token_unknown "an unknown token is refused"
enroll pc3 "hello"
expect_code token_unknown "a malformed token is refused as unknown"

# Expired: one second of life.
api POST /api/v1/enroll-tokens '{"expires_in": 1}'
short=$(jget "$BODY" .token)
sleep 2.2
enroll pc3 "$short"
expect_status 403 "an expired token is refused"
expect_code token_expired "because it expired"

# Revoked.
api POST /api/v1/enroll-tokens '{}'
rtok=$(jget "$BODY" .token)
rid=$(jget "$BODY" .id)
api POST "/api/v1/enroll-tokens/$rid/revoke"
expect_status 200 "an admin revokes a token"
enroll pc3 "$rtok"
expect_code token_revoked "a revoked token is refused"
api DELETE /api/v1/enroll-tokens/et_nonexistent
expect_status 404 "revoking an unknown token is 404"

# A bad CSR does not consume a use.
api POST /api/v1/enroll-tokens '{"uses": 1}'
ctok=$(jget "$BODY" .token)
cid=$(jget "$BODY" .id)
sed -i '3s/./X/' "$T/pc3.csr"
enroll pc3 "$ctok"
expect_status 400 "a CSR whose signature does not verify is refused"
grep -q "csr" <<<"$(jget "$BODY" .error)"
ok $? "naming the csr field"
api GET /api/v1/enroll-tokens
uses=$(python3 -c 'import json,sys; print([t["uses"] for t in json.loads(sys.argv[1])["tokens"] if t["id"] == sys.argv[2]][0])' "$BODY" "$cid")
[ "$uses" = 0 ]
ok $? "and the token keeps its use"
new_agent pc3
enroll pc3 "$ctok"
expect_status 200 "which still works with a good CSR"

# What the admin sees.
api GET /api/v1/enroll-tokens
python3 -c '
import json, sys
t = {x["id"]: x for x in json.loads(sys.argv[1])["tokens"]}
a, r = t[sys.argv[2]], t[sys.argv[3]]
assert a["state"] == "used" and a["uses"] == 2 and a["group"] == "sales", a
assert r["state"] == "revoked", r
assert "token" not in a and "hash" not in a
' "$BODY" "$tok_id" "$rid"
ok $? "the token list shows states and uses, never secrets"
api GET "/api/v1/hosts?group=sales"
[ "$(jget "$BODY" .total)" = 2 ]
ok $? "the two hosts enrolled with the group's token are in group sales"
api GET /api/v1/hosts
[ "$(jget "$BODY" .total)" = 3 ]
ok $? "three hosts in all: refused enrolments created none"
api GET "/api/v1/hosts/$id1"
expect_status 200 "one host by id"
[ "$(jget "$BODY" .hostname)" = pc1 ] || [ "$(jget "$BODY" .host.hostname)" = pc1 ]
ok $? "with its hostname from the facts"
api GET /api/v1/audit
python3 -c '
import json, sys
d = json.loads(sys.argv[1])
actions = [r["action"] for r in d["records"]]
assert actions.count("enroll_token.create") == 4, actions
assert "enroll_token.revoke" in actions, actions
assert actions[-1] == "api_token.bootstrap", actions
assert d["chain_ok"] is True
' "$BODY"
ok $? "every admin write is in the audit trail, chain intact"
! grep -q "$tok" "$T/server.log"
ok $? "the token secret never appears in the log"

stop_server
ok $? "SIGTERM: the server exits 0"
grep -q '(M3007) stopped' "$T/server.log"
ok $? "after logging that it stopped"
finish
