#!/usr/bin/env python3
"""Count the sanitizer reports of one make-sanitize variant (tests/sanitize/run.sh).

Usage: reports.py VARIANT LOGDIR REPORT_FILE

LOGDIR holds the log_path files (NAME.EXE.PID) of every process the suite ran. Each report
(an ASan error, each leak of an LSan report, a UBSan runtime error, a TSan warning) is
classified by its first frame outside the sanitizer runtime:
  shim       the frame is in shim/ (capguard itself), or it is in glibc or the loader and the
             first frame outside them is in shim/: a bug to fix, never suppressed;
  other      anywhere else (the test doubles, the scenarios, Open MPI, python, ...): left over
             because no suppression in tests/sanitize/*.supp covers it.
For TSan every stack of the report counts (the two accesses of a race, the mutexes of a lock
inversion), except the stacks saying where a thread or a mutex was created. The suppressions
that matched (LSan's and TSan's own tables) are summed per pattern.
Prints one line of counts on stdout, writes the details to REPORT_FILE, exits 1 if any report is
left (shim or other), else 0."""
import collections
import os
import re
import sys

FRAME = re.compile(r"^\s*#(\d+) (?:0x[0-9a-f]+ )?(?:in )?(.*)$")
RUNTIME_FUNC = re.compile(r"^(__interceptor_|__sanitizer_|__asan_|__tsan_|__ubsan_|__lsan_|___interceptor_|"
                          r"(malloc|calloc|realloc|free|strdup|strndup|posix_memalign|memalign|aligned_alloc|valloc|"
                          r"operator))\b")
RUNTIME_LOC = re.compile(r"libsanitizer/|\(lib(a|t|ub|l)san\.so[.0-9]*\+")
# by source file only: a frame shown as "(libcapguard.so+0x...)" without one is a stale address
# (of a module unloaded before the report), never one of the library's own (built with -g)
SHIM_LOC = re.compile(r"(^|[\s/(])shim/[\w./+-]+:\d+")
START = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|"
                   r"WARNING: ThreadSanitizer: |: runtime error: |^(Direct|Indirect) leak of ")


class Report:
    def __init__(self, tool, kind, proc, path):
        self.tool, self.kind, self.proc, self.path = tool, kind, proc, path
        self.where = ""  # UBSan: file:line:col of the error
        self.stacks = []  # [(header, [frame text, ...])]

    def add_frame(self, text, header):
        if not self.stacks or self.stacks[-1][0] != header:
            self.stacks.append((header, []))
        self.stacks[-1][1].append(text)


# glibc and the loader: their frames say what was called, not who called it wrongly
SYSTEM_LOC = re.compile(r"\((ld-linux[^()+]*|libc\.so[.0-9]*|libpthread[^()+]*|libdl[^()+]*|libgcc_s[^()+]*)\+0x|"
                        r"(^|\s)(\.\.?/)*(sysdeps|libio|elf|dlfcn|nptl|stdio-common|stdlib|string|malloc|misc|"
                        r"posix|csu|debug|signal|io|wcsmbs|time|include)/[\w./-]+\.[chS]:\d+")


def top(frames, skip_system=False):
    """The first frame outside the sanitizer runtime (and, with skip_system, outside glibc)."""
    for f in frames:
        func = f.split(" ", 1)[0]
        if RUNTIME_LOC.search(f) or RUNTIME_FUNC.match(func) or (skip_system and SYSTEM_LOC.search(f)):
            continue
        return f
    return "" if skip_system else (frames[0] if frames else "")


def relevant_stacks(r):
    secondary = re.compile(r"created (by|at)|previously allocated by|Location is|allocated by thread")
    main = [s for s in r.stacks if not secondary.search(s[0])]
    return main or r.stacks


def origin(frame):
    m = re.search(r"(tests/[\w-]+)/", frame)
    if m:
        return {"tests/fakes": "the CUDA/NCCL test doubles (tests/fakes)"}.get(m.group(1), m.group(1))
    m = re.search(r"\(([^()+]+)\+0x", frame)
    if m:
        return os.path.basename(m.group(1))
    m = re.search(r"(/[\w./+-]+):\d+", frame)
    return m.group(1) if m else "unknown"


def parse(path, tool_hint):
    name = os.path.basename(path)
    proc = name.split(".")[1] if name.count(".") >= 2 else name
    reports, supp = [], collections.Counter()
    cur, header, mode = None, "", None
    lines = open(path, errors="replace").read().splitlines()
    for line in lines:
        s = re.sub(r"^==\d+==", "", line).strip()
        if s.startswith("Suppressions used:"):
            mode, cur = "lsan_supp", None
            continue
        m = re.match(r"ThreadSanitizer: Matched \d+ suppressions", s)
        if m:
            mode, cur = "tsan_supp", None
            continue
        if mode == "lsan_supp":
            m = re.match(r"^(\d+)\s+(\d+)\s+(.+)$", s)
            if m:
                supp["leak:" + m.group(3)] += int(m.group(1))
                continue
            if s.startswith("count") or s.startswith("---"):
                if s.startswith("---"):
                    mode = None
                continue
            mode = None
        if mode == "tsan_supp":
            m = re.match(r"^(\d+)\s+(\S+:.+)$", s)
            if m:
                supp[m.group(2)] += int(m.group(1))
                continue
            mode = None
        if "ERROR: LeakSanitizer: detected memory leaks" in s:
            cur = None  # each leak below is a report
            continue
        m = re.match(r"^(Direct|Indirect) leak of .*", s)
        if m:
            cur = Report("LeakSanitizer", m.group(1).lower() + " leak", proc, path)
            reports.append(cur)
            header = ""
            continue
        m = re.search(r"ERROR: AddressSanitizer: (\S+( on address| on unknown address)?)", s)
        if m:
            cur = Report("AddressSanitizer", m.group(1).replace(" on address", "").replace(" on unknown address", ""), proc, path)
            reports.append(cur)
            header = ""
            continue
        m = re.search(r"WARNING: ThreadSanitizer: (.*?)( \(pid=\d+\))?$", s)
        if m:
            cur = Report("ThreadSanitizer", m.group(1), proc, path)
            reports.append(cur)
            header = ""
            continue
        m = re.match(r"^(\S+:\d+(:\d+)?): runtime error: (.*)$", s)
        if m:
            cur = Report("UndefinedBehaviorSanitizer", m.group(3), proc, path)
            cur.where = m.group(1)
            reports.append(cur)
            header = ""
            continue
        if s.startswith("SUMMARY:") or s.startswith("=========="):
            cur = None
            continue
        if cur is None:
            continue
        m = FRAME.match(line)
        if m:
            cur.add_frame(m.group(2).strip(), header)
        elif s.endswith(":") or s.endswith("here:"):
            header = s
    return reports, supp


def main():
    variant, logdir, out = sys.argv[1:4]
    reports, supp = [], collections.Counter()
    for name in sorted(os.listdir(logdir)):
        r, s = parse(os.path.join(logdir, name), variant)
        reports += r
        supp += s
    groups = {"shim": collections.OrderedDict(), "other": collections.OrderedDict()}
    for r in reports:
        stacks = [fr for _, fr in relevant_stacks(r) if fr]
        tops = [top(fr) for fr in stacks]
        if r.where:
            tops.insert(0, r.where)
        # from shim/: the first frame outside the runtime and glibc is capguard's (a leak of a
        # block capguard got from strdup, malloc called in a signal handler through dlsym, ...)
        shim_tops = [t for t in tops + [top(fr, True) for fr in stacks] if SHIM_LOC.search(t)]
        cls = "shim" if shim_tops else "other"
        t = shim_tops[0] if shim_tops else (tops[0] if tops else "no stack")
        key = (r.tool, re.sub(r"-?\d+", "N", r.kind), re.sub(r"0x[0-9a-f]+", "0x?", t))
        g = groups[cls].setdefault(key, {"n": 0, "procs": collections.Counter(), "ex": r, "top": t})
        g["n"] += 1
        g["procs"][r.proc] += 1
    nshim = sum(g["n"] for g in groups["shim"].values())
    nother = sum(g["n"] for g in groups["other"].values())
    nsupp = sum(supp.values())
    with open(out, "w") as f:
        f.write("== sanitize/%s: %d reports from shim/, %d other reports not suppressed, %d suppressed ==\n"
                % (variant, nshim, nother, nsupp))
        for cls, title in (("shim", "FROM shim/ (capguard's bugs: fix them, never suppress them)"),
                           ("other", "NOT SUPPRESSED, not from shim/ (fix, or suppress in tests/sanitize/*.supp with the reason)")):
            if not groups[cls]:
                continue
            f.write("\n-- %s\n" % title)
            for (tool, kind, _), g in groups[cls].items():
                r = g["ex"]
                procs = ", ".join("%s x%d" % p for p in g["procs"].most_common(4))
                f.write("\n%s: %s at %s\n  %d times, in %s (from %s)\n  e.g. %s\n"
                        % (tool, kind, g["top"], g["n"], procs, origin(g["top"]) if cls == "other" else "shim/",
                           os.path.relpath(r.path)))
                for header, frames in r.stacks[:4]:
                    if header:
                        f.write("    %s\n" % header)
                    for fr in frames[:10]:
                        f.write("      %s\n" % fr)
        if supp:
            f.write("\n-- suppressed (third party; each pattern's reason is in its .supp file)\n")
            for pat, n in supp.most_common():
                f.write("  %6d  %s\n" % (n, pat))
    print("%d reports: %d from shim/, %d other unsuppressed; %d suppressed" % (nshim + nother, nshim, nother, nsupp))
    return 1 if nshim + nother else 0


if __name__ == "__main__":
    sys.exit(main())
