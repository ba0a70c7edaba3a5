#!/usr/bin/env python3
"""tui_drive.py — drives a running phenoscope TUI in tmux through realistic actions and reports
input-to-redraw latency (used by tests/bench_tui.sh; standard library only).

usage: tui_drive.py SOCKET TARGET TRACE_FILE BENCH_NAME PID

Each key is sent with `tmux send-keys`, then the driver waits until the TUI has written the
key's line to its PHENOSCOPE_TRACE_LATENCY file (read-to-flush time, measured inside the
program), so keys never queue behind one another. The driver also times each key from just
before send-keys to the trace's flush time on the same CLOCK_MONOTONIC: that adds tmux's own
delivery (a client process per key) and whatever the UI loop was doing when the key arrived.
Prints `PSBENCH <name> ms=<p50> peak_rss_mb=<TUI VmHWM> p95_ms=.. max_ms=.. keys=N
cpu_p95_ms=.. cpu_max_ms=.. send_p50_ms=.. send_p95_ms=.. send_max_ms=..` (cpu: the UI thread's
CPU time per key, which a loaded machine does not inflate), and the slowest actions on stderr.
"""
import os
import subprocess
import sys
import time

sock, target, trace, name, pid = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])


def tmux(*args):
    subprocess.run(["tmux", "-L", sock, "-f", "/dev/null"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def lines():
    try:
        with open(trace) as f:
            return [l for l in f.read().splitlines() if l.startswith("key=")]
    except FileNotFoundError:
        return []


def parse(line):
    return dict(kv.split("=", 1) for kv in line.split())


# (label, tmux key) in the order a user might press them; literal text goes with -l.
actions = []


def act(label, *keys, literal=False):
    for k in keys:
        actions.append((label, k, literal))


for _ in range(3):
    act("cohort Down", *["Down"] * 15)
    act("cohort PageDown", *["NPage"] * 8)
    act("cohort PageUp", *["PPage"] * 3)
    act("cohort End/Home", "End", "Home")
    act("sort next column", ">", ">", ">")
    act("sort reverse", "r")
    act("sort back", "<", "<", "<")
    act("search /", "/")
    for ch in "1234":
        act("search typing", ch, literal=True)
    act("search BSpace", "BSpace", "BSpace")
    act("search Enter", "Enter")
    act("search clear", "/", "Escape")
    act("filter split t", "t", "t", "t", "t")
    act("filter paired p", "p", "p")
    act("cohort Down", *["Down"] * 5)
    act("open stay Enter", "Enter")
    act("stay Down", "Down", "Down", "Down")
    act("stay Tab", "Tab", "Tab", "Tab")
    act("screen 3", "3")
    act("radiograph Down", "Down", "Up")
    act("screen 4", "4")
    act("training Down", "Down", "Up")
    act("screen 5", "5")
    act("screen 2", "2")
    act("screen 1", "1")
    act("filter reset c", "c")

results = []  # (label, trace ms, send-to-flush ms, UI-thread CPU ms)
seen = len(lines())
for label, key, literal in actions:
    t_send = time.monotonic_ns()
    if literal:
        tmux("send-keys", "-t", target, "-l", key)
    else:
        tmux("send-keys", "-t", target, key)
    deadline = time.monotonic() + 10
    got = None
    while time.monotonic() < deadline:
        ls = lines()
        if len(ls) > seen:
            got = ls[seen:]
            seen = len(ls)
            break
        time.sleep(0.002)
    if got is None:
        print("tui_drive: no trace line within 10 s after %r (%s)" % (key, label), file=sys.stderr)
        sys.exit(1)
    for g in got:  # an escape sequence may be read as more than one key
        d = parse(g)
        results.append((label, float(d["ms"]), (int(d["done_ns"]) - t_send) / 1e6,
                        float(d["cpu_ms"])))
    time.sleep(0.03)  # a fast typist's pace; lets the loop's ticks run between keys


def pct(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


rss = "NA"
try:
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmHWM:"):
                rss = "%.0f" % (int(l.split()[1]) / 1024.0)
except OSError:
    pass

ms = [r[1] for r in results]
sm = [r[2] for r in results]
cm = [r[3] for r in results]
print("PSBENCH %s ms=%.2f peak_rss_mb=%s p95_ms=%.2f max_ms=%.2f keys=%d cpu_p95_ms=%.2f "
      "cpu_max_ms=%.2f send_p50_ms=%.2f send_p95_ms=%.2f send_max_ms=%.2f"
      % (name, pct(ms, 50), rss, pct(ms, 95), max(ms), len(ms), pct(cm, 95), max(cm), pct(sm, 50),
         pct(sm, 95), max(sm)))
worst = {}
for label, a, b, c in results:
    w = worst.setdefault(label, [0.0, 0.0, 0.0, 0])
    w[0] = max(w[0], a)
    w[1] = max(w[1], b)
    w[2] = max(w[2], c)
    w[3] += 1
print("tui bench: slowest actions (max ms read-to-flush, send-to-flush, UI-thread CPU; keys):",
      file=sys.stderr)
for label, (a, b, c, n) in sorted(worst.items(), key=lambda kv: -kv[1][0])[:10]:
    print("  %-20s %8.2f %8.2f %8.2f %4d" % (label, a, b, c, n), file=sys.stderr)
over = [r for r in results if r[1] > 50]
if over:
    print("tui bench: %d of %d keys over 50 ms: %s" % (len(over), len(results),
          ", ".join("%s %.0f (cpu %.0f)" % (r[0], r[1], r[3]) for r in over[:10])), file=sys.stderr)
