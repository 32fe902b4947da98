#!/usr/bin/env bash
# USB control inside `mamori-agent run` (docs/usb-control.md): as root the daemon's
# unprivileged worker decides the USB devices of its --root (the laptop fixture's sysfs),
# and the privileged parent writes the verdicts. The policy arrives with a check-in
# answer, is kept in the state directory, and its version goes back with the next
# check-in; the records reach the server through the spool. Restarted with the server
# down, the agent enforces the kept policy.
. "$(dirname "$0")/lib.sh"
need_root
. "$(dirname "$0")/agent-lib.sh"

start_fake || exit 1
st=$WORK/state
root=$WORK/root
make_root "$root"
cp -a "$FIXTURES/laptop/sys/bus" "$FIXTURES/laptop/sys/devices" "$root/sys/"
chmod -R a+rX "$root"
usb=$root/sys/devices/pci0000:00/0000:00:14.0
policy='{"usb": {"version": "7", "rules_text": "default allow\nblock class mass-storage\nblock class any\n", "registry": [], "grants": []}}'
fake_config "{\"checkin_interval\": 2, \"policy\": $policy}"
enroll_agent "$st" >/dev/null || { ok 1 "enrolment"; finish; }

start_agent "$st" --root "$root"
ok $? "the daemon starts as root"
[ -n "$(agent_worker)" ]
ok $? "privilege-separated"

wait_until 20 fake_query 'h["usb_policy_version"] == "7"'
ok $? "the policy sent with a check-in is in force, and its version goes back"
fake_query 'h["policy_version"] == "7"' >/dev/null
ok $? "as the check-in's policy_version too, which the server compares"
wait_until 10 grep -qx 0 "$usb/usb2/2-1/authorized"
ok $? "the stick is blocked: the parent wrote 0 into its authorized file"
[ "$(cat "$usb/usb1/1-2/authorized")" = 1 ]
ok $? "the keyboard is untouched by 'block class any'"
[ -f "$st/usb-policy.json" ] && [ "$(stat -c %u "$st/usb-policy.json")" = "$(stat -c %u "$st")" ]
ok $? "the policy is kept in the state directory, the worker's"
ev='[e for e in h["events"].values() if e["type"].startswith("usb.")]'
wait_until 20 fake_query "[e for e in $ev if e['type'] == 'usb.verdict' and e['data']['device']['bus_path'] == '2-1' and e['data']['verdict'] == 'block' and e['data']['cause'] == 'policy']"
ok $? "the server receives the verdict change, with the device and the cause"
fake_query "[e for e in $ev if e['type'] == 'usb.plug' and e['data']['device']['serial'] == '4C530001230405117283' and e['data']['at_start']]" >/dev/null
ok $? "and the devices found at start"
fake_query "[e for e in $ev if e['type'] == 'usb.policy' and e['data']['version'] == '7' and e['data']['source'] == 'server']" >/dev/null
ok $? "and which policy came into force"
! grep -q "M1440" "$AGENT_LOG"
ok $? "the parent refused none of the worker's requests"

stop_agent
ok $? "the daemon stops"
echo 1 >"$usb/usb2/2-1/authorized"
fake_config '{"mode": "down"}'
start_agent "$st" --root "$root"
ok $? "it starts again with the server down"
wait_until 20 grep -qx 0 "$usb/usb2/2-1/authorized"
ok $? "and blocks the stick again from the kept policy"
stop_agent
finish
