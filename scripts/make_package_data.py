"""Regenerate the package data derived from the full Fashion-MNIST training set.

- ``src/sgdlab/data/pixel_stats.json``: per-pixel mean and std of the 60,000 training images;
- ``src/sgdlab/data/sample/``: a stratified sample, 100 images per class from each split
  (1,000 train + 1,000 test), as IDX .gz files, with a manifest of decompressed SHA-256s.

Run: ``python scripts/make_package_data.py [DATA_DIR]`` (default: Debian's directory).
"""

import gzip
import json
import sys
from pathlib import Path

import numpy as np

from sgdlab import paths
from sgdlab.data import fashion as data
from sgdlab.data.idx import sha256

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "sgdlab" / "data"


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from idx_files import idx_bytes  # the IDX writer the tests use (uint8, as upstream)

    ds = data.load(sys.argv[1] if len(sys.argv) > 1 else paths.system_data_dir(), download=False)
    x = ds.train_images.reshape(-1, 784).numpy().astype(np.float64) / 255.0
    stats = {
        "about": "per-pixel mean and std of the 60,000 Fashion-MNIST training images in [0,1]",
        "train_images_sha256": data.FILES["train"]["images"][1],
        "mean": [round(float(v), 8) for v in x.mean(0)],
        "std": [round(float(v), 8) for v in x.std(0)],
    }
    (PKG / "pixel_stats.json").write_text(json.dumps(stats))
    rng = np.random.default_rng(20261124)
    manifest = {"seed": 20261124, "per_class": 100, "sha256": {}, "indices": {}}
    for split in data.SPLITS:
        images, labels = (t.numpy() for t in ds.split(split))
        idx = np.sort(
            np.concatenate(
                [rng.choice(np.flatnonzero(labels == c), 100, replace=False) for c in range(10)]
            )
        )
        manifest["indices"][split] = idx.tolist()
        for kind, arr in (("images", images[idx]), ("labels", labels[idx])):
            stem = data.FILES[split][kind][0]
            raw = idx_bytes(arr)
            manifest["sha256"][stem] = sha256(raw)
            with gzip.GzipFile(PKG / "sample" / f"{stem}.gz", "wb", mtime=0) as f:
                f.write(raw)
    (PKG / "sample" / "manifest.json").write_text(json.dumps(manifest))


if __name__ == "__main__":
    main()
