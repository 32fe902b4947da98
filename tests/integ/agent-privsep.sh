#!/usr/bin/env bash
# Privilege separation (docs/internals/privsep.md): `run` as root forks a worker that runs
# as an unprivileged user with no new privileges and owns the state directory, while the
# root parent reads root-only files for it by id (here a DMI serial the worker cannot read
# itself), forwards signals, and goes down with it. Not root: no separation, said in the log.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd setpriv
. "$(dirname "$0")/agent-lib.sh"

start_fake || exit 1
fake_config '{"checkin_interval": 2}'
st=$WORK/state
root=$WORK/root
make_root "$root"
echo PRIVSERIAL-1 >"$root/sys/class/dmi/id/product_serial"
chmod 0400 "$root/sys/class/dmi/id/product_serial"
enroll_agent "$st" >/dev/null || { ok 1 "enrolment"; finish; }
wuser=mamori
id -u mamori >/dev/null 2>&1 || wuser=nobody
wuid=$(id -u "$wuser")

start_agent "$st" --root "$root"
ok $? "the daemon starts as root"
parent=$AGENT_PID
worker=$(agent_worker)
[ -n "$worker" ]; ok $? "it has forked a worker"
[ "$(stat -c %u /proc/"$parent")" = 0 ]; ok $? "the parent stays root"
[ "$(awk '/^Uid:/ {print $2 $3 $4 $5}' /proc/"$worker"/status)" = "$wuid$wuid$wuid$wuid" ]
ok $? "the worker runs as $wuser (real, effective, saved and file-system uid)"
grep -q '^NoNewPrivs:[[:space:]]*1' /proc/"$worker"/status; ok $? "with no_new_privs"
grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/"$worker"/status; ok $? "and no capabilities"
[ "$(awk '/^Groups:/ {print NF}' /proc/"$worker"/status)" -le 2 ]; ok $? "and no supplementary groups but its own"
[ "$(stat -c %u "$st")" = "$wuid" ] && [ "$(stat -c %u "$st/agent.key")" = "$wuid" ]
ok $? "the state directory and key belong to the worker's user"
grep -q "M2038.*worker $worker runs as $wuser" "$AGENT_LOG"; ok $? "the log says who the worker is"
! ls -l /proc/"$parent"/fd 2>/dev/null | grep -q "spool.db\|agent.key"
ok $? "the parent holds neither the spool nor the key open"

wait_until 15 fake_query 'h["document"] and h["document"]["identity"].get("dmi", {}).get("serial") == "PRIVSERIAL-1"'
ok $? "the root-only DMI serial reaches the server, read by the parent"
out=$(setpriv --reuid="$wuid" --regid="$(id -g "$wuser")" --clear-groups "$AGENT" inventory --root "$root" 2>/dev/null)
printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin)["identity"]; sys.exit(0 if "serial" not in d.get("dmi", {}) and "product_serial" in json.dumps(d.get("errors")) else 1)'
ok $? "(which $wuser cannot read itself: it is recorded unreadable there)"

# A LUKS volume on a block device only root may read (the laptop fixture, its /dev made
# root-only): the storage collector's probe goes through the parent, by device name.
laptop=$WORK/laptop
cp -a "$FIXTURES/laptop" "$laptop"
chmod -R a+rX "$laptop"
chmod 0600 "$laptop"/dev/*
stop_agent
fake_config '{"want_full": true}'
start_agent "$st" --root "$laptop"
parent=$AGENT_PID
worker=$(agent_worker)
wait_until 15 fake_query '[v for v in (h["document"].get("storage", {}).get("encrypted_volumes") or []) if v["device"] == "nvme0n1p3" and v.get("header_size") == 16384]'
ok $? "a LUKS header on a root-only block device is read through the parent"
out=$(setpriv --reuid="$wuid" --regid="$(id -g "$wuser")" --clear-groups "$AGENT" inventory --root "$laptop" 2>/dev/null)
printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin)["storage"]; sys.exit(0 if all("header_size" not in v for v in d.get("encrypted_volumes") or []) and "/dev" in json.dumps(d.get("errors")) else 1)'
ok $? "(which $wuser cannot read by itself)"

kill -HUP "$parent"
wait_until 5 grep -q "mamori-agent\[$worker\].*(M2053) SIGHUP" "$AGENT_LOG"
ok $? "SIGHUP to the parent reaches the worker (it checks in now)"
kill -USR1 "$parent"
wait_until 5 grep -q "mamori-agent\[$worker\].*(M2075) SIGUSR1" "$AGENT_LOG"
ok $? "and so does SIGUSR1 (it collects the inventory now)"

stop_agent; rc=$?
ok $rc "SIGTERM to the parent stops both, exit status 0"
_gone "$worker"; ok $? "the worker is gone"
agent_status "$st" 'not j["running"]' >/dev/null; ok $? "having written its final status"

start_agent "$st" --root "$root"
parent=$AGENT_PID
worker=$(agent_worker)
kill -9 "$parent"
wait "$parent" 2>/dev/null
AGENT_PID=
wait_until 5 _gone "$worker"; ok $? "when the parent dies, the worker stops too"
wait_until 5 agent_status "$st" 'not j["running"]' >/dev/null; ok $? "cleanly (its status is final)"

start_agent "$st" --root "$root"
parent=$AGENT_PID
worker=$(agent_worker)
kill -9 "$worker"
wait "$parent"; rc=$?
AGENT_PID=
ok $((rc == 0)) "when the worker dies, the parent exits with failure ($rc)"
grep -q "M2036" "$AGENT_LOG"; ok $? "saying so"

# Not root: no separation.
st2=$WORK/state2
enroll_agent "$st2" >/dev/null
chown -R "$wuid:$(id -g "$wuser")" "$st2"
setpriv --reuid="$wuid" --regid="$(id -g "$wuser")" --clear-groups \
	"$AGENT" run --state-dir "$st2" --root "$root" >>"$AGENT_LOG" 2>&1 &
AGENT_PID=$!
AGENT_DIR=$st2
wait_until 10 grep -q '"running":true' "$st2/status.json"; ok $? "as $wuser the daemon runs too"
[ -z "$(pgrep -P "$AGENT_PID")" ]; ok $? "in one process"
grep -q "M2031" "$AGENT_LOG"; ok $? "logging that it runs without privilege separation"
stop_agent; ok $? "and stops with exit status 0"

chmod 0644 "$st2/agent.key"
setpriv --reuid="$wuid" --regid="$(id -g "$wuser")" --clear-groups \
	"$AGENT" run --state-dir "$st2" >"$WORK/refused.log" 2>&1
ok $(($? == 0)) "a group- or world-readable key is refused"
grep -q "M2055.*chmod 600" "$WORK/refused.log"; ok $? "with what to do about it"
finish
