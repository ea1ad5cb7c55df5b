#!/usr/bin/env python3
"""Checks a file against the Chrome trace-event format (the JSON Object Format that
ui.perfetto.dev and chrome://tracing open), as capguard report --perfetto must write it.

Usage: check_trace.py TRACE.json [RANK,RANK,...]
Prints "ok N events" and exits 0, or prints one line per problem and exits 1. With a rank
list, every one of those ranks must have a process_name ("rank R ...").
"""
import json
import re
import sys
from collections import defaultdict

# Phases of the Trace Event Format document (duration, complete, instant, counter, async,
# flow, sample, object, metadata, memory dump, mark, context).
PHASES = set("BEXiICbneSTpFstfPNODMVvRc()")
METADATA = {"process_name": "name", "thread_name": "name", "process_sort_index": "sort_index",
            "thread_sort_index": "sort_index", "process_labels": "labels"}
NEEDED = ("name", "ph", "ts", "pid", "tid", "cat", "args")


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check(doc, ranks):
    bad = []
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        return ["the top level is not an object with a traceEvents list"], 0
    if doc.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        bad.append("displayTimeUnit %r is neither ms nor ns" % doc["displayTimeUnit"])
    evs = doc["traceEvents"]
    stacks = defaultdict(list)   # (pid, tid) -> open B events
    spans = defaultdict(list)    # (pid, tid) -> (ts, end) of X events
    named = {}                   # pid -> process name
    pids = set()
    for n, e in enumerate(evs):
        where = "event %d (%s)" % (n, json.dumps(e)[:120])
        if not isinstance(e, dict):
            bad.append(where + ": not an object")
            continue
        missing = [k for k in NEEDED if k not in e]
        if missing:
            bad.append(where + ": no " + ", ".join(missing))
            continue
        if not isinstance(e["name"], str) or not isinstance(e["cat"], str):
            bad.append(where + ": name and cat must be strings")
        if not isinstance(e["args"], dict):
            bad.append(where + ": args is not an object")
            continue
        ph = e["ph"]
        if ph not in PHASES:
            bad.append(where + ": ph %r is not a trace-event phase" % ph)
            continue
        if not number(e["ts"]) or e["ts"] < 0:
            bad.append(where + ": ts is not a number >= 0")
        if not isinstance(e["pid"], int) or not isinstance(e["tid"], int):
            bad.append(where + ": pid and tid must be integers")
            continue
        key = (e["pid"], e["tid"])
        if ph == "M":
            want = METADATA.get(e["name"])
            if want is None:
                bad.append(where + ": metadata event named %r" % e["name"])
            elif want not in e["args"]:
                bad.append(where + ": %s without args.%s" % (e["name"], want))
            elif want == "name" and not isinstance(e["args"]["name"], str):
                bad.append(where + ": args.name is not a string")
            elif want == "sort_index" and not isinstance(e["args"]["sort_index"], int):
                bad.append(where + ": args.sort_index is not an integer")
            if e["name"] == "process_name" and isinstance(e["args"].get("name"), str):
                named[e["pid"]] = e["args"]["name"]
            continue
        pids.add(e["pid"])
        if ph == "X":
            if not number(e.get("dur")) or e["dur"] < 0:
                bad.append(where + ": a complete event needs dur >= 0")
            else:
                spans[key].append((e["ts"], e["ts"] + e["dur"], n))
        elif ph in "iI":
            if e.get("s") not in ("g", "p", "t"):
                bad.append(where + ": an instant needs s (g, p or t)")
        elif ph == "B":
            stacks[key].append(e)
        elif ph == "E":
            if not stacks[key]:
                bad.append(where + ": E without a B on pid %d tid %d" % key)
            else:
                stacks[key].pop()
    for key, st in stacks.items():
        if st:
            bad.append("pid %d tid %d: %d B events never ended" % (key[0], key[1], len(st)))
    for key, sp in spans.items():
        open_ends = []
        for t0, t1, n in sorted(sp, key=lambda s: (s[0], -s[1])):
            while open_ends and open_ends[-1] <= t0:
                open_ends.pop()
            if open_ends and t1 > open_ends[-1]:
                bad.append("event %d: a complete event overlaps the end of the one it starts "
                           "in (pid %d tid %d)" % (n, key[0], key[1]))
            open_ends.append(t1)
    for pid in sorted(pids - set(named)):
        bad.append("pid %d has events but no process_name" % pid)
    have = set()
    for name in named.values():
        m = re.match(r"rank (\d+)( |$)", name)
        if m:
            have.add(int(m.group(1)))
    for r in ranks:
        if r not in have:
            bad.append("rank %d has no process_name" % r)
    return bad, len(evs)


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip())
        return 2
    try:
        with open(sys.argv[1]) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print("not JSON: %s" % e)
        return 1
    ranks = [int(r) for r in sys.argv[2].split(",") if r] if len(sys.argv) == 3 else []
    bad, n = check(doc, ranks)
    for b in bad:
        print(b)
    if not bad:
        print("ok %d events" % n)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
