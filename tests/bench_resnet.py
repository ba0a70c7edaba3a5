"""bench_resnet.py — PyTorch reference timings for the ResNet-34 workloads of tests/bench_resnet.c.

Run with Debian's /usr/bin/python3 (python3-torch, torchvision). $PS_BENCH_THREADS (2) threads,
like the C side, so the comparison is per-core honest. Prints one line per workload:
    TORCHBENCH <name> ms=<median> peak_rss_mb=<n>
usage: bench_resnet.py [WORKLOAD ...]   (default: all; each runs in its own child process so
peak RSS is per workload)
"""
import os
import resource
import subprocess
import sys
import time

WORKLOADS = {
    # name: (batch, size, train, repetitions)
    "resnet34_train_b16_224": (16, 224, True, 5),
    "resnet34_train_b16_112": (16, 112, True, 7),
    "resnet34_infer_b1_224": (1, 224, False, 21),
}


def run_one(name):
    import torch
    import torchvision
    torch.set_num_threads(int(os.environ.get("PS_BENCH_THREADS", "2")))
    torch.manual_seed(0)
    batch, size, train, reps = WORKLOADS[name]
    model = torchvision.models.resnet34(num_classes=14)
    x = torch.randn(batch, 3, size, size)
    y = (torch.rand(batch, 14) < 0.3).float()
    times = []
    if train:
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        lossf = torch.nn.BCEWithLogitsLoss()
        for i in range(reps + 1):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=False)
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()
            t1 = time.perf_counter()
            if i > 0:  # the first step pays for allocation and oneDNN primitive creation
                times.append((t1 - t0) * 1e3)
    else:
        model.eval()
        with torch.no_grad():
            for i in range(reps + 1):
                t0 = time.perf_counter()
                model(x)
                t1 = time.perf_counter()
                if i > 0:
                    times.append((t1 - t0) * 1e3)
    times.sort()
    med = times[len(times) // 2]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"TORCHBENCH {name} ms={med:.1f} peak_rss_mb={rss:.0f}", flush=True)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        run_one(sys.argv[2])
        return 0
    names = sys.argv[1:] or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            print(f"bench_resnet.py: unknown workload {n}", file=sys.stderr)
            return 2
    rc = 0
    for n in names:
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", n])
        rc = rc or r.returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
