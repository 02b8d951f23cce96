#!/usr/bin/env python3
"""The same work as `ldct bench restore` and `ldct bench train`, in PyTorch on the CPU.

Requirements: python3 -m venv /opt/ldct-ref && /opt/ldct-ref/bin/pip install "torch==2.13.0+cpu" numpy
Run:          /opt/ldct-ref/bin/python scripts/bench/redcnn_torch.py [--threads 2] [--repeats 3]
Prints medians after one warm-up, in the same format as ldct bench.
"""
import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from redcnn_oracle import REDCNN  # noqa: E402  (the same network definition as the oracle)


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], times


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, nargs="+", default=[55, 64])
    ap.add_argument("--skip-restore", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, mkldnn {torch.backends.mkldnn.is_available()}")
    model = REDCNN(96)
    if not args.skip_restore:
        x = torch.rand(1, 1, args.size, args.size)
        with torch.no_grad():
            med, runs = median_time(lambda: model(x), args.repeats)
        print(f"torch restore {args.size}² width 96: median {med:.2f} s (runs {' '.join(f'{t:.2f}' for t in runs)}), "
              f"{9.17e11 / med / 1e9:.1f} GFLOP/s, peak RSS {peak_rss_mib():.0f} MiB")
    for side in args.patch:
        model = REDCNN(96)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        x = torch.rand(args.batch, 1, side, side) * 0.1 + 0.2
        t = x + 0.01 * (torch.rand_like(x) - 0.5)

        def step():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), t)
            loss.backward()
            opt.step()

        med, runs = median_time(step, args.repeats)
        print(f"torch train step {args.batch}×{side}² width 96: median {med:.2f} s "
              f"(runs {' '.join(f'{t:.2f}' for t in runs)}), peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
