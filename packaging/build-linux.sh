#!/usr/bin/env bash
# Build the Linux one-folder bundle (dist/triage-sync/) and smoke-test it headless.
#
#   packaging/build-linux.sh            # from anywhere; PYTHON=python3.12 to pick the interpreter
#
# A throwaway venv under build/ gets the hashed lock (requirements.lock) and the project
# (`pip install --no-deps .`); nothing from the developer venv leaks into the bundle, and PyInstaller
# bundles only what app/ imports.
# Exits non-zero when the build or any smoke check fails (--version, config check, and the bundle
# self-test of packaging/bundle_selftest.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="build/bundle-venv"
BUNDLE="dist/triage-sync"
BIN="$BUNDLE/triage-sync"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

start=$(date +%s)
step "fresh build venv: $VENV ($("$PYTHON" --version))"
rm -rf "$VENV" build/pyinstaller "$BUNDLE"
"$PYTHON" -m venv "$VENV"
# Exact versions with hashes (requirements.lock, README "Dependencies"), then the project alone.
"$VENV/bin/python" -m pip install -q --require-hashes -r requirements.lock
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation .

step "reference self-test from source (build/selftest-reference.json)"
# What the checkout's app/ (the code the spec bundles) can import and use on the build venv's
# dependencies, in the same clean environment as the bundle below. Taken before the build, so that
# a file added to app/ meanwhile cannot count as "missing from the bundle".
reference="build/selftest-reference.json"
rm -rf build/selftest-home && mkdir -p build/selftest-home
env -i PATH=/usr/bin:/bin HOME="$ROOT/build/selftest-home" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen PYTHONPATH="$ROOT" \
  "$VENV/bin/python" packaging/bundle_selftest.py --out "$reference" || fail "the self-test could not run from source"

step "pyinstaller packaging/triage-sync.spec"
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/triage-sync.spec

step "smoke tests (headless, isolated HOME)"
[ -x "$BIN" ] || fail "$BIN was not built"
smoke_home="$(mktemp -d)"
trap 'rm -rf "$smoke_home"' EXIT
run() {
  # No display, no developer environment: only what the bundle carries.
  env -i PATH=/usr/bin:/bin HOME="$smoke_home" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen "$@"
}

expected="triage-sync $("$VENV/bin/python" -c 'import app; print(app.__version__)')"
printf '$ %s --version\n' "$BIN"
version="$(run "$BIN" --version)" || fail "--version exited non-zero"
echo "$version"
[ "$version" = "$expected" ] || fail "--version printed '$version', expected '$expected'"

# --config is an option of the top-level parser (app/cli.py), so it goes before the subcommand.
printf '$ %s --config resources/default-config.toml config check\n' "$BIN"
run "$BIN" --config resources/default-config.toml config check >"$smoke_home/check.out" ||
  { cat "$smoke_home/check.out"; fail "config check of the shipped default failed"; }
echo "$(head -n 1 "$smoke_home/check.out")  (+ $(($(wc -l <"$smoke_home/check.out") - 1)) lines of masked config)"
# Without --config: no user file in the empty HOME, so this validates the defaults the bundle
# itself ships (sys._MEIPASS/resources/default-config.toml).
printf '$ %s config check   (bundled defaults only)\n' "$BIN"
run "$BIN" config check >/dev/null || fail "config check with the bundled defaults failed"

# Everything the source can import and use, the bundle must too: every app module (lazily imported
# UI pages, engine, simulators), keyring backends, uvicorn's string-named modules, the Alembic
# migrations, TLS and the Qt plugins for offscreen rendering and the SVG icon, compared with the
# reference report taken from source before the build (packaging/bundle_selftest.py).
printf '$ TRIAGE_SYNC_SELF_TEST=... %s   (bundle self-test against the source)\n' "$BIN"
[ -s "$reference" ] || fail "no reference report from source"
run TRIAGE_SYNC_SELF_TEST="$smoke_home/frozen.json" "$BIN" || fail "the bundle self-test crashed"
"$VENV/bin/python" packaging/bundle_selftest.py --compare "$reference" "$smoke_home/frozen.json" ||
  fail "the bundle lacks modules, plugins or data the app needs (see above)"

# The bundled copies, not the checkout's, must be what the frozen app sees.
internal="$BUNDLE/_internal"
for f in resources/default-config.toml resources/icons/triage-sync.svg; do
  [ -f "$internal/$f" ] || fail "$f is missing from the bundle"
done
if [ -d app/store/migrations ]; then
  [ -n "$(find "$internal/app/store/migrations" -name '*.py' 2>/dev/null)" ] ||
    fail "Alembic migrations are missing from the bundle"
fi

# The bundle installs its own menu entry, icons and ~/.local/bin link (into a scratch HOME here).
printf '$ %s/install-desktop.sh && --uninstall   (scratch HOME)\n' "$BUNDLE"
run "$BUNDLE/install-desktop.sh" >/dev/null || fail "install-desktop.sh from the bundle failed"
entry="$smoke_home/.local/share/applications/com.example.TriageSync.desktop"
grep -q "^Exec=\"$ROOT/$BIN\"\$" "$entry" || fail "the installed desktop entry does not run the bundle"
[ "$(readlink "$smoke_home/.local/bin/triage-sync")" = "$ROOT/$BIN" ] || fail "no ~/.local/bin/triage-sync link"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$entry" || fail "invalid desktop entry"; fi
run "$BUNDLE/install-desktop.sh" --uninstall >/dev/null || fail "install-desktop.sh --uninstall failed"
[ ! -e "$entry" ] && [ ! -L "$smoke_home/.local/bin/triage-sync" ] || fail "--uninstall left files behind"

elapsed=$(( $(date +%s) - start ))
step "ok: $BUNDLE is $(du -sh "$BUNDLE" | cut -f1) ($(find "$BUNDLE" -type f | wc -l) files), built in ${elapsed}s"
