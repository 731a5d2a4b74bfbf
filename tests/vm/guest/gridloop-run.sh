#!/bin/sh
# Guest half of tests/vm/gridloop.sh and scripts/bench-vb: the real gridloop
# on hw:Loopback, on a board booted with --hrtimer PERIOD (the wiring: lib.sh).
#
#   gridloop-run.sh PERIOD RECORD_FRAMES
#
# 1. The round trip: gridloop monitors its input; vb_duplex plays
#    impulse.raw and records rt.raw. The first impulse's delay is the round
#    trip in frames.
# 2. The scripted set (set.txt) live, with that round trip as
#    latency_frames: vb_duplex plays signal.raw in step with gridloop's
#    capture stream (input frame i reaches it at its frame i) and records
#    RECORD_FRAMES into set.raw. gridloop is stopped with SIGTERM, as
#    systemd would; its statistics come with its log.
# /out: rt.raw, set.raw, *.log (gridloop's stderr and vb_duplex's), and
# result.txt (key=value lines). Everything is time-limited.
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
	echo "no round trip measured" >&2
	exit 1
fi

if start_gridloop /out/set-gridloop.log -l "$rt" -v -s set.txt; then
	t0=$(cut -d' ' -f1 /proc/uptime)
	duplex set /out/set-duplex.log $((record / rate + 20)) -S "$status_file" -s "$record" \
		signal.raw /out/set.raw
	t1=$(cut -d' ' -f1 /proc/uptime)
	stop_gridloop set
	duplex_end
	echo "set_seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" >>"$res"
fi
exit 0
