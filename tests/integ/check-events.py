#!/usr/bin/env python3
"""Checks what the (fake) server holds against what `emit` spooled (kill -9 tests).

Usage: check-events.py CONTROL_PORT EMITTED_FILE
EMITTED_FILE has one "R K" line per successful `emit --count 3 --data {"r":R,"k":K}`.
Prints TAP diagnostics ("# ok - …" / "# NOT OK - …"); exits 1 if any check failed.
"""
import json
import sys
import urllib.request

s = json.load(urllib.request.urlopen("http://127.0.0.1:%s/state" % sys.argv[1], timeout=30))
h = list(s["hosts"].values())[-1]
want = []
for line in open(sys.argv[2]):
    r, k = map(int, line.split())
    want += [(r, k, n) for n in (1, 2, 3)]
evs = sorted(h["events"].values(), key=lambda e: e["seq"])
got = [(e["data"]["r"], e["data"]["k"], e["data"]["n"]) for e in evs if e["type"] == "agent.test"]
fails = 0


def check(ok, what):
    global fails
    print("# %s - %s" % ("ok" if ok else "NOT OK", what))
    fails += not ok


check(s["conflicts"] == [], "no sequence number came back with other contents (%d did)"
      % len(s["conflicts"]))
check(len(got) == len(set(got)),
      "every event is stored once (%d stored, %d distinct)" % (len(got), len(set(got))))
check(set(got) == set(want), "exactly the events spooled (missing %d, unexpected %d)"
      % (len(set(want) - set(got)), len(set(got) - set(want))))
check(got == sorted(got), "in the order they were spooled")
seqs = [e["seq"] for e in evs]
check(seqs == list(range(1, len(seqs) + 1)), "with sequence numbers 1..%d and no gap" % len(seqs))
starts = len([e for e in evs if e["type"] == "agent.start"])
check(starts >= 2, "the agent's starts were recorded too (%d)" % starts)
sys.exit(1 if fails else 0)
