#!/usr/bin/env python3
"""Side-by-side crops for the model card: normal dose | low dose | RED-CNN | BM3D (true σ).

Three rows: the quietest, the median and the noisiest slice of the evaluation (by input σ);
a 192×192 crop around the centre of the soft tissue, soft-tissue window (W 400, L 40), 2× nearest-neighbour
zoom, labels drawn with Pillow's default font. Reads the same folders as compare_bm3d.py and the
BM3D cache it filled.

Usage: crops.py NORMAL_DIR LOW_DIR RESTORED_DIR BM3D_CACHE OUT.png [--size PIXELS]
"""
import argparse
import sys

import numpy as np
from PIL import Image, ImageDraw

from compare_bm3d import read_series


def window(hu, level=40.0, width=400.0):
    lo = level - width / 2
    return (np.clip((hu - lo) / width, 0, 1) * 255).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("normal")
    ap.add_argument("low")
    ap.add_argument("restored")
    ap.add_argument("cache")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=192)
    args = ap.parse_args()
    normal, low, restored = read_series(args.normal), read_series(args.low), read_series(args.restored)
    by_source = {src: hu for hu, src in restored.values() if src}
    rows = []
    for uid, (low_hu, src) in sorted(low.items()):
        if src not in normal or uid not in by_source:
            continue
        ref = normal[src][0]
        tissue = (ref > -60) & (ref < 160)
        rows.append((float(np.std((low_hu - ref)[tissue])), uid, low_hu, ref, by_source[uid]))
    if not rows:
        sys.exit("no paired slices")
    rows.sort(key=lambda r: r[0])
    chosen = [rows[0], rows[len(rows) // 2], rows[-1]]
    s, zoom, label_h = args.size, 2, 18
    tile = s * zoom
    names = ["normal dose", "low dose", "RED-CNN", "BM3D (true sigma)"]
    sheet = Image.new("L", (4 * tile, len(chosen) * (tile + label_h)), 0)
    draw = ImageDraw.Draw(sheet)
    for i, (sigma, uid, low_hu, ref, red) in enumerate(chosen):
        bm = np.load(f"{args.cache}/{uid}.npy")
        c = min(s, *ref.shape)  # a slice smaller than the crop is shown whole, scaled to the tile
        centre = np.argwhere((ref > -60) & (ref < 160))  # centred on the soft tissue
        cy, cx = centre.mean(axis=0).astype(int) if len(centre) else (ref.shape[0] // 2, ref.shape[1] // 2)
        y0 = int(np.clip(cy - c // 2, 0, ref.shape[0] - c))
        x0 = int(np.clip(cx - c // 2, 0, ref.shape[1] - c))
        y = i * (tile + label_h)
        for j, img in enumerate([ref, low_hu, red, bm]):
            crop = window(img[y0:y0 + c, x0:x0 + c])
            sheet.paste(Image.fromarray(crop).resize((tile, tile), Image.NEAREST), (j * tile, y + label_h))
            text = names[j] + (f", sigma {sigma:.0f} HU" if j == 1 else "")
            draw.text((j * tile + 4, y + 3), text, fill=255)
    sheet.save(args.out, optimize=True)
    print(f"{args.out}: {len(chosen)} rows (input σ {', '.join(f'{r[0]:.1f}' for r in chosen)} HU)")


if __name__ == "__main__":
    main()
