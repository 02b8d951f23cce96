#!/usr/bin/env python3
"""RED-CNN (LowDoseCT) against BM3D and the low-dose input, on paired DICOM series.

For every low-dose slice (paired with its normal-dose source through Source Image Sequence) and
its RED-CNN restoration (paired with the low-dose slice the same way), BM3D denoises the low-dose
slice and the script reports, against normal dose:
  PSNR and SSIM (HU clipped to [-160, 240], data range 400; scikit-image, SSIM with a Gaussian
  window sigma 1.5 and population covariance), RMSE (HU), mean HU shift in soft tissue
  (pixels whose normal-dose value is -60..160 HU inside the body), and the noise (std of the error)
  in that tissue.
BM3D gets the true noise level: sigma = std(low - normal) in soft tissue, per slice (generous to
BM3D; a clinical user would have to estimate it). With --estimated, BM3D also runs as a user
without a normal-dose scan would run it: sigma estimated from the low-dose slice alone by
scikit-image's estimate_sigma (wavelet median absolute deviation, Donoho & Johnstone) on the HU
image.

Requirements: /opt/ldct-ref/bin/pip install bm3d pydicom scikit-image numpy
Usage: compare_bm3d.py NORMAL_DIR LOW_DIR RESTORED_DIR [--json out.json] [--cache DIR] [--estimated] [--measured REPORT_JSON] | --no-bm3d]
       compare_bm3d.py NORMAL_DIR LOW_DIR - --cache DIR     (BM3D only, filling the cache)
BM3D results are cached per low-dose SOP Instance UID in --cache (they do not depend on the model).
"""
import argparse
import json
import os
import sys
import time

import bm3d
import numpy as np
import pydicom
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.restoration import estimate_sigma


def read_series(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                ds = pydicom.dcmread(path)
            except Exception:
                continue
            if getattr(ds, "Modality", "") != "CT" or "PixelData" not in ds:
                continue
            hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            src = None
            if "SourceImageSequence" in ds and len(ds.SourceImageSequence) > 0:
                src = ds.SourceImageSequence[0].ReferencedSOPInstanceUID
            out[ds.SOPInstanceUID] = (hu, src)
    return out


def uniform_rois(ref, tissue, size=32, count=8):
    """Flat soft-tissue squares of the normal-dose slice (as ldct report picks them: every pixel in
    tissue, structure score = spread of the 4×4 sub-block means, kept when at most twice the
    third-lowest score), non-overlapping, at most `count`."""
    cands = []
    for y in range(0, ref.shape[0] - size + 1, size // 2):
        for x in range(0, ref.shape[1] - size + 1, size // 2):
            if not tissue[y:y + size, x:x + size].all():
                continue
            blocks = ref[y:y + size, x:x + size].reshape(4, size // 4, 4, size // 4).mean(axis=(1, 3))
            cands.append((float(blocks.std()), y, x))
    if not cands:
        return []
    cands.sort()
    limit = 2 * cands[min(2, len(cands) - 1)][0] + 1e-9
    chosen = []
    for score, y, x in cands:
        if score <= limit and all(abs(y - cy) >= size or abs(x - cx) >= size for cy, cx in chosen):
            chosen.append((y, x))
        if len(chosen) == count:
            break
    return [(y, x, size) for y, x in chosen]


def nps_mean_frequency(img, rois):
    """Mean radial frequency (cycles/pixel) of the noise power spectrum of `img` in the squares,
    each detrended by a plane: lower than normal dose's means a coarser, blotchier ("plastic")
    texture; nan without squares."""
    if not rois:
        return float("nan")
    acc = None
    for y, x, s in rois:
        patch = img[y:y + s, x:x + s].astype(np.float64)
        yy, xx = np.mgrid[0:s, 0:s]
        a = np.c_[np.ones(s * s), yy.ravel(), xx.ravel()]
        coef, *_ = np.linalg.lstsq(a, patch.ravel(), rcond=None)
        patch = patch - (a @ coef).reshape(s, s)
        power = np.abs(np.fft.fft2(patch)) ** 2
        acc = power if acc is None else acc + power
    f = np.fft.fftfreq(acc.shape[0])
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    total = acc.sum()
    return float((radius * acc).sum() / total) if total > 0 else float("nan")


def metrics(ref, img, tissue, rois=()):
    a, b = np.clip(ref, -160, 240), np.clip(img, -160, 240)
    err = img - ref
    out = {
        # The normal-dose row compares the reference with itself (for its texture columns): no error, PSNR ∞.
        "psnr": peak_signal_noise_ratio(a, b, data_range=400) if np.any(a != b) else float("inf"),
        "ssim": structural_similarity(a, b, data_range=400, gaussian_weights=True, sigma=1.5, use_sample_covariance=False),
        "rmse": float(np.sqrt(np.mean(err ** 2))),
        "hu_shift": float(np.mean(err[tissue])),
        "noise": float(np.std(err[tissue])),
    }
    if rois:
        # HU bias in uniform tissue and the image's own noise and texture there.
        out["hu_bias_uniform"] = float(np.mean([np.mean(err[y:y + s, x:x + s]) for y, x, s in rois]))
        out["noise_uniform"] = float(np.mean([np.std(img[y:y + s, x:x + s]) for y, x, s in rois]))
        out["nps_fmean"] = nps_mean_frequency(img, rois)
    return out


def bm3d_cached(low_hu, sigma, cached):
    """BM3D of a HU slice for noise sigma (HU), from/to the .npy cache file when given; returns
    (image, seconds spent denoising). BM3D runs on HU scaled to [0, 1] over [-1024, 3071]."""
    if cached and os.path.exists(cached):
        return np.load(cached), 0.0
    scale = 4096.0
    t0 = time.time()
    den = bm3d.bm3d((low_hu + 1024) / scale, sigma_psd=sigma / scale) * scale - 1024
    if cached:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        np.save(cached, den)
    return den, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("normal")
    ap.add_argument("low")
    ap.add_argument("restored")
    ap.add_argument("--json")
    ap.add_argument("--cache")
    ap.add_argument("--estimated", action="store_true", help="also BM3D with sigma estimated from the low-dose slice")
    ap.add_argument("--no-bm3d", action="store_true", help="RED-CNN against the low-dose input only (no BM3D rows)")
    ap.add_argument("--measured", metavar="REPORT_JSON",
                    help="also BM3D with the σ `ldct report` measured in uniform soft-tissue squares of each low-dose slice (noiseLow)")
    args = ap.parse_args()
    normal, low = read_series(args.normal), read_series(args.low)
    restored = {} if args.restored == "-" else read_series(args.restored)
    if args.cache:
        os.makedirs(args.cache, exist_ok=True)
    restored_by_source = {src: hu for hu, src in restored.values() if src}
    measured = {}
    if args.measured:
        with open(args.measured) as f:
            measured = {s["lowSOPInstanceUID"]: s["noiseLow"] for s in json.load(f)["slices"] if s.get("noiseLow")}
    rows = []
    t_bm3d = 0.0
    for uid, (low_hu, src) in sorted(low.items()):
        if src not in normal or (uid not in restored_by_source and args.restored != "-"):
            print(f"unpaired low-dose slice {uid}", file=sys.stderr)
            continue
        ref = normal[src][0]
        tissue = (ref > -60) & (ref < 160)
        sigma = float(np.std((low_hu - ref)[tissue]))
        row = {"slice": uid, "sigma_low": sigma}
        if not args.no_bm3d:
            den, seconds = bm3d_cached(low_hu, sigma, os.path.join(args.cache, uid + ".npy") if args.cache else None)
            t_bm3d += seconds
        if args.estimated and not args.no_bm3d:
            est_sigma = float(estimate_sigma(low_hu))
            est, seconds = bm3d_cached(low_hu, est_sigma, os.path.join(args.cache + "-estimated", uid + ".npy") if args.cache else None)
            t_bm3d += seconds
            row["sigma_estimated"] = est_sigma
        if uid in measured and not args.no_bm3d:
            meas, seconds = bm3d_cached(low_hu, measured[uid], os.path.join(args.cache + "-measured", uid + ".npy") if args.cache else None)
            t_bm3d += seconds
            row["sigma_measured"] = measured[uid]
        if args.restored == "-":
            continue
        red = restored_by_source[uid]
        rois = uniform_rois(ref, tissue)
        row["rois"] = len(rois)
        row.update({"normal": metrics(ref, ref, tissue, rois), "low": metrics(ref, low_hu, tissue, rois),
                    "redcnn": metrics(ref, red, tissue, rois)})
        if not args.no_bm3d:
            row["bm3d"] = metrics(ref, den, tissue, rois)
        if args.estimated and not args.no_bm3d:
            row["bm3d_estimated"] = metrics(ref, est, tissue, rois)
        if "sigma_measured" in row:
            row["bm3d_measured"] = metrics(ref, meas, tissue, rois)
        rows.append(row)
    if args.restored == "-":
        print(f"BM3D cache filled in {t_bm3d:.0f} s")
        return
    if not rows:
        sys.exit("no paired slices")
    if args.no_bm3d:
        args.estimated = False
    methods = ("low", "redcnn") + (() if args.no_bm3d else ("bm3d",)) + (("bm3d_estimated",) if args.estimated else ())
    if rows and all("bm3d_measured" in r for r in rows):
        methods += ("bm3d_measured",)
    summary = {}
    for method in methods + ("normal",):
        keys = set().union(*(r[method].keys() for r in rows))
        summary[method] = {k: float(np.nanmean([r[method][k] for r in rows if k in r[method]])) for k in sorted(keys)}
    print(f"{len(rows)} slices; BM3D {t_bm3d / len(rows):.1f} s/slice (0 when cached)")
    print("| method | PSNR (dB) | SSIM | RMSE (HU) | mean HU shift, tissue | noise σ in tissue (HU) |")
    print("|---|---|---|---|---|---|")
    names = {"low": "low-dose input", "redcnn": "RED-CNN (LowDoseCT default)", "bm3d": "BM3D (true σ)",
             "bm3d_estimated": "BM3D (σ estimated from the image)",
             "bm3d_measured": "BM3D (σ measured in uniform tissue, ldct report)"}
    for m in methods:
        s = summary[m]
        print(f"| {names[m]} | {s['psnr']:.2f} | {s['ssim']:.4f} | {s['rmse']:.1f} | {s['hu_shift']:+.2f} | {s['noise']:.1f} |")
    # Texture: the image's own noise in uniform soft tissue, against normal dose ("plastic" look).
    if "nps_fmean" in summary["normal"]:
        print()
        print(f"Uniform soft tissue ({np.mean([r['rois'] for r in rows]):.1f} squares of 32² per slice on average):")
        print("| method | HU bias | noise σ (HU) | NPS mean frequency (cycles/pixel) | relative to normal dose |")
        print("|---|---|---|---|---|")
        ref_f = summary["normal"]["nps_fmean"]
        for m in ("normal",) + methods:
            s = summary[m]
            label = "normal dose" if m == "normal" else names[m]
            print(f"| {label} | {s.get('hu_bias_uniform', float('nan')):+.2f} | {s.get('noise_uniform', float('nan')):.1f} | "
                  f"{s.get('nps_fmean', float('nan')):.3f} | {s.get('nps_fmean', float('nan')) / ref_f:.2f} |")
    # By noise level of the low-dose input (σ of low − normal in soft tissue).
    print()
    if args.estimated:
        ratio = [r["sigma_estimated"] / r["sigma_low"] for r in rows]
        print(f"estimate_sigma / true σ: median {np.median(ratio):.2f}, range {min(ratio):.2f}–{max(ratio):.2f}")
        print()
    print("| input noise σ (HU) | slices | PSNR low / RED-CNN / BM3D (dB) | SSIM low / RED-CNN / BM3D | HU shift RED-CNN / BM3D |"
          + (" PSNR / SSIM BM3D, estimated σ |" if args.estimated else ""))
    print("|---|---|---|---|---|" + ("---|" if args.estimated else ""))
    for lo, hi in ((0, 10), (10, 20), (20, 35), (35, 1e9)):
        band = [r for r in rows if lo <= r["sigma_low"] < hi]
        if not band:
            continue
        m = lambda method, key: float(np.mean([r[method][key] for r in band])) if method in band[0] else float("nan")
        label = f"{lo}–{hi:.0f}" if hi < 1e9 else f"≥ {lo}"
        print(f"| {label} | {len(band)} | {m('low','psnr'):.2f} / {m('redcnn','psnr'):.2f} / {m('bm3d','psnr'):.2f} | "
              f"{m('low','ssim'):.4f} / {m('redcnn','ssim'):.4f} / {m('bm3d','ssim'):.4f} | {m('redcnn','hu_shift'):+.2f} / {m('bm3d','hu_shift'):+.2f} |"
              + (f" {m('bm3d_estimated','psnr'):.2f} / {m('bm3d_estimated','ssim'):.4f} |" if args.estimated else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "slices": rows}, f, indent=1)


if __name__ == "__main__":
    main()
