#!/usr/bin/env python3
"""What a fixed strength α would give a restored series: restored = input + α (network − input),
scored as the evaluation scores (HU clipped to [-160, 240], data range 400; SSIM with a Gaussian
window σ 1.5, population covariance, 5-pixel border left out, as scikit-image). Mean PSNR / SSIM over
the slices for each α, and the best α per slice. Restore at strength 1 (`ldct restore --strength 1`)
so the series holds the network's output as it is.

docs/default-model-training.md, attempt 15: with v3's network the best α follows the dose (≈ 0.9 at
25 %, 1.1–1.2 at 10 %) rather than the noise the network removed.

Usage: strength_per_dose.py NORMAL_DIR LOW_DIR RESTORED_DIR [α ...]   (default α 0.8 … 1.3)
  e.g. for set in heldout-smooth heldout-sharp real; do for d in 0.25 0.1; do
         strength_per_dose.py $W/$set/normal $W/$set/low-$d $OUT/$set-$d; done; done
Requirements: /opt/ldct-ref/bin/pip install pydicom scikit-image numpy scipy
"""
import os
import sys

import numpy as np
from scipy.ndimage import gaussian_filter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_bm3d import read_series  # noqa: E402


def ssim(x, y):
    f = lambda a: gaussian_filter(a, 1.5, truncate=3.5)
    c1, c2 = (0.01 * 400) ** 2, (0.03 * 400) ** 2
    ux, uy = f(x), f(y)
    vx, vy, cxy = f(x * x) - ux * ux, f(y * y) - uy * uy, f(x * y) - ux * uy
    s = ((2 * ux * uy + c1) * (2 * cxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s[5:-5, 5:-5].mean()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    normal_dir, low_dir, restored_dir = sys.argv[1:4]
    alphas = [float(a) for a in sys.argv[4:]] or [0.8, 0.9, 1.0, 1.1, 1.2, 1.3]
    clip = lambda a: np.clip(a, -160, 240)
    normal = {u: h for u, (h, _) in read_series(normal_dir).items()}
    low = read_series(low_dir)
    restored = {src: h for _, (h, src) in read_series(restored_dir).items()}
    psnr, ssims, best = np.zeros(len(alphas)), np.zeros(len(alphas)), []
    n = 0
    for uid, (lhu, src) in low.items():
        if src not in normal or uid not in restored:
            continue
        ref, out, n = clip(normal[src]), restored[uid], n + 1
        p = []
        for i, a in enumerate(alphas):
            y = clip(lhu + a * (out - lhu))
            p.append(10 * np.log10(400 ** 2 / np.mean((y - ref) ** 2)))
            psnr[i] += p[-1]
            ssims[i] += ssim(ref, y)
        best.append(alphas[int(np.argmax(p))])
    if n == 0:
        sys.exit("no slice paired (low ↔ normal through Source Image Sequence, restored ↔ low)")
    print(f"{n} slices: " + " ".join(f"α {a:g}: {p / n:.2f} / {s / n:.4f}" for a, p, s in zip(alphas, psnr, ssims)))
    print("best α per slice (PSNR): " + " ".join(f"{a:g}" for a in sorted(best)))


if __name__ == "__main__":
    main()
