#!/usr/bin/env python3
"""Where SSIM is lost: the deficit 1 - SSIM (the evaluation's SSIM map: HU clipped to [-160, 240], data
range 400, Gaussian window σ 1.5) summed over four regions of each slice, as a share of all pixels, for
the low-dose input, the exact anatomy (the reference minus a model of its own noise, as ceiling.py
makes it with the measured k) and each restored series given.

Regions (from the reference): "lung/air border", pixels within 3 px of the -160 HU window edge; "bone
border", within 3 px of > 240 HU (not already a lung/air border); "soft tissue", the rest of the
window; "outside", everything clipped away (air, lung, bone interiors).
A second table splits SSIM in soft tissue into its two factors (their product is the SSIM map):
luminance (2 μx μy + C1) / (μx² + μy² + C1), steep where local means are near 0 HU because the
evaluation scores HU as they are, and contrast-structure (2 σxy + C2) / (σx² + σy² + C2).
The SSIM column is the map's mean over the whole slice; scikit-image's score (compare_bm3d.py) leaves
out a 5-pixel border, so it differs from the evaluation's by a few thousandths.

Usage: ssim_regions.py NORMAL_DIR LOW_DIR LOW2_DIR DOSE RESTORED_DIR...
  (LOW2_DIR: the second realisation scripts/eval/ceiling made; RESTORED_DIR: `ldct restore` outputs of LOW_DIR)
"""
import os
import sys

import numpy as np
from scipy import ndimage as ndi
from skimage.metrics import structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ceiling import clip, flat_tissue, high_pass  # noqa: E402
from compare_bm3d import read_series  # noqa: E402


def ssim_map(ref, x):
    return structural_similarity(clip(ref), clip(x), data_range=400, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, full=True)[1]


def factors(ref, x):
    """Luminance and contrast-structure maps, with scikit-image's window and constants."""
    a, b = clip(ref), clip(x)
    blur = lambda v: ndi.gaussian_filter(v, 1.5, truncate=3.5)  # noqa: E731
    ma, mb = blur(a), blur(b)
    va, vb, cab = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    c1, c2 = (0.01 * 400) ** 2, (0.03 * 400) ** 2
    return (2 * ma * mb + c1) / (ma * ma + mb * mb + c1), (2 * cab + c2) / (va + vb + c2)


def regions(ref):
    inside = ndi.gaussian_filter(ref, 1) > -160
    border = ndi.binary_dilation(inside, iterations=3) & ~ndi.binary_erosion(inside, iterations=3)
    bone = ndi.binary_dilation(ndi.gaussian_filter(ref, 1) > 240, iterations=3) & ~border
    soft = inside & ~border & ~bone
    return {"lung/air border": border, "bone border": bone, "soft tissue": soft, "outside": ~(border | bone | soft)}


def main():
    normal_dir, low_dir, low2_dir, dose = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    restored_dirs = sys.argv[5:]
    normal = {uid: hu for uid, (hu, _) in read_series(normal_dir).items()}
    low_series = read_series(low_dir)
    low = {src: hu for _, (hu, src) in low_series.items() if src}
    low2 = {src: hu for _, (hu, src) in read_series(low2_dir).items() if src}
    to_normal = {uid: src for uid, (_, src) in low_series.items()}
    restored = [{to_normal.get(src): hu for _, (hu, src) in read_series(d).items() if src} for d in restored_dirs]
    names = ["low-dose input", "exact anatomy"] + [os.path.basename(d.rstrip("/")) for d in restored_dirs]
    if len(set(names)) < len(names):   # same folder names under different parents: name them by the last two parts
        names = names[:2] + ["/".join(d.rstrip("/").split("/")[-2:]) for d in restored_dirs]
    if len(set(names)) < len(names):
        sys.exit("the same restored folder is given twice")
    deficit, size, total = {}, {}, 0
    luminance, structure = {}, {}
    k_nominal = np.sqrt(dose / (1 - dose))
    for src in sorted(low):
        if src not in normal or src not in low2 or any(src not in r for r in restored):
            continue
        ref = normal[src]
        second = low2[src] - ref
        flat = flat_tissue(ref)
        k = float(np.std(high_pass(ref)[flat]) / np.std(high_pass(second)[flat])) if flat.sum() >= 1000 else k_nominal
        images = [low[src], ref - second * min(k, k_nominal)] + [r[src] for r in restored]
        parts = regions(ref)
        total += ref.size
        for name, image in zip(names, images):
            loss = 1 - ssim_map(ref, image)
            lum, cs = factors(ref, image)
            soft = parts["soft tissue"]
            luminance[name] = luminance.get(name, 0.0) + float(lum[soft].sum())
            structure[name] = structure.get(name, 0.0) + float(cs[soft].sum())
            for region, mask in parts.items():
                deficit[(name, region)] = deficit.get((name, region), 0.0) + float(loss[mask].sum())
                size[region] = size.get(region, 0) + (int(mask.sum()) if name == names[0] else 0)
    if not total:
        sys.exit("no slice pairs across all series (Source Image Sequence)")
    print(f"| image | " + " | ".join(f"{r} ({size[r] / total:.1%} of pixels): deficit share / mean SSIM there" for r in size) + " | SSIM |")
    print("|---|" + "---|" * (len(size) + 1))
    for name in names:
        cells = [f"{deficit[(name, r)] / total:.4f} / {1 - deficit[(name, r)] / max(size[r], 1):.4f}" for r in size]
        print(f"| {name} | " + " | ".join(cells) + f" | {1 - sum(deficit[(name, r)] for r in size) / total:.4f} |")
    print("\n| image | soft tissue: luminance | contrast-structure |\n|---|---|---|")
    for name in names:
        n = size["soft tissue"]
        print(f"| {name} | {luminance[name] / n:.4f} | {structure[name] / n:.4f} |")


if __name__ == "__main__":
    main()
