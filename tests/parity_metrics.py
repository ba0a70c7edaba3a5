"""parity_metrics.py OUTDIR — scikit-learn reference for engine/metrics.h, written to
OUTDIR/metrics.bin with tests/fixture.py and compared by tests/test_parity_metrics.c.

Cases (each: scores (n, L) float32, labels (n, L), and sklearn's roc_auc_score and
average_precision_score per label, in float64): continuous random scores; scores rounded to a
few values (many ties across classes); a label whose scores are all equal; a 25-label case
shaped like the phenotype test set. Seeded numpy; runs under /usr/bin/python3.
"""
import os
import sys

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402


def case(name, scores, labels, tensors):
    scores = scores.astype(np.float32)
    labels = labels.astype(np.float32)
    L = scores.shape[1]
    s64 = scores.astype(np.float64)
    auroc = np.array([roc_auc_score(labels[:, l], s64[:, l]) for l in range(L)])
    ap = np.array([average_precision_score(labels[:, l], s64[:, l]) for l in range(L)])
    tensors += [(name + ".scores", scores), (name + ".labels", labels),
                (name + ".auroc", auroc), (name + ".auprc", ap)]


def main():
    out = sys.argv[1]
    rs = np.random.RandomState(1)
    tensors = []
    n, L = 200, 4
    y = (rs.rand(n, L) < 0.35).astype(np.float32)
    case("random", rs.rand(n, L) + 0.4 * y, y, tensors)
    y = (rs.rand(n, L) < 0.5).astype(np.float32)
    case("tied", np.round((rs.rand(n, L) + 0.3 * y) * 4) / 4, y, tensors)
    y = (rs.rand(50, 2) < 0.4).astype(np.float32)
    s = rs.rand(50, 2)
    s[:, 1] = 0.25
    case("constant", s, y, tensors)
    n, L = 400, 25
    prev = rs.uniform(0.05, 0.4, size=L)
    y = (rs.rand(n, L) < prev).astype(np.float32)
    case("phenotypes", 1 / (1 + np.exp(-(rs.randn(n, L) + 1.2 * y - 1))), y, tensors)
    tensors.append(("cases", np.array([4], dtype=np.float64)))
    fixture.write(os.path.join(out, "metrics.bin"), tensors)


if __name__ == "__main__":
    main()
