"""parity_lstm.py OUTDIR — PyTorch reference for the EHR model (engine/ehr_model.h), written to
OUTDIR/lstm.bin with tests/fixture.py and compared by tests/test_parity_lstm.c.

Model: nn.LSTM(76, 16, num_layers=2, batch_first=True) over pack_padded_sequence(...,
enforce_sorted=False) with sequences of different lengths (unsorted, with ties and a length-1
sequence), feature = h_n[-1], nn.Linear(16, 25) head, BCEWithLogitsLoss (mean). Recorded: the
initial weights, inputs, lengths, labels, the features, logits and loss, every parameter's
gradient after one backward, the global gradient norm and the weights after
clip_grad_norm_(0.5) + one Adam step (with L2 weight decay). Deterministic: seeded torch and numpy.
Runs under Debian's /usr/bin/python3 (python3-torch).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture  # noqa: E402

I, H, L, C = 76, 16, 2, 25
B, T = 6, 9
LENGTHS = [9, 3, 7, 1, 9, 5]
LR, BETA1, BETA2, EPS, WD, MAX_NORM = 1e-2, 0.9, 0.999, 1e-8, 1e-2, 0.5


class EhrModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(I, H, num_layers=L, batch_first=True)
        self.fc = torch.nn.Linear(H, C)

    def forward(self, x, lengths):
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                         enforce_sorted=False)
        _, (hn, _) = self.lstm(packed)
        feat = hn[-1]
        return self.fc(feat), feat


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    rs = np.random.RandomState(0)
    model = EhrModel()
    x = rs.randn(B, T, I).astype(np.float32)
    for b, n in enumerate(LENGTHS):
        x[b, n:, :] = 1e3  # padding must be ignored
    y = (rs.rand(B, C) < 0.3).astype(np.float32)
    lengths = torch.tensor(LENGTHS, dtype=torch.int64)

    tensors = [("config", np.array([I, H, L, C, B, T, LR, BETA1, BETA2, EPS, WD, MAX_NORM],
                                   dtype=np.float64)),
               ("x", x), ("lengths", np.array(LENGTHS, dtype=np.float32)), ("y", y)]
    names = [n for n, _ in model.named_parameters()]
    for n, p in model.named_parameters():
        tensors.append(("param." + n, p.detach().clone()))

    logits, feat = model(torch.from_numpy(x), lengths)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(y))
    loss.backward()
    tensors += [("feat", feat), ("logits", logits),
                ("loss", np.array([loss.item()], dtype=np.float64))]
    for n, p in model.named_parameters():
        tensors.append(("grad." + n, p.grad.detach().clone()))

    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS,
                           weight_decay=WD)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
    opt.step()
    tensors.append(("grad_norm", np.array([float(norm)], dtype=np.float64)))
    for n, p in model.named_parameters():
        tensors.append(("after." + n, p.detach().clone()))
    assert len(names) == 4 * L + 2
    fixture.write(os.path.join(out, "lstm.bin"), tensors)


if __name__ == "__main__":
    main()
