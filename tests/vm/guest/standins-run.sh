#!/bin/sh
# Guest half of tests/vm/standins.sh: two stand-in controllers, one after
# the other, on the VirMIDI raw device /dev/snd/midiC1D0 (sequencer port
# "VirMIDI 1-0"), each against its own gridloop run on hw:Loopback: an
# APC40 mkII (device inquiry reply product 0x29), then a Launchpad X
# (Novation 00 20 29, family 03 01). The config names the port with
# port_profile = APC40 mk1, so only the stand-in's inquiry reply can make
# gridloop see the device it is.
#
# Everything gridloop sends is captured with cat on the raw device (opened
# before gridloop connects: virmidi drops what nobody reads): NAME1.bin up
# to the unplug, NAME2.bin after the replug, up to gridloop's exit. The
# stand-in answers the inquiry it finds in that capture, as the device does.
# Results (press times, rmmod, exit status) go to /out/result.txt,
# gridloop's -v log to /out/NAME.log, its output audio to /out/NAME-*.raw.
# The host parses and judges it all (tests/vm/standins_check.py).
set -u
period=$1
config=controller.conf
res=/out/result.txt
: >"$res"
# start_gridloop, stop_gridloop, send: tests/vm/guest/lib.sh
# shellcheck source=tests/vm/guest/lib.sh
. ./lib.sh
# note NOTE / cc CC: a press and its release, as the devices send them
# (the Launchpads release with a note-on of velocity 0)
note() { send 90 "$1" 7f; sleep 0.05; send 90 "$1" 00; }
# pad NOTE: a Launchpad pad's press: its pressure (polyphonic aftertouch)
# while held, then the release
pad() { send 90 "$1" 7f a0 "$1" 40 a0 "$1" 10; sleep 0.05; send a0 "$1" 00 90 "$1" 00; }
cc() { send b0 "$1" 7f; sleep 0.05; send b0 "$1" 00; }
# answer FILE REPLY...: the stand-in's answer to the device inquiry
# (F0 7E <ch> 06 01 F7) once it shows in FILE, the bytes gridloop sent it
answer() {
	f=$1
	shift
	n=0
	while [ $n -lt 100 ]; do
		if od -An -v -tx1 "$f" 2>/dev/null | tr -d ' \n' | grep -q 'f07e..0601f7'; then
			send "$@"
			echo "answered $f" >>"$res"
			return 0
		fi
		sleep 0.05
		n=$((n + 1))
	done
	echo "no inquiry in $f" >>"$res"
}
afmt="-t raw -f FLOAT_LE -c 2 -r 48000 --period-size=$period --buffer-size=$((period * 8))"
capture() { timeout 10 arecord -q -D hw:Loopback,1,1 $afmt -s "$2" "/out/$1.raw" 2>>/out/capture.log; }

# plug_first NAME REPLY...: the reader, then gridloop, then the answer
plug_first() {
	name=$1
	shift
	cat "$raw" >"/out/${name}1.bin" &
	r_pid=$!
	sleep 0.2
	# shellcheck disable=SC2086 # words or nothing
	start_gridloop "/out/$name.log" -v $gl_args || { echo "${name}_start_failed=1" >>"$res"; return 1; }
	answer "/out/${name}1.bin" "$@"
	sleep 1
}
# replug NAME REPLY...: unplugged: the reader, the subscriptions and the card go; the
# card comes back with gridloop held (SIGSTOP) until the new reader has the
# raw device open, or its LEDs would be dropped before anyone reads them;
# then the stand-in answers the inquiry again, as a device does.
replug() {
	name=$1
	shift
	kill "$r_pid"
	wait "$r_pid" 2>/dev/null
	aconnect -d gridloop:0 20:0 2>>/out/unplug.log
	aconnect -d 20:0 gridloop:0 2>>/out/unplug.log
	if rmmod snd_virmidi 2>>/out/unplug.log; then echo "${name}_rmmod=0" >>"$res"; else echo "${name}_rmmod=1" >>"$res"; fi
	sleep 1
	kill -STOP "$gl_pid"
	modprobe snd-virmidi index=1 id=VirMIDI 2>>/out/unplug.log
	n=0
	while [ ! -e "$raw" ] && [ $n -lt 50 ]; do sleep 0.05; n=$((n + 1)); done
	cat "$raw" >"/out/${name}2.bin" &
	r_pid=$!
	sleep 0.3
	kill -CONT "$gl_pid"
	answer "/out/${name}2.bin" "$@"
	sleep 1.5
}
finish() { # NAME: SIGTERM (the farewell), the reader ends
	stop_gridloop "$1"
	sleep 0.2
	kill "$r_pid" 2>/dev/null
	wait "$r_pid" 2>/dev/null
}

# the musician: a 1 kHz tone into input 1 for the whole set, aplay started
# again if it fails (the loopback gives EIO when a busy host stalls the
# board). It never stops between the runs: a loopback cable whose playback
# stops can stall its capture side (board/vm/README.md), gridloop's input.
(while [ ! -e /tmp/tone-end ]; do
	aplay -q -D hw:Loopback,0,0 $afmt /in/tone.raw 2>>/out/audio.log
	echo "aplay ended @$(cut -d' ' -f1 /proc/uptime)" >>/out/audio.log
	sleep 0.2
done) &
a_pid=$!

# ---- APC40 mkII: its session on a read-only card (a tmpfs mounted ro):
# the save after the take fails, and the MASTER button, the SD card's
# status LED, blinks, by gridloop's own timing (Akai's table gives it only
# off and on)
mkdir -p /ro
mount -t tmpfs -o ro tmpfs /ro
gl_args="--session /ro/session"
# the reply F0 7E 00 06 02 47 29 00 19 00 01 00 07 00 ... F7
MK2_REPLY="f0 7e 00 06 02 47 29 00 19 00 01 00 07 00 7f 7f 7f 7f 00 00 00 00 00 00 00 00 00 00 00 00 f7"
# shellcheck disable=SC2086
plug_first mk2 $MK2_REPLY || exit 1
echo "mk2 mark take @$(cut -d' ' -f1 /proc/uptime)" >>"$res"
note 20                              # pad note 32: track 0, scene 0: record
sleep 2.2
note 20                              # end the take at whole bars, then play
sleep 2.5
capture mk2-playing 48000            # the loop plays
note 5a                              # METRONOME (90): on
sleep 0.3
send 90 34 7f; sleep 0.05; send 80 34 00   # CLIP STOP of track 0 (note 52 ch 0)
sleep 1.6
# shellcheck disable=SC2086
replug mk2 $MK2_REPLY
finish mk2

gl_args=
# ---- Launchpad X: reply F0 7E 00 06 02 00 20 29 03 01 00 00 <4 version bytes> F7
LPX_REPLY="f0 7e 00 06 02 00 20 29 03 01 00 00 00 04 05 01 f7"
# shellcheck disable=SC2086
plug_first lpx $LPX_REPLY || exit 1
pad 51                               # pad note 81 (top left): track 0, scene 0: record
sleep 2.2
pad 51                               # end the take, then play
sleep 2.5
capture lpx-playing 48000
cc 60                                # CC 96: metronome on
sleep 0.3
# shellcheck disable=SC2086
replug lpx $LPX_REPLY
send b0 62 7f                        # shift (CC 98) held
cc 13                                #   + scene 8 (CC 19): stop all clips
send b0 62 00
sleep 0.3                            # SIGTERM with the stop queued (or just done)
finish lpx

# ---- Launchpad Mini mk3, briefly: identified (family 13 01), programmer
# mode, LEDs, SIGTERM; no unplug
LPM_REPLY="f0 7e 00 06 02 00 20 29 13 01 00 00 00 04 03 07 f7"
# shellcheck disable=SC2086
plug_first lpm $LPM_REPLY || exit 1
finish lpm

# ---- which of a device's ports: an APC mini mk2's two USB ports as
# snd-usb-audio names them with the device's jack names (started before
# gridloop) and without them (plugged in while it runs), and an APC mini
# mk1, as sequencer clients of vb_seqports; the config names no port.
sed '/^\[controller\]/,$d' controller.conf >/tmp/ports.conf
config=/tmp/ports.conf
vb_seqports "APC mini mk2" "APC mini mk2 APC mini mk2 Contr" "APC mini mk2 APC mini mk2 Notes" \
	>/out/ports-a.txt 2>>/out/ports.log &
p1=$!
vb_seqports "APC MINI" "APC MINI MIDI 1" >/out/ports-c.txt 2>>/out/ports.log &
p3=$!
sleep 0.3
start_gridloop /out/ports.log.gl -v || exit 1
sleep 0.5
vb_seqports "APC mini mk2" "APC mini mk2 MIDI 1" "APC mini mk2 MIDI 2" >/out/ports-b.txt 2>>/out/ports.log &
p2=$!
sleep 1.5
aconnect -l >/out/ports-aconnect.txt 2>&1
stop_gridloop ports
kill "$p1" "$p2" "$p3"
wait "$p1" "$p2" "$p3"
touch /tmp/tone-end
killall aplay 2>/dev/null
wait "$a_pid" 2>/dev/null
exit 0
