#!/usr/bin/env bash
# Install the desktop entry, AppStream metadata and icons for the current user (no root needed).
#
#   packaging/install-desktop.sh              # into ~/.local/share (XDG_DATA_HOME)
#   packaging/install-desktop.sh --uninstall  # remove them again
#
# The entry runs `triage-sync`, which must be on PATH (pip install --user / pipx, or a symlink to
# the bundle: ln -s "$PWD/dist/triage-sync/triage-sync" ~/.local/bin/triage-sync).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
APP_ID="com.example.TriageSync"
SIZES="16 24 32 48 64 128 256 512"

targets() {
  echo "$DATA/applications/$APP_ID.desktop"
  echo "$DATA/metainfo/$APP_ID.metainfo.xml"
  echo "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
  for s in $SIZES; do echo "$DATA/icons/hicolor/${s}x${s}/apps/$APP_ID.png"; done
}

if [ "${1:-}" = "--uninstall" ]; then
  targets | while read -r f; do rm -f "$f"; done
else
  install -D -m 644 "$ROOT/packaging/$APP_ID.desktop" "$DATA/applications/$APP_ID.desktop"
  install -D -m 644 "$ROOT/packaging/$APP_ID.metainfo.xml" "$DATA/metainfo/$APP_ID.metainfo.xml"
  install -D -m 644 "$ROOT/resources/icons/triage-sync.svg" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
  for s in $SIZES; do
    install -D -m 644 "$ROOT/resources/icons/triage-sync-$s.png" "$DATA/icons/hicolor/${s}x${s}/apps/$APP_ID.png"
  done
fi
# Refresh caches when the tools exist (they do not on minimal systems; desktops rescan anyway).
command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
echo "${1:-install}: $(targets | wc -l) files under $DATA"
