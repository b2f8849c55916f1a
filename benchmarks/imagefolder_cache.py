"""What the decoded-image cache saves: loading an LC25000-shaped tree twice, side by side.

(1) first load: every 768 px JPEG decoded with Pillow, resized (antialiased) to 224 px,
    split, and the uint8 result written to the tree's cache
(2) second load: the same call, read from the cache

python benchmarks/imagefolder_cache.py               # 5 classes x 40 images
python benchmarks/imagefolder_cache.py --per-class 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from al4ml.data import create_dataset
from al4ml.data.imagefolder import write_synthetic_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree = write_synthetic_tree(Path(tmp) / "lc25000", per_class=args.per_class)
        times = []
        for _ in range(2):
            start = time.perf_counter()
            ds = create_dataset("imagefolder", tree, size=args.size, split=[0.7, 0.15, 0.15])
            times.append(time.perf_counter() - start)
        n = ds.pool_size + len(ds.val.labels) + len(ds.test.labels)
        print(
            f"{n} images of 768 px -> {args.size} px: first load {times[0]:.2f} s "
            f"({n / times[0]:.0f} img/s), cached {times[1]:.3f} s; "
            f"the cache is {times[0] / times[1]:.0f}x faster"
        )


if __name__ == "__main__":
    main()
