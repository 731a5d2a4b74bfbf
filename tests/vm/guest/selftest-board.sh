#!/bin/sh
# Guest half of tests/vm/selftest.sh: runs inside the virtual board (busybox
# sh, cwd /in) and leaves what it saw in /out; the host half judges it. It
# checks nothing itself, so a broken board cannot pass by a guest's say-so.
#
#   selftest-board.sh TOKEN STATUS
# Prints TOKEN on stdout and on stderr, writes it to /out/token.txt, and
# exits with STATUS, so the host can see each of those travel back.
set -u
token=$1
status=$2

# Seconds since the kernel started: the board's boot time, seen from inside.
cut -d' ' -f1 /proc/uptime >/out/uptime.txt

echo "stdout-token $token"
echo "stderr-token $token" >&2
echo "$token" >/out/token.txt

cat /proc/asound/cards >/out/cards.txt
ls /dev/snd >/out/devsnd.txt
aseqdump -l >/out/seqports.txt 2>&1

# Loopback: record from the capture side of cable 0 while the tone plays into
# its playback side. arecord starts first so no sample of the tone is lost;
# the loopback gives silence until the playback starts.
arecord -q -D hw:Loopback,1,0 -f S16_LE -c 2 -r 48000 -d 3 /out/loop.wav 2>/out/arecord.err &
rec=$!
sleep 0.5
aplay -q -D hw:Loopback,0,0 tone.wav 2>/out/aplay.err
echo "aplay $?" >/out/loop-status.txt
wait $rec
echo "arecord $?" >>/out/loop-status.txt

# VirMIDI: bytes written to the raw MIDI device of card 1 must arrive as
# sequencer events on the matching sequencer port "VirMIDI 1-0".
port=$(awk '/VirMIDI 1-0/ { print $1; exit }' /out/seqports.txt)
if [ -n "$port" ]; then
	aseqdump -p "$port" >/out/seqdump.txt 2>&1 &
	dump=$!
	sleep 0.5
	# note on 60 vel 100 ch 0; control change 7 = 64 on ch 2; note off 60 ch 0
	printf '\220\074\144\262\007\100\200\074\000' >/dev/snd/midiC1D0
	sleep 0.5
	kill $dump
	wait $dump 2>/dev/null
fi

# The jiffies-clocked loopback with 256-frame periods, for the figures: the
# host only reports these counts (the hrtimer run is the one it judges).
chrt -f 80 arecord -D hw:Loopback,1,0 -f S16_LE -c 2 -r 48000 --period-size=256 \
	--buffer-size=512 -d 4 /tmp/jiffies.wav 2>/out/jiffies-arecord.err &
rec=$!
sleep 0.3
chrt -f 80 aplay -D hw:Loopback,0,0 --period-size=256 --buffer-size=512 tone3.wav \
	2>/out/jiffies-aplay.err
# arecord should end 1 s after aplay; with this clock it sometimes stalls for
# good once the playback stops (its hw_ptr no longer moves), so wait 3 s at
# most and record whether it did.
n=0
while kill -0 $rec 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
if kill -0 $rec 2>/dev/null; then
	echo "arecord stalled after the playback stopped" >/out/jiffies-stalled.txt
	kill -9 $rec
fi
wait $rec

exit "$status"
