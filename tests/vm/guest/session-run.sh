#!/bin/sh
# Guest half of tests/vm/session.sh: gridloop's session on the board's SD
# card (scripts/virtual-board run --disk: ext4 at /sd), over two boots of
# one card image, on a board booted with --hrtimer PERIOD (the wiring:
# lib.sh; aplay plays the musician, signal.raw, into gridloop's input).
#
#   session-run.sh record PERIOD
#       gridloop --session /sd/session plays record.txt: four clips on
#       different tracks and scenes, then the save (its files are copied to
#       /out/saved1 once the log says "session saved: 4 clips"); then one
#       longer clip, and gridloop is SIGKILLed in the middle of the save that
#       follows (once the log says "saving the session..." and the clip's
#       temporary file is on the card), and the board's power is cut
#       (/vb/power-cut: no sync, no unmount; board/vm/init).
#   session-run.sh restore PERIOD
#       1. gridloop restores /sd/session with the stand-in APC40 (the VirMIDI
#          raw device, as controller-run.sh) connected: what it sends the
#          controller is captured, stamped by the kernel (amidi -T), into
#          /out/leds-restore.txt; then `gridloop export` asks it for an
#          export (wavfloat, into /sd/exports); SIGTERM. /sd/session and
#          /sd/exports are copied to /out.
#       2. boot to play, twice: gridloop on a card with no session yet
#          (/sd/fresh), then with the 80-clip session /sd/s80 the host
#          wrote on the image: its log (first audio period, session
#          restored) and its controller's LEDs (leds-empty.txt,
#          leds-s80.txt). result.txt has the uptime (CLOCK_MONOTONIC
#          here, in 10 ms steps) at each launch.
#   session-run.sh figures PERIOD
#       step 2 alone (scripts/bench-vb).
# /out: gl-*.log (gridloop's stderr, -v), result.txt (key=value lines), the
# copies above. Everything is time-limited.
set -u
mode=$1
# shellcheck disable=SC2034,SC2154 # variables shared with lib.sh
period=$2
config=session.conf
res=/out/result.txt
: >"$res"
# shellcheck source=tests/vm/guest/lib.sh
. ./lib.sh

gl_args="-c $config $gl_extra -C hw:Loopback,1,0 -P hw:Loopback,0,1 -p $period -n 2"
afmt="-t raw -f FLOAT_LE -c 2 -r $rate --period-size=$period --buffer-size=16384"

# wait_line FILE TEXT SECONDS: until FILE has a line with TEXT; 1 on timeout.
wait_line() {
	n=0
	until grep -qF "$2" "$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt $(($3 * 10)) ] || return 1
		sleep 0.1
	done
}

# The stand-in controller: what gridloop sends to the VirMIDI raw device,
# as amidi -d -T monotonic prints it: one message a line in hex, each
# stamped with the kernel's CLOCK_MONOTONIC at its arrival ("12.345678901)
# 90 35 05"; a message in running status comes on a line of its own without
# a stamp). Opened before gridloop connects: virmidi drops what nobody reads.
led_start() {
	amidi -p hw:1,0,0 -d -T monotonic >"/out/leds-$1.txt" 2>&1 &
	led_pid=$!
	sleep 0.3
}
led_stop() {
	kill "$led_pid" 2>/dev/null
	wait "$led_pid" 2>/dev/null
}

record() {
	# gridloop's stderr goes through a FIFO to a reader that logs it and
	# holds the trigger: after the first save, the next "saving the
	# session..." arms it; it spins (no forks, no sleeps: on one vCPU, a
	# spin only shares the CPU with the writer) until a temporary file of
	# the save is on the card (session_store.h: the new clip's, then the
	# manifest's, each written, synced and renamed in turn), and SIGKILLs
	# gridloop there, in the middle of the save.
	rm -f /tmp/gl.fifo /tmp/gl.pid
	mkfifo /tmp/gl.fifo
	(
		armed=0
		killed=0
		while IFS= read -r line; do
			printf '%s\n' "$line" >>/out/gl-record.log
			case "$line" in
			*"session saved: 4 clips"*) armed=1 ;;
			*"saving the session..."*)
				if [ $armed = 1 ] && [ $killed = 0 ]; then
					i=0
					while [ $i -lt 50000 ]; do
						set -- /sd/session/.*.tmp
						[ -e "$1" ] && break
						i=$((i + 1))
					done
					read -r pid </tmp/gl.pid
					kill -KILL "$pid"
					killed=1
					{
						echo "kill_spins=$i"
						[ -e "$1" ] && echo "kill_tmp=${1##*/}"
					} >>"$res"
					ls -la /sd/session >/out/at-kill.txt 2>&1
				fi
				;;
			esac
		done </tmp/gl.fifo
		echo "reader_done=1" >>"$res"
	) &
	reader=$!
	# shellcheck disable=SC2086 # $gl_pin and $gl_args are words on purpose
	$gl_pin gridloop $gl_args -v --session /sd/session --pid-file /tmp/gl.pid \
		-s record.txt >/tmp/gl.fifo 2>&1 &
	gl_pid=$!
	n=0
	until grep -q RUNNING "$status_file" 2>/dev/null; do
		n=$((n + 1))
		if [ $n -ge 200 ] || ! kill -0 "$gl_pid" 2>/dev/null; then
			echo "gridloop did not start" >&2
			echo "start_failed=1" >>"$res"
			return 1
		fi
		sleep 0.05
	done
	# The musician, as on an interface: a buffer of 16384 frames (340 ms)
	# rides out the stalls of an emulated board.
	# shellcheck disable=SC2086
	chrt -f 70 aplay -q -D hw:Loopback,0,0 $afmt /in/signal.raw 2>>/out/aplay.log &
	a_pid=$!
	if wait_line /out/gl-record.log "session saved: 4 clips" 40; then
		cp -a /sd/session /out/saved1
		echo "saved1=1" >>"$res"
	fi
	# the long clip, its save, the kill
	n=0
	while kill -0 "$reader" 2>/dev/null && [ $n -lt 400 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	wait "$gl_pid"
	echo "record_gridloop_status=$?" >>"$res"
	kill "$a_pid" 2>/dev/null
	# The power cut: board/vm/init leaves /sd as it is.
	: >/vb/power-cut
}

# boot_to_play NAME SESSION_DIR: gridloop from its launch until it plays and
# (with a session) has restored it; its controller's LEDs captured.
boot_to_play() {
	led_start "$1"
	read -r t0 _ </proc/uptime # the launch, without a fork
	echo "$1_launch=$t0" >>"$res"
	start_gridloop "/out/gl-$1.log" -v --session "$2" --pid-file /tmp/gl.pid ||
		{ led_stop; return 1; }
	wait_line "/out/gl-$1.log" "first period done" 20
	case "$2" in /sd/fresh) ;; *) wait_line "/out/gl-$1.log" "session restored" 30 ;; esac
	sleep 1 # the LEDs of the last clips
	stop_gridloop "$1"
	led_stop
}

restore() {
	# what the power cut left on the card, before gridloop sweeps it
	ls -la /sd/session >/out/card-at-boot.txt 2>&1
	led_start restore
	read -r t0 _ </proc/uptime # the launch, without a fork
	echo "restore_launch=$t0" >>"$res"
	if start_gridloop /out/gl-restore.log -v --session /sd/session --pid-file /tmp/gl.pid; then
		wait_line /out/gl-restore.log "session restored" 30
		sleep 1
		gridloop export -c "$config" --session /sd/session --pid-file /tmp/gl.pid \
			--export-format wavfloat >/out/export.txt 2>&1
		echo "export_status=$?" >>"$res"
		stop_gridloop restore
	fi
	led_stop
	cp -a /sd/session /out/session2
	cp -a /sd/exports /out/exports 2>/dev/null
	ls -la /sd /sd/session >/out/card.txt 2>&1

	boot_to_play empty /sd/fresh
	boot_to_play s80 /sd/s80
}

case "$mode" in
record) record ;;
restore) restore ;;
figures) # step 2 of restore alone (scripts/bench-vb)
	boot_to_play empty /sd/fresh
	boot_to_play s80 /sd/s80
	;;
*) echo "usage: session-run.sh record|restore|figures PERIOD" >&2; exit 2 ;;
esac
exit 0
