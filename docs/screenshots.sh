#!/usr/bin/env bash
# Takes the README screenshots from the demo, with a failed push and a ServiceNow outage made by the
# simulators' own fault injection (their loopback control endpoint POST /_sim/faults; nothing in the
# app is changed for it). Needs Xvfb, icewm, xdotool, ImageMagick and ss (iproute2).
#
#   docs/screenshots.sh DISPLAY_NUMBER OUT_DIR [WIDTHxHEIGHT] [light|dark]
#
# Writes OUT_DIR/queue.png (failed item selected, outage banner), OUT_DIR/queue-waiting.png (a
# waiting incident's ticket preview, same outage) and OUT_DIR/activity.png (pushes and return trips,
# taken before the outage). Look at every PNG before committing it.
set -euo pipefail
display=":${1:?display number}"
out=${2:?output directory}
size=${3:-1280x800}
theme=${4:-light}
here=$(cd "$(dirname "$0")/.." && pwd)
home=$(mktemp -d)
mkdir -p "$out"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$home"
}
trap cleanup EXIT

Xvfb "$display" -screen 0 "${size}x24" >/dev/null 2>&1 &
pids+=($!)
sleep 1
DISPLAY=$display icewm >/dev/null 2>&1 &
pids+=($!)
env=(DISPLAY="$display" TRIAGE_SYNC_HOME="$home")
if [ "$theme" = dark ]; then
    env+=(QT_QPA_PLATFORMTHEME=gtk3 GTK_THEME=Adwaita:dark)
fi
env "${env[@]}" "$here/.venv/bin/triage-sync" --demo >/dev/null 2>&1 &
app=$!
pids=("$app" "${pids[@]}")
sleep 12
export DISPLAY=$display
width=${size%x*}
height=${size#*x}
for window in $(xdotool search --onlyvisible --name "Triage Sync"); do  # fill the screen (taskbar aside)
    xdotool windowmove "$window" 0 22 windowsize "$window" "$width" $((height - 54)) || true
done
sleep 2

# The two simulators listen on loopback; ServiceNow answers 401 on its Table API, Autotask does not.
ports=$(ss -ltnpH | grep "pid=$app," | awk '{print $4}' | sed 's/.*://')
for port in $ports; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/now/table/incident")
    if [ "$code" = 401 ]; then sn=$port; else at=$port; fi
done
fault() { curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$1/_sim/faults" >/dev/null; }

for _ in 1 2 3; do xdotool key ctrl+Return; sleep 2; done                    # three tickets created
fault "$at" '{"kind":"status","method":"POST","path":"/Tickets$","status":500,"count":1,
              "message":"dueDateTime is required.; on record number [0]."}'
xdotool key ctrl+Return                                                      # this one is refused
sleep 40                                                                     # technicians work the tickets
xdotool key ctrl+2 Page_Up
sleep 1
import -window root "$out/activity.png"
fault "$sn" '{"kind":"status","method":"GET","path":"/table/incident","status":503,"count":null}'
sleep 30                                                                     # two poll intervals: outage
xdotool key ctrl+1 Page_Up
sleep 2
import -window root "$out/queue.png"
xdotool key Down
sleep 2
import -window root "$out/queue-waiting.png"
