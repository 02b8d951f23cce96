#!/usr/bin/env python3
"""Copies the real CT slices that pydicom and pydicom-data ship into one folder per slice, as the
evaluation's "real CT it has never seen" (the default model was trained on synthetic phantoms only).

  693_UNCR.dcm               head, 140 kV, 170 mA, STANDARD kernel, 0.48 mm pixels
  J2K_pixelrep_mismatch.dcm  head, Hitachi Supria, 120 kV, 230 mA, 0.43 mm (JPEG 2000)
  bad_sequence.dcm           neck, Siemens SOMATOM Definition AS+, B30s, 120 kV, 442 mA, 0.29 mm (JPEG lossless)
  explicit_VR-UN.dcm         abdomen (pancreas CT), 0.86 mm, JPEG 2000, every attribute stored as UN
  CT_small.dcm               GE, 120 kV, 170 mA, 128×128 at 0.66 mm

Requirements: /opt/ldct-ref/bin/pip install pydicom pydicom-data
Usage: real_ct.py OUT_DIR
"""
import os
import shutil
import sys

from pydicom.data import get_testdata_file

NAMES = ["693_UNCR.dcm", "J2K_pixelrep_mismatch.dcm", "bad_sequence.dcm", "explicit_VR-UN.dcm", "CT_small.dcm"]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    for name in NAMES:
        path = get_testdata_file(name)
        if not path:
            sys.exit(f"{name} not found: install pydicom-data into the same environment")
        folder = os.path.join(out, os.path.splitext(name)[0])
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(path, os.path.join(folder, name))
        print(f"{name} → {folder}")


if __name__ == "__main__":
    main()
