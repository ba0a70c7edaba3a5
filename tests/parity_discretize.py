"""parity_discretize.py OUTDIR — reference for engine/discretize.c, written to
OUTDIR/discretize.bin and compared exactly by tests/test_parity_discretize.c.

The reference follows the phenotyping benchmark (mimic3-benchmarks' Discretizer with
impute_strategy='previous', start_time='zero', store_masks=True, and create_phenotyping's rule
that keeps events with -eps < hours < period_length + eps), written here independently in its
terms: values handled as the charted strings, a per-bin "original value" per channel, one-hot by
position in the category list, the normal value before the first measurement. Channel tables
come from the repository's assets/ (channels.csv, channel_categories.csv). Random stays (seeded
numpy): events at random hours (some before admission, some after the end), random channels,
random values / categories, bin widths 1 h and 2 h, with and without an explicit end.
"""
import csv
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402

EPS = 1e-6
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def load_channels():
    chans = []
    with open(os.path.join(ROOT, "assets", "channels.csv"), newline="") as f:
        for row in csv.DictReader(f):
            chans.append({"name": row["name"], "categorical": row["categorical"] == "1",
                          "normal": row["normal"], "lo": float(row["display_low"]),
                          "hi": float(row["display_high"]), "cats": []})
    by_name = {c["name"]: c for c in chans}
    with open(os.path.join(ROOT, "assets", "channel_categories.csv"), newline="") as f:
        for row in csv.DictReader(f):
            by_name[row["channel"]]["cats"].append(row["text"])
    return chans


def reference(chans, events, end, step):
    """events: list of (hours, channel, text) in time order; end None = last kept event."""
    kept = [e for e in events if -EPS < e[0] and (end is None or e[0] < end + EPS)]
    max_hours = end if end is not None else max([0.0] + [e[0] for e in kept])
    n_bins = max(1, int(max_hours / step + 1.0 - EPS))
    width = [len(c["cats"]) if c["categorical"] else 1 for c in chans]
    begin = [sum(width[:i]) for i in range(len(chans))]
    data = np.zeros((n_bins, sum(width)))
    mask = np.zeros((n_bins, len(chans)))
    original = [["" for _ in chans] for _ in range(n_bins)]

    def write(b, ch, text):
        c = chans[ch]
        if c["categorical"]:
            data[b, begin[ch]:begin[ch] + width[ch]] = 0
            data[b, begin[ch] + c["cats"].index(text)] = 1
        else:
            data[b, begin[ch]] = float(text)

    for t, ch, text in kept:
        b = int(t / step - EPS)
        mask[b, ch] = 1
        write(b, ch, text)
        original[b][ch] = text
    for ch, c in enumerate(chans):
        last = None
        for b in range(n_bins):
            if mask[b, ch]:
                last = original[b][ch]
                continue
            write(b, ch, c["normal"] if last is None else last)
    return np.hstack([data, mask])


def main():
    out = sys.argv[1]
    chans = load_channels()
    rs = np.random.RandomState(3)
    tensors = []
    n_stays = 16
    for s in range(n_stays):
        step = 1.0 if s % 2 else 2.0
        end = float(np.float32(rs.uniform(0.5, 30))) if s % 3 else None
        n = rs.randint(0, 60)
        hours = np.sort(rs.uniform(-4, (end or 30) + 4, size=n).astype(np.float32))
        if n > 3:
            hours[1] = 0.0           # exactly at admission
            hours[2] = np.float32(step * 2)  # exactly on a bin boundary
            hours = np.sort(hours)
        events, rows = [], []
        for t in hours:
            ch = rs.randint(len(chans))
            c = chans[ch]
            if c["categorical"]:
                k = rs.randint(len(c["cats"]))
                text, value = c["cats"][k], float(k)
            else:
                value = float(np.float32(rs.uniform(c["lo"], c["hi"])))
                text, k = repr(value), -1
            events.append((float(t), ch, text))
            rows.append([float(t), ch, value if not c["categorical"] else 0.0, k])
        x = reference(chans, events, end, step)
        tensors.append(("s%d.events" % s, np.array(rows, dtype=np.float64).reshape(-1, 4)))
        tensors.append(("s%d.meta" % s, np.array([end if end is not None else 0.0, step],
                                                 dtype=np.float64)))
        tensors.append(("s%d.out" % s, x.astype(np.float32)))
    tensors.append(("stays", np.array([n_stays], dtype=np.float64)))
    fixture.write(os.path.join(out, "discretize.bin"), tensors)


if __name__ == "__main__":
    main()
