#!/usr/bin/env python3
"""Goldens for the dose report's PSNR / SSIM / RMSE, computed by scikit-image.

Reads FIXTURE/{low,restored,normal} (DICOM, any names), pairs low <-> normal and low <-> restored
through Source Image Sequence, and prints per low-dose SOP Instance UID:
  psnrLow/psnrRestored: skimage.metrics.peak_signal_noise_ratio on HU clipped to [-160, 240], data_range 400
  ssimLow/ssimRestored: structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=400)
  rmseLow/rmseRestored: sqrt(mean((x - normal)^2)) in HU, unclipped
Usage: report_goldens.py FIXTURE > FIXTURE/goldens.json   (pydicom, scikit-image, numpy)
"""
import json
import os
import sys

import numpy as np
import pydicom
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def read(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            try:
                ds = pydicom.dcmread(os.path.join(root, name))
            except Exception:
                continue
            if "PixelData" not in ds:
                continue
            hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            src = ds.SourceImageSequence[0].ReferencedSOPInstanceUID if "SourceImageSequence" in ds else None
            out[ds.SOPInstanceUID] = (hu, src)
    return out


def main():
    base = sys.argv[1]
    low, restored, normal = (read(os.path.join(base, d)) for d in ("low", "restored", "normal"))
    by_source = {src: hu for hu, src in restored.values()}
    goldens = {}
    for uid, (hu, src) in sorted(low.items()):
        ref = normal[src][0]
        res = by_source[uid]
        c = lambda a: np.clip(a, -160, 240)
        row = {}
        for name, img in (("Low", hu), ("Restored", res)):
            row["psnr" + name] = peak_signal_noise_ratio(c(ref), c(img), data_range=400)
            row["ssim" + name] = structural_similarity(c(ref), c(img), data_range=400, gaussian_weights=True, sigma=1.5,
                                                       use_sample_covariance=False)
            row["rmse" + name] = float(np.sqrt(np.mean((img - ref) ** 2)))
        goldens[uid] = row
    json.dump({"generator": "scripts/reference/report_goldens.py", "scikit-image": skimage.__version__,
               "slices": goldens}, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
