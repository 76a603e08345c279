"""Render the app icon PNGs (and the Windows .ico / macOS .icns) from resources/icons/triage-sync.svg.

Run after editing the SVG, then commit the outputs:

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/render_icons.py

Uses PySide6 QtSvg only (no Pillow). The .ico and .icns files simply embed the rendered PNGs,
which every supported Windows and macOS version reads.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICONS_DIR = ROOT / "resources" / "icons"
SOURCE_SVG = ICONS_DIR / "triage-sync.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# icns element types that hold PNG data, by pixel size.
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}


def png_path(size: int, icons_dir: Path = ICONS_DIR) -> Path:
    return icons_dir / f"triage-sync-{size}.png"


def render_png(svg: Path, size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot parse {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise SystemExit(f"cannot encode the {size} px PNG")
    buffer.close()
    return bytes(data.data())


def build_ico(pngs: dict[int, bytes]) -> bytes:
    """ICO container with PNG-compressed entries (a 256 px entry is written as width/height 0)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, blobs = b"", b""
    for size in sizes:
        blob = pngs[size]
        dim = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset)
        blobs += blob
        offset += len(blob)
    return header + entries + blobs


def build_icns(pngs: dict[int, bytes]) -> bytes:
    body = b"".join(
        ICNS_TYPES[size] + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for size in sorted(pngs)
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=SOURCE_SVG)
    parser.add_argument("--out", type=Path, default=ICONS_DIR, help="output folder")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    args.out.mkdir(parents=True, exist_ok=True)
    pngs = {size: render_png(args.svg, size) for size in PNG_SIZES}
    for size, blob in pngs.items():
        png_path(size, args.out).write_bytes(blob)
    (args.out / "triage-sync.ico").write_bytes(build_ico({s: pngs[s] for s in ICO_SIZES}))
    (args.out / "triage-sync.icns").write_bytes(build_icns({s: pngs[s] for s in ICNS_TYPES}))
    print(f"rendered {len(pngs)} PNGs, triage-sync.ico and triage-sync.icns into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
