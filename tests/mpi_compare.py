"""Compares the model weights of two runs' checkpoints (tests/e2e_mpi.sh).

usage: mpi_compare.py STORE_A RUN_A STORE_B RUN_B [TOL] [KIND]

Reads the safetensors blob of checkpoint KIND (default "last") of each run straight from the
SQLite store (stdlib only), and compares every model tensor (cxr.*, ehr.*, fusion.*; not the
Adam moments or the trainer state): prints the largest absolute difference and the tensor it
is in, and exits 1 when it exceeds TOL (default 1e-4) or when the tensors differ in names or
shapes. Also compares the two runs' recorded per-iteration losses with the same tolerance, and
their per-epoch validation macro AUROC (all and paired stays) within 1e-3.
"""
import json
import sqlite3
import struct
import sys


def load(path, run, kind):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    row = db.execute("SELECT weights FROM checkpoints WHERE run_id = ? AND kind = ?",
                     (run, kind)).fetchone()
    if row is None:
        sys.exit("mpi_compare: %s has no %s checkpoint of run %s" % (path, kind, run))
    blob = bytes(row[0])
    steps = db.execute("SELECT step, loss_cxr, loss_ehr, loss_joint FROM run_steps "
                       "WHERE run_id = ? ORDER BY step", (run,)).fetchall()
    epochs = [json.loads(m) for (m,) in db.execute(
        "SELECT metrics FROM run_epochs WHERE run_id = ? ORDER BY epoch", (run,))]
    db.close()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or not name.startswith(("cxr.", "ehr.", "fusion.")):
            continue
        if info["dtype"] != "F32":
            continue
        a, b = info["data_offsets"]
        out[name] = (tuple(info["shape"]), struct.unpack_from("<%df" % ((b - a) // 4), blob,
                                                              base + a))
    return out, steps, epochs


def main():
    sa, ra, sb, rb = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    tol = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-4
    kind = sys.argv[6] if len(sys.argv) > 6 else "last"
    A, steps_a, ep_a = load(sa, ra, kind)
    B, steps_b, ep_b = load(sb, rb, kind)
    if sorted(A) != sorted(B):
        sys.exit("mpi_compare: the checkpoints hold different tensors")
    worst, where, count = 0.0, "", 0
    for name in A:
        if A[name][0] != B[name][0]:
            sys.exit("mpi_compare: %s has shape %s vs %s" % (name, A[name][0], B[name][0]))
        for x, y in zip(A[name][1], B[name][1]):
            d = abs(x - y)
            count += 1
            if d > worst or d != d:
                worst, where = d, name
    lw = 0.0
    if len(steps_a) != len(steps_b):
        sys.exit("mpi_compare: %d vs %d recorded steps" % (len(steps_a), len(steps_b)))
    for p, q in zip(steps_a, steps_b):
        for x, y in zip(p[1:], q[1:]):
            if x is None and y is None:
                continue
            if x is None or y is None:
                sys.exit("mpi_compare: step %d has a loss in one run only" % p[0])
            lw = max(lw, abs(x - y))
    # validation metrics of every epoch (AUROC is rank-based: float-level differences in the
    # predictions move it by at most a tie or two)
    if len(ep_a) != len(ep_b):
        sys.exit("mpi_compare: %d vs %d recorded epochs" % (len(ep_a), len(ep_b)))
    mw = 0.0
    for p, q in zip(ep_a, ep_b):
        for part in ("val_all", "val_paired"):
            x, y = p.get(part, {}).get("auroc"), q.get(part, {}).get("auroc")
            if (x is None) != (y is None):
                sys.exit("mpi_compare: epoch %s: %s.auroc in one run only" % (p.get("epoch"), part))
            if x is not None:
                mw = max(mw, abs(x - y))
    if mw > 1e-3:
        sys.exit("mpi_compare: validation AUROC differs by %.3g" % mw)
    print("mpi_compare: %d weights in %d tensors, max |diff| %.3g (in %s); %d steps, max loss "
          "|diff| %.3g" % (count, len(A), worst, where, len(steps_a), lw))
    if not (worst <= tol and lw <= tol):
        sys.exit(1)


main()
