#!/bin/sh
# Guest half of tests/vm/controller.sh: a stand-in APC40 mk1 on the VirMIDI
# raw device /dev/snd/midiC1D0 (sequencer port "VirMIDI 1-0") plays a set
# against gridloop on hw:Loopback. Everything gridloop sends to the
# controller is captured with cat on the raw device (opened before gridloop
# connects: virmidi drops what nobody reads) into /out/m1.bin (first
# connection) and /out/m2.bin (after the unplug); the press times go to
# /out/result.txt, gridloop's log (-v) to /out/gl.log, its output audio to
# /out/*.raw. The host parses and judges it all.
set -u
period=$1
config=controller.conf
res=/out/result.txt
: >"$res"
# gridloop as the appliance runs it, on hw:Loopback (tests/vm/guest/lib.sh:
# captures from 1,0, what aplay plays into 0,0; plays into 0,1, recorded
# from 1,1): start_gridloop, stop_gridloop, send.
# shellcheck source=tests/vm/guest/lib.sh
. ./lib.sh
press() { send 9$1 $2 7f; sleep 0.05; send 8$1 $2 00; }
afmt="-t raw -f FLOAT_LE -c 2 -r 48000 --period-size=$period --buffer-size=$((period * 8))"
capture() { timeout 10 arecord -q -D hw:Loopback,1,1 $afmt -s "$2" "/out/$1.raw" 2>>/out/audio.log; }

cat "$raw" >/out/m1.bin &
r_pid=$!
sleep 0.2
start_gridloop /out/gl.log -v || { echo "start_failed=1" >>"$res"; exit 1; }
# the musician: a 1 kHz tone into input 1 for the whole set
# (aplay started again if it fails: the loopback gives EIO when a busy host
# stalls the board)
(while [ ! -e /tmp/tone-end ]; do
	aplay -q -D hw:Loopback,0,0 $afmt /in/tone.raw 2>>/out/audio.log
	echo "aplay ended @$(cut -d' ' -f1 /proc/uptime)" >>/out/audio.log
	sleep 0.2
done) &
a_pid=$!
sleep 1.5
aconnect -l >/out/aconnect1.txt 2>&1
capture before 24000                 # nothing recorded yet: silence
press 0 35                           # track 0, scene 0: record from the next bar
sleep 2.2
press 0 35                           # end the take at whole bars, then play
sleep 2.5
capture playing 48000                # the loop plays
for i in 1 2 3 4 5; do press 0 5f; sleep 0.1; done   # bank down x5: rows 6..10
sleep 0.5
press 1 35                           # track 1, scene 5 (window row 0): record
sleep 2.2
press 1 35                           # end the take, then play
sleep 2.5
press 0 52                           # scene launch, window row 0 = scene 5
sleep 2.5
# unplug: the reader goes, the subscriptions go, the card goes
kill "$r_pid"
wait "$r_pid" 2>/dev/null
aconnect -d gridloop:0 20:0 2>>/out/unplug.log
aconnect -d 20:0 gridloop:0 2>>/out/unplug.log
if rmmod snd_virmidi 2>>/out/unplug.log; then echo "rmmod=0" >>"$res"; else echo "rmmod=1" >>"$res"; fi
sleep 1
# plug in again; gridloop is held (SIGSTOP) until the reader has the new
# raw device open, or its LEDs would be dropped before anyone reads them
kill -STOP "$gl_pid"
modprobe snd-virmidi index=1 id=VirMIDI 2>>/out/unplug.log
n=0
while [ ! -e "$raw" ] && [ $n -lt 50 ]; do sleep 0.05; n=$((n + 1)); done
cat "$raw" >/out/m2.bin &
r_pid=$!
sleep 0.3
kill -CONT "$gl_pid"
sleep 2
aconnect -l >/out/aconnect2.txt 2>&1
stop_gridloop gl
touch /tmp/tone-end
killall aplay 2>/dev/null
wait "$a_pid" 2>/dev/null
kill "$r_pid" 2>/dev/null
wait "$r_pid" 2>/dev/null
exit 0
