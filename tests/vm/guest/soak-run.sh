#!/bin/sh
# Guest half of scripts/soak-vb (make soak): the real gridloop on
# hw:Loopback for a long run, as on stage, on a board booted with --hrtimer
# PERIOD and the SD card (--disk: ext4 at /sd); the wiring: lib.sh.
#
#   soak-run.sh MINUTES PERIOD
#
# gridloop plays soak.txt (made by the host: seven one-bar loops, then a
# take on track 8 that records until the end, the metronome on, an overdub
# pass on one of the loops every ten bars, each saved to the card when it
# ends, and the performance recorder streaming the mix to the card the
# whole time) until the script's `exit` at MINUTES of engine time, which
# saves the session, the long take with it. vb_duplex is the interface and
# the musician: it plays signal.raw into gridloop's input, then silence,
# as an interface never stops. Every 60 s gridloop is asked for its
# statistics (SIGUSR1), so the log has them minute by minute.
# /out: gl-soak.log (gridloop's stderr, -v), soak-duplex.log, result.txt
# (key=value lines), soak/session.json and card.txt (what is on the card).
set -u
minutes=$1
# shellcheck disable=SC2034,SC2154 # variables shared with lib.sh
period=$2
config=soak.conf
res=/out/result.txt
: >"$res"
# shellcheck source=tests/vm/guest/lib.sh
. ./lib.sh

signal_frames=$(($(wc -c </in/signal.raw) / 8))
if ! start_gridloop /out/gl-soak.log -v --session /sd/soak -s soak.txt; then
	echo "start_failed=1" >>"$res"
	exit 1
fi
read -r t0 _ </proc/uptime
duplex soak /out/soak-duplex.log 120 -S "$status_file" -s "$signal_frames" \
	signal.raw /tmp/soak-out.raw
# Until the script's exit (engine time: a board slower than real time
# takes longer), with a limit of twice that and ten minutes more.
limit=$((minutes * 120 + 600))
n=0
while kill -0 "$gl_pid" 2>/dev/null && [ $n -lt $limit ]; do
	sleep 1
	n=$((n + 1))
	[ $((n % 60)) != 0 ] || kill -USR1 "$gl_pid" 2>/dev/null
done
if kill -0 "$gl_pid" 2>/dev/null; then
	echo "soak_timeout=$n" >>"$res"
	stop_gridloop soak
else
	wait "$gl_pid"
	echo "soak_gridloop_status=$?" >>"$res"
fi
read -r t1 _ </proc/uptime
duplex_end
echo "soak_seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')" >>"$res"
mkdir -p /out/soak
cp /sd/soak/session.json /out/soak/ 2>/dev/null
ls -la /sd/soak /sd/recordings >/out/card.txt 2>&1
df -k /sd >>/out/card.txt 2>&1
sync
exit 0
