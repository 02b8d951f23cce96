#!/usr/bin/env python3
"""How high PSNR and SSIM can go against a noisy normal-dose reference (issue 16's metric), per slice and mean.

The low-dose input is simulated from the normal dose: low = T + n_ref + n_add, reference = T + n_ref
(T: the anatomy; n_ref: the normal dose's own noise; n_add: the added noise). Even an estimator that
knew T exactly could not tell n_ref from n_add; the best it can do for the squared error against the
reference is the Wiener oracle T + w (low - T), w = var(n_ref) / var(n_ref + n_add), with error
(w - 1) n_ref + w n_add. n_add is known (low - normal); n_ref is modelled by a second, independent
realisation of the added noise (LOW2 - normal, the same texture) scaled by k = σ(n_ref) / σ(n_add).

k two ways:
  nominal   the simulator's intent: added variance = (1/d - 1) var(n_ref), k = sqrt(d / (1 - d)).
  measured  k = σ(reference) / σ(LOW2 - normal) after the same high-pass (x - Gaussian(x, 1.5 px)), in
            flat soft tissue of the reference (Gaussian(3 px) within -100…150 HU, Sobel gradient < 40,
            eroded 5 px). Anatomy left in those squares only raises σ(reference), so this k is an
            upper bound of the reference's noise; where it is below nominal, `ldct simulate
            --calibrate` added more noise than d asks for (its σ0 from 8×8 blocks includes organ
            texture; docs/simulation.md), and the nominal ceiling is too low to bound anything.
The measured ceiling is used for the bound. Scoring as compare_bm3d.py (HU clipped to [-160, 240],
data range 400). Printed per kind: PSNR of the Wiener oracle (the PSNR bound, up to the Gaussian
model and k's upward bias, which lowers it), SSIM of the Wiener oracle and of T itself (SSIM has no
closed-form optimum; these show what perfect anatomy scores against this reference).

Usage: ceiling.py NORMAL_DIR LOW_DIR LOW2_DIR DOSE
  LOW_DIR: the evaluation's low-dose series; LOW2_DIR: the same series simulated at the same dose
  with another seed (scripts/eval/ceiling makes both).
"""
import os
import sys

import numpy as np
from scipy import ndimage as ndi
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_bm3d import read_series  # noqa: E402


def by_source(folder):
    return {src: hu for _, (hu, src) in read_series(folder).items() if src}


def clip(a):
    return np.clip(a, -160, 240)


def psnr(ref, x):
    return peak_signal_noise_ratio(clip(ref), clip(x), data_range=400)


def ssim(ref, x):
    return structural_similarity(clip(ref), clip(x), data_range=400, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)


def flat_tissue(ref):
    smooth = ndi.gaussian_filter(ref, 3)
    gradient = ndi.generic_gradient_magnitude(smooth, ndi.sobel)
    return ndi.binary_erosion((smooth > -100) & (smooth < 150) & (gradient < 40), iterations=5)


def high_pass(x):
    return x - ndi.gaussian_filter(x, 1.5)


def main():
    normal_dir, low_dir, low2_dir, dose = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    normal = {uid: hu for uid, (hu, _) in read_series(normal_dir).items()}
    low, low2 = by_source(low_dir), by_source(low2_dir)
    k_nominal = np.sqrt(dose / (1 - dose))
    rows = []
    for src in sorted(low):
        if src not in normal or src not in low2:
            continue
        ref = normal[src]
        n_add, second = low[src] - ref, low2[src] - ref
        independent = abs(np.corrcoef(n_add.ravel(), second.ravel())[0, 1])
        if independent > 0.1:
            sys.exit(f"the two realisations are correlated ({independent:.2f}): simulate LOW2 with another seed")
        flat = flat_tissue(ref)
        k_measured = (float(np.std(high_pass(ref)[flat]) / np.std(high_pass(second)[flat]))
                      if flat.sum() >= 1000 else k_nominal)
        row = {"k": k_measured, "input": psnr(ref, low[src]), "input_ssim": ssim(ref, low[src])}
        for name, k in (("nominal", k_nominal), ("measured", min(k_measured, k_nominal))):
            n_ref = second * k
            w = k * k / (1 + k * k)
            anatomy = ref - n_ref
            oracle = anatomy + w * (n_ref + n_add)
            row[name] = (psnr(ref, oracle), ssim(ref, oracle), ssim(ref, anatomy))
        inside = (ref > -160) & (ref < 240)
        row["sigma"] = float(np.std(n_add[inside]))
        rows.append(row)
    if not rows:
        sys.exit("no slice of LOW_DIR pairs with NORMAL_DIR and LOW2_DIR through Source Image Sequence")
    mean = lambda f: float(np.mean([f(r) for r in rows]))  # noqa: E731
    print(f"{len(rows)} slices, dose {dose:g}: input {mean(lambda r: r['input']):.2f} dB / {mean(lambda r: r['input_ssim']):.4f}; "
          f"reference noise / added noise: nominal {k_nominal:.3f}, measured {mean(lambda r: r['k']):.3f} "
          f"(effective dose {mean(lambda r: min(r['k'], k_nominal) ** 2 / (1 + min(r['k'], k_nominal) ** 2)):.3f})")
    for name in ("nominal", "measured"):
        print(f"  ceiling, {name:8s} k: PSNR {mean(lambda r: r[name][0]):.2f} dB, SSIM {mean(lambda r: r[name][1]):.4f} "
              f"(perfect anatomy alone: SSIM {mean(lambda r: r[name][2]):.4f})")
    for r in sorted(rows, key=lambda r: r["sigma"]):
        print(f"  added noise σ {r['sigma']:6.1f} HU (inside the window), k {r['k']:.3f}: input {r['input']:.2f} dB, "
              f"ceiling {r['nominal'][0]:.2f} (nominal) / {r['measured'][0]:.2f} dB (measured)")


if __name__ == "__main__":
    main()
