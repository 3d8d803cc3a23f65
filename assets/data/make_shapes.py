"""Writes assets/data/shapes: 3 classes x 30 RGB PNGs of 32x32 (circle, square, triangle).

Each shape has a random size, place and colour; a class leans to one colour channel (circles
red, squares green, triangles blue), so a small head learns it in a few epochs.
Run: python assets/data/make_shapes.py assets/data/shapes
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

root = Path(sys.argv[1])
rng = np.random.default_rng(7)
for ci, cls in enumerate(("circle", "square", "triangle")):
    (root / cls).mkdir(parents=True, exist_ok=True)
    for i in range(30):
        bg = tuple(int(v) for v in rng.integers(0, 90, 3))
        fg = rng.integers(60, 200, 3)
        fg[ci] = rng.integers(200, 256)
        fg = tuple(int(v) for v in fg)
        img = Image.new("RGB", (32, 32), bg)
        d = ImageDraw.Draw(img)
        r = int(rng.integers(7, 13))
        cx, cy = (int(v) for v in rng.integers(r + 1, 32 - r - 1, 2))
        if cls == "circle":
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fg)
        elif cls == "square":
            d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fg)
        else:
            d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
        img.save(root / cls / f"{cls}{i:02d}.png", optimize=True)
