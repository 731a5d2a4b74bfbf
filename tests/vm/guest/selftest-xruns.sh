#!/bin/sh
# Guest half of the xrun measurement in tests/vm/selftest.sh, run on a board
# booted with --hrtimer PERIOD: plays a tone through the loopback with
# PERIOD-frame periods (2 per buffer) under SCHED_FIFO 80, as the looper's
# audio thread would run, and records the other side. Leaves the tools'
# stderr (their "underrun!!!"/"overrun!!!" lines), exit codes, the clock
# stream's settings and the wall time of the playback in /out.
#
#   selftest-xruns.sh PERIOD SECONDS_OF_RECORDING
set -u
period=$1
secs=$2

cat /proc/asound/Dummy/pcm0p/sub0/hw_params >/out/clock-hw.txt 2>&1

chrt -f 80 arecord -D hw:Loopback,1,0 -f S16_LE -c 2 -r 48000 --period-size="$period" \
	--buffer-size=$((period * 2)) -d "$secs" /tmp/rec.wav 2>/out/arecord.err &
rec=$!
sleep 0.3
cut -d' ' -f1 /proc/uptime >/out/play-start.txt
chrt -f 80 aplay -D hw:Loopback,0,0 --period-size="$period" --buffer-size=$((period * 2)) \
	tone.wav 2>/out/aplay.err
echo "aplay $?" >/out/status.txt
cut -d' ' -f1 /proc/uptime >/out/play-end.txt
# arecord should end 1 s after aplay; give it 3 s, so that a loopback that
# stalls fails this run quickly instead of at the board's timeout.
n=0
while kill -0 $rec 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
if kill -0 $rec 2>/dev/null; then
	echo "arecord stalled" >/out/stalled.txt
	kill -9 $rec
fi
wait $rec
echo "arecord $?" >>/out/status.txt
wc -c </tmp/rec.wav >/out/rec-bytes.txt
