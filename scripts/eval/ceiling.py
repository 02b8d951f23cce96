#!/usr/bin/env python3
"""How high PSNR can go against a noisy normal-dose reference (issue 16's metric), per slice and mean.

The low-dose input is simulated from the normal dose: low = T + n_ref + n_add, reference = T + n_ref
(T: the anatomy; n_ref: the normal dose's own noise; n_add: the added noise, the same texture with
variance (1/d - 1) times n_ref's). Even an estimator that knew T exactly could not tell n_ref from
n_add; the best it can do for the squared error against the reference is T + d (low - T), whose
error is (d - 1) n_ref + d n_add (variance (1 - d) var(n_ref) before clipping). The script forms
that error from the actual n_add (low - normal) and, for n_ref, from a second, independent
realisation of the added noise (LOW2 - normal, scaled by sqrt(d / (1 - d)) to the reference's
variance), adds it to the reference and scores as compare_bm3d.py does (HU clipped to [-160, 240],
data range 400). The result bounds every denoiser's mean PSNR on these pairs from above (up to
the Gaussian-noise assumption). It does not bound SSIM (that needs T itself).

Usage: ceiling.py NORMAL_DIR LOW_DIR LOW2_DIR DOSE
  LOW_DIR: the evaluation's low-dose series; LOW2_DIR: the same series simulated at the same dose
  with another seed (scripts/eval/ceiling makes both).
"""
import os
import sys

import numpy as np
from skimage.metrics import peak_signal_noise_ratio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_bm3d import read_series  # noqa: E402


def by_source(folder):
    return {src: hu for _, (hu, src) in read_series(folder).items() if src}


def main():
    normal_dir, low_dir, low2_dir, dose = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    normal = {uid: hu for uid, (hu, _) in read_series(normal_dir).items()}
    low, low2 = by_source(low_dir), by_source(low2_dir)
    clip = lambda a: np.clip(a, -160, 240)  # noqa: E731
    rows = []
    for src in sorted(low):
        if src not in normal or src not in low2:
            continue
        ref = normal[src]
        n_add = low[src] - ref
        n_ref = (low2[src] - ref) * np.sqrt(dose / (1 - dose))
        independent = abs(np.corrcoef(n_add.ravel(), n_ref.ravel())[0, 1])
        if independent > 0.1:
            sys.exit(f"the two realisations are correlated ({independent:.2f}): simulate LOW2 with another seed")
        oracle = ref + (dose - 1) * n_ref + dose * n_add
        inside = (ref > -160) & (ref < 240)
        sigma_in = float(np.std(n_add[inside]))
        rows.append((sigma_in, peak_signal_noise_ratio(clip(ref), clip(low[src]), data_range=400),
                     peak_signal_noise_ratio(clip(ref), clip(oracle), data_range=400)))
    if not rows:
        sys.exit("no slice of LOW_DIR pairs with NORMAL_DIR and LOW2_DIR through Source Image Sequence")
    print(f"{len(rows)} slices, dose {dose:g}: input {np.mean([r[1] for r in rows]):.2f} dB, "
          f"ceiling {np.mean([r[2] for r in rows]):.2f} dB")
    for sigma, p_in, p_ceiling in sorted(rows):
        print(f"  added noise σ {sigma:6.1f} HU (inside the window): input {p_in:.2f} dB, ceiling {p_ceiling:.2f} dB")


if __name__ == "__main__":
    main()
