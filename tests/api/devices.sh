#!/usr/bin/env bash
# The device registry through the real server: registering, listing, removing; a CSV
# import is all or nothing (every bad line reported, nothing stored); export and import
# round-trip; the policy document carries only the registry entries its rules name;
# mamorictl devices.
. "$(dirname "$0")/../integ/lib.sh"
. "$(dirname "$0")/common.sh"

start_server || {
	ok 1 "server starts"
	finish
}
csv() { # METHOD PATH [FILE]
	if [ $# -ge 3 ]; then
		call "$API_URL$2" -X "$1" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: text/csv' \
			--data-binary "@$3"
	else
		call "$API_URL$2" -X "$1" -H "Authorization: Bearer $ADMIN"
	fi
}
count() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total"])' "$1"; }

# ---- one device at a time ----
api POST /api/v1/devices '{"serial": "4C530001230512114295", "vendor": "0781", "product": "5581",
	"owner": "Yamada Taro", "tags": ["company-issued", "backup"], "note": "the blue one"}'
expect_status 201 "a device is registered"
api POST /api/v1/devices '{"serial": "4C530001230512114295", "vendor": "0781", "product": "5581",
	"owner": "Yamada Taro", "tags": ["company-issued"]}'
expect_status 200 "registering the serial again replaces it"
[ "$(jget "$BODY" .created)" = false ]
ok $? "and says it was not created"
api POST /api/v1/devices '{"serial": "X", "owner": "o", "vendor": "781"}'
expect_status 400 "a vendor id of three digits"
jget "$BODY" .error | grep -q "field 'vendor'"
ok $? "names the field"
api POST /api/v1/devices '{"serial": "X", "owner": "o", "tags": ["two words"]}'
expect_status 400 "a tag the rules could not name"
api POST /api/v1/devices '{"serial": "X"}'
expect_status 400 "a device without owner"
api GET /api/v1/devices
[ "$(count "$BODY")" = 1 ] && [ "$(jget "$BODY" '.devices[0].tags')" = '["company-issued"]' ] &&
	[ "$(jget "$BODY" '.devices[0].note')" = null ]
ok $? "one device, as last registered"

# ---- a bad CSV imports nothing ----
cat >"$T/bad.csv" <<'EOF'
serial,vendor,product,owner,tags,note
AA-01,0951,1666,Sato Hanako,company-issued,
AA-02,,,,company-issued,
AA-03,xyz,,Suzuki,company-issued,
AA-01,,,Tanaka,,
AA-04,,,"Ito" Jiro,,
EOF
api GET /api/v1/devices
before=$BODY
csv POST /api/v1/devices/import "$T/bad.csv"
expect_status 400 "a CSV with bad lines is refused"
expect_code invalid_csv "as invalid_csv"
errs=$(jget "$BODY" .errors)
grep -q 'devices.csv:3:9: error: field .owner' <<<"$errs" &&
	grep -q 'devices.csv:4:7: error: field .vendor' <<<"$errs" &&
	grep -q 'devices.csv:5:1: error: serial .AA-01. is listed twice (first on line 2)' <<<"$errs" &&
	grep -q 'devices.csv:6:.*quote' <<<"$errs"
ok $? "every bad line is named with line and column, in one answer"
api GET /api/v1/devices
[ "$BODY" = "$before" ]
ok $? "and nothing was imported, not even the good line"
call "$API_URL/api/v1/devices/import" -H "Authorization: Bearer $ADMIN" \
	-H 'Content-Type: application/json' --data-binary '{}'
expect_status 415 "an import must say text/csv"

# ---- a good import and the round trip ----
printf '\xef\xbb\xbfSerial,Owner,Tags,Vendor,Product,Note\r\n' >"$T/good.csv"
printf 'AA-01,"Sato, Hanako",company-issued;encrypted,0951,1666,"the ""red"" one"\r\n' >>"$T/good.csv"
printf 'AA-02,鈴木 一郎,会社支給,,,経理部\r\n' >>"$T/good.csv"
printf '4C530001230512114295,Yamada Taro,company-issued;backup,0781,5581,\r\n' >>"$T/good.csv"
csv POST "/api/v1/devices/import?file=assets.csv" "$T/good.csv"
expect_status 200 "an Excel CSV (BOM, CRLF, quotes, Japanese) imports"
[ "$(jget "$BODY" .created)" = 2 ] && [ "$(jget "$BODY" .updated)" = 1 ]
ok $? "two added, one updated"
api GET "/api/v1/devices?tag=company-issued"
[ "$(count "$BODY")" = 2 ]
ok $? "listing by tag"
api GET "/api/v1/devices?search=hanako"
[ "$(count "$BODY")" = 1 ] && [ "$(jget "$BODY" '.devices[0].owner')" = "Sato, Hanako" ]
ok $? "searching the owner"
csv GET /api/v1/devices/export
expect_status 200 "export"
printf '%s' "$BODY" >"$T/export1.csv"
head -1 "$T/export1.csv" | grep -q '^serial,vendor,product,owner,tags,note'
ok $? "with a header row"
grep -q '^AA-01,0951,1666,"Sato, Hanako",company-issued;encrypted,"the ""red"" one"' "$T/export1.csv"
ok $? "quoting what needs it"
api GET /api/v1/devices
all1=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1])["devices"]
print(json.dumps([{k: x[k] for k in ("serial","vendor","product","owner","tags","note")} for x in d]))' "$BODY")
for s in AA-01 AA-02 4C530001230512114295; do
	api DELETE "/api/v1/devices?serial=$s"
done
api GET /api/v1/devices
[ "$(count "$BODY")" = 0 ]
ok $? "every device removed"
csv POST /api/v1/devices/import "$T/export1.csv"
expect_status 200 "the export imports back"
api GET /api/v1/devices
all2=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1])["devices"]
print(json.dumps([{k: x[k] for k in ("serial","vendor","product","owner","tags","note")} for x in d]))' "$BODY")
[ "$all1" = "$all2" ]
ok $? "to the same registry"
csv GET /api/v1/devices/export
[ "$BODY" = "$(cat "$T/export1.csv")" ]
ok $? "and the same export"
csv GET "/api/v1/devices/export?bom=true"
head -c 3 "$T/body" | od -An -tx1 | grep -q 'ef bb bf'
ok $? "?bom=true adds a byte order mark for Excel"

api DELETE "/api/v1/devices?serial=nope"
expect_status 404 "removing an unregistered serial"
api GET /api/v1/audit
grep -q '"action":"devices.import"' <<<"$BODY" && grep -q '"action":"device.put"' <<<"$BODY" &&
	grep -q '"action":"device.delete"' <<<"$BODY"
ok $? "registering, importing and removing are audited"

# ---- what travels to an agent ----
new_agent pc
enroll pc "$(new_token)"
ok $? "an agent enrols"
api POST /api/v1/policies '{"scope": "all", "rules": "default block\nread-only class mass-storage tag company-issued\n"}'
agent pc POST /agent/v1/checkin '{"agent_version": "0.1.0", "time": 1}'
reg=$(jget "$(jget "$BODY" .policy.usb)" .registry)
[ "$(python3 -c 'import json,sys; print(sorted(e["serial"] for e in json.loads(sys.argv[1])))' "$reg")" = "['4C530001230512114295', 'AA-01']" ]
ok $? "the document carries the devices with the tag its rules name"
! grep -q 'Hanako\|backup\|encrypted\|red' <<<"$reg" && grep -q '"tags": \["company-issued"\]\|"tags":\["company-issued"\]' <<<"$reg"
ok $? "with that tag only: no owners, notes or other tags"
v1=$(jget "$(jget "$BODY" .policy.usb)" .version)
api POST /api/v1/devices '{"serial": "NEW-1", "owner": "o", "tags": ["company-issued"]}'
agent pc POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 2, \"policy_version\": \"$v1\"}"
v2=$(jget "$(jget "$BODY" .policy.usb)" .version)
[ -n "$v2" ] && [ "$v2" != "$v1" ] && [[ $v2 == 1-* ]]
ok $? "a device registered with that tag sends a new document ($v1 → $v2)"
agent pc POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 3, \"policy_version\": \"$v2\"}"
api POST /api/v1/devices '{"serial": "NEW-2", "owner": "o", "tags": ["unrelated"]}'
agent pc POST /agent/v1/checkin "{\"agent_version\": \"0.1.0\", \"time\": 4, \"policy_version\": \"$v2\"}"
! grep -q '"policy":' <<<"$BODY"
ok $? "a device with a tag the rules do not name changes nothing for the agent"

# ---- mamorictl ----
export MAMORI_SERVER=$API_URL MAMORI_TOKEN=$ADMIN MAMORI_CA=$STATE/ca.crt
out=$("$CTL" devices add --serial CTL-1 --vendor 090c --product 1000 --owner "Kato" \
	--tag company-issued --tag loaner --note "spare")
[ $? = 0 ] && grep -q "added CTL-1" <<<"$out"
ok $? "mamorictl devices add"
out=$("$CTL" devices list --tag loaner)
grep -q '^CTL-1 *090c *1000 *Kato *company-issued,loaner *spare' <<<"$out" && grep -q '(1 of 1)' <<<"$out"
ok $? "mamorictl devices list --tag"
"$CTL" devices export >"$T/ctl-export.csv"
ok $? "mamorictl devices export"
cmp -s "$T/ctl-export.csv" <(curl -sS --cacert "$STATE/ca.crt" -H "Authorization: Bearer $ADMIN" "$API_URL/api/v1/devices/export")
ok $? "prints exactly the API's CSV"
out=$("$CTL" devices import "$T/bad.csv" 2>&1)
[ $? = 1 ] && grep -q '^bad.csv:3:9: error' <<<"$out" && grep -q '^bad.csv:5:1: error' <<<"$out"
ok $? "mamorictl devices import: a bad file's every error, named by the file"
out=$("$CTL" devices import "$T/ctl-export.csv")
[ $? = 0 ] && grep -q "0 added, 6 updated" <<<"$out"
ok $? "mamorictl devices import: $out"
"$CTL" devices remove CTL-1 >/dev/null && ! "$CTL" devices remove CTL-1 2>/dev/null
ok $? "mamorictl devices remove, and again fails"
"$CTL" --json devices export | python3 -c 'import json,sys; assert len(json.load(sys.stdin)["devices"]) == 5'
ok $? "mamorictl --json devices export"
stop_server
ok $? "the server stops cleanly"
finish
