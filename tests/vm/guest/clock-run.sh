#!/bin/sh
# Guest half of tests/vm/clock.sh: gridloop on hw:Loopback sends MIDI clock
# (clock_out_port = VirMIDI 1-0) at 120 BPM; tests/tools/midi_stamp stamps
# every byte arriving at the VirMIDI raw device (/out/stamps.txt). Its
# threads' voluntary context switches (each one a sleep, so a wake-up) are
# read at two moments of the idle part (/out/threads1.txt, threads2.txt,
# each with /proc/uptime first). The script then queues a take just after a
# bar line (Start at the next downbeat) and ends the run. The host judges.
set -u
period=$1
res=/out/result.txt
: >"$res"
raw=/dev/snd/midiC1D0
status_file=/proc/asound/Loopback/pcm1c/sub0/status
afmt="-t raw -f FLOAT_LE -c 2 -r 48000 --period-size=$period --buffer-size=$((period * 8))"
midi_stamp "$raw" >/out/stamps.txt 2>/out/stamp.log &
s_pid=$!
sleep 0.2
# the interface's far side plays silence, as an interface never stops
aplay -q -D hw:Loopback,0,0 $afmt /dev/zero 2>>/out/audio.log &
a_pid=$!
gridloop -c clock.conf -C hw:Loopback,1,0 -P hw:Loopback,0,1 -p "$period" -n 2 \
	--script clock.txt -v >/out/gl.log 2>&1 &
gl_pid=$!
n=0
until grep -q RUNNING "$status_file" 2>/dev/null; do
	n=$((n + 1))
	if [ $n -ge 200 ] || ! kill -0 "$gl_pid" 2>/dev/null; then
		echo "start_failed=1" >>"$res"
		cat /out/gl.log >&2
		exit 1
	fi
	sleep 0.05
done
threads() { # FILE: uptime, then "name voluntary_switches" per thread
	cut -d' ' -f1 /proc/uptime >"$1"
	for t in /proc/"$gl_pid"/task/*; do
		echo "$(cat "$t/comm") $(sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' "$t/status")"
	done >>"$1"
}
sleep 2
threads /out/threads1.txt
sleep 8
threads /out/threads2.txt
# the script ends the run (exit at 18.75 s); then some more
n=0
while kill -0 "$gl_pid" 2>/dev/null && [ $n -lt 200 ]; do
	sleep 0.1
	n=$((n + 1))
done
kill -TERM "$gl_pid" 2>/dev/null
wait "$gl_pid"
echo "gl_status=$?" >>"$res"
sleep 0.2
kill "$s_pid" "$a_pid" 2>/dev/null
wait "$s_pid" 2>/dev/null
exit 0
