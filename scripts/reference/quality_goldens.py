#!/usr/bin/env python3
"""Golden PSNR/SSIM numbers from scikit-image for Tests/ImageQualityTests.

Writes quality_goldens.safetensors next to this script: three seeded image pairs in HU (a
body-like scene, the same with noise, the same smoothed) and, per pair and convention, skimage's
peak_signal_noise_ratio and structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False) on HU clipped to the window, with the window's data range.

Requirements: /opt/ldct-ref/bin/pip install scikit-image safetensors numpy
Run:          /opt/ldct-ref/bin/python scripts/reference/quality_goldens.py
"""
import json
import os

import numpy as np
from safetensors.numpy import save_file
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from scipy.ndimage import gaussian_filter

HERE = os.path.dirname(os.path.abspath(__file__))
CONVENTIONS = {"ldct": (-160.0, 240.0, 400.0), "full": (-1024.0, 1900.0, 2924.0)}


def scene(rng, rows=70, cols=90):
    y, x = np.mgrid[0:rows, 0:cols]
    img = np.full((rows, cols), -1000.0)
    body = ((x - cols / 2) / (0.42 * cols)) ** 2 + ((y - rows / 2) / (0.4 * rows)) ** 2 < 1
    img[body] = 40.0
    img[body & (((x - cols / 2 + 12) / 10) ** 2 + ((y - rows / 2) / 14) ** 2 < 1)] = 60.0
    img[((x - cols / 2) / 5) ** 2 + ((y - rows / 2 - 15) / 5) ** 2 < 1] = 700.0
    return img + rng.normal(0, 5, img.shape)


def main():
    rng = np.random.default_rng(20261125)
    ref = scene(rng)
    pairs = {
        "noisy": ref + rng.normal(0, 25, ref.shape),
        "smooth": gaussian_filter(ref, 1.2),
        "shifted": ref + 8.0,
    }
    tensors = {"reference": ref.astype(np.float32)}
    meta = {"generator": "scripts/reference/quality_goldens.py", "skimage": __import__("skimage").__version__,
            "rows": str(ref.shape[0]), "columns": str(ref.shape[1])}
    goldens = {}
    for name, img in pairs.items():
        img32 = img.astype(np.float32)
        tensors[name] = img32
        for conv, (lo, hi, rng_) in CONVENTIONS.items():
            a = np.clip(ref.astype(np.float32).astype(np.float64), lo, hi)
            b = np.clip(img32.astype(np.float64), lo, hi)
            psnr = peak_signal_noise_ratio(a, b, data_range=rng_)
            ssim = structural_similarity(a, b, data_range=rng_, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False)
            goldens[f"{name}/{conv}"] = {"psnr": psnr, "ssim": ssim}
    meta["goldens"] = json.dumps(goldens, sort_keys=True)
    save_file(tensors, os.path.join(HERE, "quality_goldens.safetensors"), metadata=meta)
    print(json.dumps(goldens, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
