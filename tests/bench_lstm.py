"""bench_lstm.py — the PyTorch side of `make bench` for the LSTM workloads.

Same models and shapes as tests/bench_lstm.c: a 2-layer LSTM 76 -> 256 over packed sequences of
48 steps, a linear head to 25 logits, BCE-with-logits; training = forward + backward + Adam,
inference = forward only under no_grad. Prints `TORCHBENCH <name> ms=<median>`.
Threads: torch.set_num_threads($PS_BENCH_THREADS, default 2), as the C side uses.
"""
import os
import sys
import time

import numpy as np
import torch


def median_ms(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(ts))


def make(batch, T, I=76, H=256, L=2, C=25):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(I, H, num_layers=L, batch_first=True, dropout=0.3)
    head = torch.nn.Linear(H, C)
    x = torch.randn(batch, T, I)
    lengths = torch.full((batch,), T, dtype=torch.int64)
    y = (torch.rand(batch, C) < 0.3).float()
    return lstm, head, x, lengths, y


def forward(lstm, head, x, lengths):
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                     enforce_sorted=False)
    _, (hn, _) = lstm(packed)
    return head(hn[-1])


def main():
    threads = int(os.environ.get("PS_BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    reps = int(os.environ.get("PS_BENCH_REPS", "20"))

    lstm, head, x, lengths, y = make(16, 48)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-4)
    lossf = torch.nn.BCEWithLogitsLoss()
    lstm.train()

    def train_step():
        opt.zero_grad()
        loss = lossf(forward(lstm, head, x, lengths), y)
        loss.backward()
        opt.step()

    print("TORCHBENCH lstm_train_b16_t48 ms=%.3f" % median_ms(train_step, 3, reps), flush=True)

    lstm1, head1, x1, len1, _ = make(1, 48)
    lstm1.eval()

    def infer():
        with torch.no_grad():
            forward(lstm1, head1, x1, len1)

    print("TORCHBENCH lstm_infer_b1_t48 ms=%.3f" % median_ms(infer, 5, reps * 5), flush=True)


if __name__ == "__main__":
    sys.exit(main())
