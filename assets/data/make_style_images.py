"""Draw the two bundled style-transfer samples (style_content.png, style_style.png).

Run from anywhere: ``python assets/data/make_style_images.py``. Seeded and deterministic; needs
only numpy and Pillow. The content is a simple scene (sky gradient, sun, hills, a house); the
style is a field of short coloured brush strokes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 128
HERE = Path(__file__).resolve().parent


def content() -> Image.Image:
    y = np.linspace(0.0, 1.0, SIZE)[:, None, None]
    sky = (1 - y) * np.array([70, 130, 210]) + y * np.array([200, 225, 250])
    image = Image.fromarray(np.broadcast_to(sky, (SIZE, SIZE, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((86, 14, 114, 42), fill=(255, 214, 60))
    draw.polygon([(0, 92), (40, 70), (80, 88), (128, 66), (128, 128), (0, 128)], fill=(60, 140, 70))
    draw.rectangle((30, 72, 66, 104), fill=(190, 80, 60))
    draw.polygon([(26, 74), (48, 52), (70, 74)], fill=(110, 50, 40))
    draw.rectangle((44, 88, 54, 104), fill=(70, 45, 30))
    return image


def style() -> Image.Image:
    rng = np.random.default_rng(7)
    image = Image.new("RGB", (SIZE, SIZE), (30, 30, 60))
    draw = ImageDraw.Draw(image)
    palette = [(240, 190, 40), (220, 70, 50), (40, 120, 200), (250, 240, 220), (30, 160, 140)]
    for _ in range(260):
        x, y = rng.uniform(-8, SIZE + 8, 2)
        angle = rng.normal(0.6, 0.35)
        length = rng.uniform(8, 22)
        dx, dy = np.cos(angle) * length, np.sin(angle) * length
        colour = palette[rng.integers(len(palette))]
        draw.line((x, y, x + dx, y + dy), fill=colour, width=int(rng.integers(2, 5)))
    return image


if __name__ == "__main__":
    content().save(HERE / "style_content.png", optimize=True)
    style().save(HERE / "style_style.png", optimize=True)
