#!/bin/sh
# Guest half of scripts/demo (`make demo`): the demo set through the real
# gridloop on the virtual board (the wiring: lib.sh), with the appliance's
# own config (board/gridloop.conf).
#
#   demo.sh PERIOD RECORD_FRAMES
#
# Measures the round trip first (impulses through input monitoring), then
# runs gridloop live with it as latency_frames and demo-set.txt as its
# script, logging every engine event (-v) on stdout as it happens, while
# vb_duplex plays musician.wav in time with what gridloop plays (the
# musician hears output frame f as they play input frame f: it reaches
# gridloop a round trip later) and records the output into /out/demo.raw.
# gridloop ends with SIGTERM and prints its statistics.
set -u
# shellcheck disable=SC2034,SC2154 # variables shared with lib.sh
period=$1
record=$2
config=gridloop.conf
res=/out/result.txt
: >"$res"
# shellcheck source=tests/vm/guest/lib.sh
. ./lib.sh

measure_roundtrip
if [ -z "$rt" ]; then
	echo "demo: the round trip could not be measured:" >&2
	cat /out/rt-gridloop.log /out/rt-duplex.log >&2
	exit 1
fi
echo "demo: round trip $rt frames (impulses through input monitoring): gridloop's latency_frames"

# The session goes to /out/card (the board's "SD card" for the demo): saved
# while the set plays and at the stop, then exported as a musician would.
start_gridloop - -l "$rt" -v -s demo-set.txt --session /out/card/session || exit 1
duplex demo - $((record / rate + 20)) -S "$status_file" -d "$rt" -s "$record" musician.wav \
	/out/demo.raw
stop_gridloop demo
gridloop export -c "$config" --session /out/card/session --export-dir /out/card/exports \
	>/out/export.log 2>&1 || echo "demo: the export failed (see out/demo-card/export.log)" >&2
duplex_end
