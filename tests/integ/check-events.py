#!/usr/bin/env python3
"""Checks what the server holds against what `emit` spooled (kill -9 tests).

  check-events.py fake CONTROL_PORT EMITTED          the fake server (fake-server.py)
  check-events.py api API_URL CA TOKEN_FILE HOST EMITTED   the real one, by its admin API
  check-events.py --dump API_URL CA TOKEN_FILE HOST  prints HOST's events (JSON array)

EMITTED has one "R K" line per successful `emit --count 3 --data {"r":R,"k":K}`.
Prints TAP diagnostics ("# ok - …" / "# NOT OK - …"); exits 1 if any check failed.
"""
import json
import ssl
import sys
import urllib.request


def api_events(url, ca, token_file, host):
    ctx = ssl.create_default_context(cafile=ca)
    auth = {"Authorization": "Bearer " + open(token_file).read().strip()}
    events, after = [], 0
    while True:
        req = urllib.request.Request("%s/api/v1/hosts/%s/events?after=%d&limit=1000"
                                     % (url, host, after), headers=auth)
        page = json.load(urllib.request.urlopen(req, context=ctx, timeout=30))["events"]
        events += page
        if len(page) < 1000:
            return events
        after = page[-1]["seq"]


if sys.argv[1] == "--dump":
    print(json.dumps(api_events(*sys.argv[2:6])))
    sys.exit(0)
conflicts = None
if sys.argv[1].isdigit():  # the older form: CONTROL_PORT EMITTED
    sys.argv.insert(1, "fake")
if sys.argv[1] == "fake":
    s = json.load(urllib.request.urlopen("http://127.0.0.1:%s/state" % sys.argv[2], timeout=30))
    evs = list(list(s["hosts"].values())[-1]["events"].values())
    conflicts = s["conflicts"]
    emitted = sys.argv[3]
else:
    evs = api_events(*sys.argv[2:6])
    emitted = sys.argv[6]
want = []
for line in open(emitted):
    r, k = map(int, line.split())
    want += [(r, k, n) for n in (1, 2, 3)]
evs.sort(key=lambda e: e["seq"])
got = [(e["data"]["r"], e["data"]["k"], e["data"]["n"]) for e in evs if e["type"] == "agent.test"]
fails = 0


def check(ok, what):
    global fails
    print("# %s - %s" % ("ok" if ok else "NOT OK", what))
    fails += not ok


if conflicts is not None:
    check(conflicts == [], "no sequence number came back with other contents (%d did)"
          % len(conflicts))
check(len(got) == len(set(got)),
      "every event is stored once (%d stored, %d distinct)" % (len(got), len(set(got))))
# A reused number would show as a missing event: the server keeps the first one.
check(set(got) == set(want), "exactly the events spooled (missing %d, unexpected %d)"
      % (len(set(want) - set(got)), len(set(got) - set(want))))
check(got == sorted(got), "in the order they were spooled")
seqs = [e["seq"] for e in evs]
check(seqs == list(range(1, len(seqs) + 1)), "with sequence numbers 1..%d and no gap" % len(seqs))
starts = len([e for e in evs if e["type"] == "agent.start"])
check(starts >= 2, "the agent's starts were recorded too (%d)" % starts)
sys.exit(1 if fails else 0)
