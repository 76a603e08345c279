#!/usr/bin/env bash
# Install the desktop entry, AppStream metadata and icons for the current user (no root needed).
#
#   packaging/install-desktop.sh              # from a checkout: the entry runs `triage-sync` from PATH
#   /opt/triage-sync/install-desktop.sh       # from a bundle: the entry runs this bundle, and
#                                             # ~/.local/bin/triage-sync links to it (CLI, systemd unit)
#   ... --uninstall                           # remove them again
#
# Files go under ${XDG_DATA_HOME:-~/.local/share}; the link under ${XDG_BIN_HOME:-~/.local/bin}.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
BIN_DIR="${XDG_BIN_HOME:-$HOME/.local/bin}"
APP_ID="com.example.TriageSync"
LINKED=""
SIZES="16 24 32 48 64 128 256 512"

if [ -x "$HERE/triage-sync" ] && [ -d "$HERE/_internal" ]; then
  # Inside a PyInstaller bundle (the spec copies this script next to the executable).
  EXE="$HERE/triage-sync"
  DESKTOP_SRC="$HERE/_internal/share/applications/$APP_ID.desktop"
  METAINFO_SRC="$HERE/_internal/share/metainfo/$APP_ID.metainfo.xml"
  ICONS="$HERE/_internal/resources/icons"
  # Characters a desktop entry's Exec (or sed below) would need escaped; % starts a field code (%f).
  case "$EXE" in
    *[\"\`\$\\\&\|%]*) echo "move the bundle to a path without \" \` \$ \\ & | %: $EXE" >&2; exit 2 ;;
  esac
else
  EXE=""
  DESKTOP_SRC="$HERE/$APP_ID.desktop"
  METAINFO_SRC="$HERE/$APP_ID.metainfo.xml"
  ICONS="$HERE/../resources/icons"
fi

targets() {
  echo "$DATA/applications/$APP_ID.desktop"
  echo "$DATA/metainfo/$APP_ID.metainfo.xml"
  echo "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
  for s in $SIZES; do echo "$DATA/icons/hicolor/${s}x${s}/apps/$APP_ID.png"; done
}

if [ "${1:-}" = "--uninstall" ]; then
  targets | while read -r f; do rm -f "$f"; done
  # Only our own link: never a triage-sync installed some other way.
  if [ -n "$EXE" ] && [ -L "$BIN_DIR/triage-sync" ] && [ "$(readlink "$BIN_DIR/triage-sync")" = "$EXE" ]; then
    rm -f "$BIN_DIR/triage-sync"
  fi
else
  if [ -n "$EXE" ]; then
    # Run this bundle by absolute path: a menu launcher's PATH may not include ~/.local/bin.
    entry="$(mktemp)"
    trap 'rm -f "$entry"' EXIT
    sed -e "s|^Exec=triage-sync|Exec=\"$EXE\"|" -e "s|^TryExec=triage-sync\$|TryExec=$EXE|" \
      "$DESKTOP_SRC" >"$entry"
    install -D -m 644 "$entry" "$DATA/applications/$APP_ID.desktop"
    mkdir -p "$BIN_DIR"
    link="$BIN_DIR/triage-sync"
    if [ -e "$link" ] || [ -L "$link" ]; then
      if [ -L "$link" ] && [ "$(readlink "$link")" = "$EXE" ]; then
        : # our own link already
      else
        # Installed some other way (pip, another bundle, a script): never replace it silently.
        echo "$link exists and is not a link to this bundle: not replaced (remove it and run this" \
          "again to use the bundle from the command line and the systemd unit)" >&2
        link=""
      fi
    fi
    if [ -n "$link" ]; then ln -sfn "$EXE" "$link"; LINKED="$link"; fi
  else
    install -D -m 644 "$DESKTOP_SRC" "$DATA/applications/$APP_ID.desktop"
  fi
  install -D -m 644 "$METAINFO_SRC" "$DATA/metainfo/$APP_ID.metainfo.xml"
  install -D -m 644 "$ICONS/triage-sync.svg" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
  for s in $SIZES; do
    install -D -m 644 "$ICONS/triage-sync-$s.png" "$DATA/icons/hicolor/${s}x${s}/apps/$APP_ID.png"
  done
fi
# Refresh caches when the tools exist (they do not on minimal systems; desktops rescan anyway).
if command -v update-desktop-database >/dev/null; then update-desktop-database -q "$DATA/applications" || true; fi
if command -v gtk-update-icon-cache >/dev/null; then gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true; fi
echo "${1:-install}: $(targets | wc -l) files under $DATA${LINKED:+, link $LINKED -> $EXE}"
