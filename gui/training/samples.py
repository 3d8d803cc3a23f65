"""Validation images in the results view: a grid of up to 16 images with their
predicted and true labels (wrong ones in red), and the image-to-``QImage`` conversion it uses.

numpy only, never torch.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QSizePolicy,
    QToolTip,
    QWidget,
)

from torchcanvas.gui import theme


def image_to_qimage(image: np.ndarray) -> QImage:
    """[C, H, W] (C 1 or 3), any value range, normalised to 0..255 per image."""
    img = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(img)
    lo, hi = (float(img[finite].min()), float(img[finite].max())) if finite.any() else (0, 0)
    img = np.where(finite, img, lo)  # NaN and inf show as the darkest value
    img = (img - lo) * (255.0 / (hi - lo)) if hi - lo > 1e-12 else np.zeros_like(img)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    c, h, w = img.shape
    if c == 1:
        data = np.ascontiguousarray(img[0])
        return QImage(data.tobytes(), w, h, w, QImage.Format.Format_Grayscale8).copy()
    data = np.ascontiguousarray(img.transpose(1, 2, 0))
    return QImage(data.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()


# ---------------------------------------------------------------------------- optimised image
class ImageResult(QWidget):
    """An image being optimised (style transfer), drawn as large as fits, pixels kept sharp
    when enlarged, with a caption under it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._array = np.zeros((0, 0, 3), dtype=np.uint8)
        self.caption = ""
        self.setMinimumSize(120, 120)

    def set_image(self, pixels: np.ndarray, caption: str) -> None:
        """``pixels``: uint8 [H, W, 3] (or any range, scaled like the sample tiles)."""
        array = np.asarray(pixels)
        self._array = array
        if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
            h, w = array.shape[:2]
            data = np.ascontiguousarray(array)
            self._image = QImage(data.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        else:
            self._image = image_to_qimage(array.transpose(2, 0, 1))
        self.caption = caption
        self.update()

    def pixels(self) -> np.ndarray:
        return self._array

    def image_rect(self) -> QRectF:
        """Where the picture is drawn: centred, scaled to fit above the caption."""
        if self._image is None or self._image.isNull():
            return QRectF()
        fh = QFontMetrics(self.font()).height()
        room_w, room_h = self.width() - 16, self.height() - fh - 20
        w, h = self._image.width(), self._image.height()
        scale = max(min(room_w / w, room_h / h), 0.05)
        if scale >= 1:  # whole multiples keep the pixels even
            scale = math.floor(scale)
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2, 8 + (room_h - dh) / 2, dw, dh)

    def paintEvent(self, event) -> None:
        if self._image is None:
            return
        painter = QPainter(self)
        rect = self.image_rect()
        painter.setRenderHint(
            QPainter.RenderHint.SmoothPixmapTransform, rect.width() < self._image.width()
        )
        painter.drawImage(rect, self._image)
        painter.setPen(self.palette().text().color())
        painter.drawText(
            QRectF(0, rect.bottom() + 6, self.width(), QFontMetrics(self.font()).height() + 4),
            int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
            self.caption,
        )
        painter.end()


# ---------------------------------------------------------------------------- sample grid
class SampleGrid(QWidget):
    """Up to 16 validation images with "pred: X / true: Y" captions; wrong ones in red."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._images: list[QImage] = []
        self._captions: list[tuple[str, str]] = []  # (predicted, true)
        self._wrong: list[bool] = []

    def set_samples(
        self, images: list[QImage], captions: list[tuple[str, str]], wrong: list[bool]
    ) -> None:
        self._images, self._captions, self._wrong = images, captions, wrong
        self.updateGeometry()
        self.update()

    def count(self) -> int:
        return len(self._images)

    def captions(self) -> list[str]:
        return [f"pred: {p} / true: {t}" for p, t in self._captions]

    def wrong(self) -> list[bool]:
        return list(self._wrong)

    def _font(self) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(11)
        return font

    def _caption_font(self, bold: bool) -> QFont:
        font = self._font()
        font.setBold(bold)
        return font

    def sizeHint(self) -> QSize:
        n = len(self._images)
        cols = max(1, min(4, n))
        rows = max(1, math.ceil(n / cols))
        return QSize(cols * 104 + 8, rows * 124 + 8)

    def minimumSizeHint(self) -> QSize:
        fh = QFontMetrics(self._font()).height()
        return QSize(4 * 40 + 8, 2 * (24 + 2 * fh) + 8)

    @staticmethod
    def caption_lines(pred: str, true: str, style: str) -> list[str]:
        if style == "one":
            return [f"pred: {pred} / true: {true}"]
        if style == "two":
            return [f"pred: {pred}", f"true: {true}"]
        return [f"{pred} / {true}"]  # compact: predicted / true, the tooltip says which

    def _tiles(self):
        """(image rect, caption rect) per tile, and the caption style: "one" line, "two" lines
        or "compact" ("3 / 5").

        Tries every column count and keeps the one giving the largest images, whole captions
        preferred: a tall box gets 4 × 4, a wide one 8 × 2."""
        n = len(self._images)
        if not n:
            return [], "one"
        fm = QFontMetrics(self._caption_font(True))  # bold (wrong) is the widest
        fh = fm.height()
        pad = 6
        need = {
            style: max(
                fm.horizontalAdvance(line)
                for p, t in self._captions
                for line in self.caption_lines(p, t, style)
            )
            for style in ("one", "two", "compact")
        }
        best = None
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            tile_w = (self.width() - pad * (cols + 1)) / cols
            style, worth = next(
                (
                    (s, w)
                    for s, w in (("one", 1.0), ("two", 1.0), ("compact", 0.9))
                    if need[s] <= tile_w
                ),
                ("two", 0.6),
            )  # else elided
            cap_h = fh * (2 if style == "two" else 1) + 2
            side = min(tile_w, (self.height() - pad * (rows + 1)) / rows - cap_h - 2)
            if best is None or side * worth > best[0] + 0.5:
                best = (side * worth, (side, cols, tile_w, style, cap_h))
        side, cols, tile_w, style, cap_h = best[1]
        side = max(8.0, side)
        col_w = min(tile_w, max(side, need[style]) + pad)
        x_start = (self.width() - cols * col_w - (cols - 1) * pad) / 2
        rects = []
        for idx in range(n):
            r, c = divmod(idx, cols)
            x = x_start + c * (col_w + pad)
            y = pad + r * (side + 2 + cap_h + pad)
            img = self._images[idx]
            aspect = img.width() / max(1, img.height())
            iw, ih = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
            rects.append(
                (
                    QRectF(x + (col_w - iw) / 2, y + (side - ih) / 2, iw, ih),
                    QRectF(x, y + side + 2, col_w, cap_h),
                )
            )
        return rects, style

    def paintEvent(self, event) -> None:
        if not self._images:
            return
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        pal = self.palette()
        text = pal.color(pal.ColorRole.WindowText)
        red = theme.current().error
        rects, style = self._tiles()
        for idx, (img_rect, cap_rect) in enumerate(rects):
            image = self._images[idx]
            # enlarge small images pixel by pixel; shrink large ones smoothly
            painter.setRenderHint(
                QPainter.RenderHint.SmoothPixmapTransform, img_rect.width() < image.width()
            )
            painter.drawImage(img_rect, image)
            wrong = self._wrong[idx] if idx < len(self._wrong) else False
            painter.setBrush(Qt.BrushStyle.NoBrush)
            if wrong:
                painter.setPen(QPen(red, 2))
                painter.drawRect(img_rect.adjusted(-1, -1, 1, 1))
            else:
                painter.setPen(QPen(pal.color(pal.ColorRole.Mid), 1))
                painter.drawRect(img_rect.adjusted(-0.5, -0.5, 0.5, 0.5))
            font = self._caption_font(wrong)
            fm = QFontMetrics(font)
            painter.setFont(font)
            painter.setPen(red if wrong else text)
            pred, true = self._captions[idx]
            width = int(cap_rect.width())
            for li, line in enumerate(self.caption_lines(pred, true, style)):
                shown = fm.elidedText(line, Qt.TextElideMode.ElideRight, width)
                painter.drawText(
                    QRectF(
                        cap_rect.x(), cap_rect.y() + li * fm.height(), cap_rect.width(), fm.height()
                    ),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                    shown,
                )

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            rects, _ = self._tiles()
            pos = QPointF(event.pos())
            for idx, (img_rect, cap_rect) in enumerate(rects):
                if img_rect.united(cap_rect).contains(pos):
                    tip = self.captions()[idx] + ("  (wrong)" if self._wrong[idx] else "")
                    QToolTip.showText(event.globalPos(), tip, self)
                    return True
            QToolTip.hideText()
            event.ignore()
            return True
        return super().event(event)
