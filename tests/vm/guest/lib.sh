# shellcheck shell=sh
# lib.sh -- shared by the guest scripts that run the real gridloop on the
# virtual board (gridloop-run.sh, demo.sh, session-run.sh, soak-run.sh, controller-run.sh,
# standins-run.sh); sourced, not run. The caller
# sets: period (frames), config (gridloop's config file), and res (a file
# that collects key=value results).
# shellcheck disable=SC2034,SC2154 # variables shared with the caller
#
# The wiring, on a board booted with --hrtimer $period: vb_duplex (the audio
# interface and the musician) plays into hw:Loopback,0,0, which gridloop
# captures from hw:Loopback,1,0; gridloop plays into hw:Loopback,0,1, which
# vb_duplex records from hw:Loopback,1,1. gridloop runs as the appliance
# runs it: audio thread SCHED_FIFO 80, memory locked, 2 periods a buffer.
#
# The host scripts boot the board with one vCPU (--smp 1): everything in the guest
# then shares one timeline, and the guest clock is the TSC. With two vCPUs
# (the HPET clock, and a vCPU that the host can deschedule while the other
# one ticks the loopback), gridloop on 256-frame periods xruns now and then
# even on an idle host (measured in 10 s runs: 0 to 120 with two vCPUs,
# gridloop pinned to vCPU 1 and vb_duplex to vCPU 0; 0 in 20 runs with one,
# 8 of them with another process busy on one of the host's two cores). On
# a board with more vCPUs the two are still pinned apart: vCPU 0 takes the
# timer interrupts and runs the board's clock stream.

rate=48000
# Controller profiles (the script's `midi` lines go through one): the
# tree's board/profiles, copied to /in/profiles by the host, for a gridloop
# that has the option (it would look in the source tree or an installed
# directory, neither of which is on the board).
gl_extra=
if [ -d /in/profiles ] && gridloop --help 2>/dev/null | grep -q -- '--profiles'; then
	gl_extra="--profiles /in/profiles"
fi
# Pinned apart on a board with more than one vCPU (see above).
gl_pin=
d_pin=
if [ "$(nproc)" -gt 1 ]; then
	gl_pin="taskset -c 1"
	d_pin="taskset -c 0"
fi
status_file=/proc/asound/Loopback/pcm1c/sub0/status
# vb_duplex's own buffer: 8192 frames (170 ms), so that the stand-in for
# the hardware rides out the stalls of an emulated board on a busy host
# (seen: 30-100 ms), which would stop it with an xrun, or with EIO after
# ALSA's wait timeout, max(100 ms, 1.1 x the buffer).
duplex_periods=$((8192 / period))

gl_pid=
# start_gridloop LOG ARGS...: start it and wait until its streams run. LOG
# "-" leaves its messages on our stdout.
start_gridloop() {
	gl_log=$1
	shift
	# $gl_pin and $gl_extra are words or nothing: unquoted on purpose.
	# shellcheck disable=SC2086
	if [ "$gl_log" = - ]; then
		$gl_pin gridloop -c "$config" $gl_extra -C hw:Loopback,1,0 -P hw:Loopback,0,1 \
			-p "$period" -n 2 "$@" 2>&1 &
	else
		$gl_pin gridloop -c "$config" $gl_extra -C hw:Loopback,1,0 -P hw:Loopback,0,1 \
			-p "$period" -n 2 "$@" >"$gl_log" 2>&1 &
	fi
	gl_pid=$!
	n=0
	until grep -q RUNNING "$status_file" 2>/dev/null; do
		n=$((n + 1))
		if [ $n -ge 200 ] || ! kill -0 "$gl_pid" 2>/dev/null; then
			echo "gridloop did not start" >&2
			[ "$gl_log" = - ] || cat "$gl_log" >&2
			return 1
		fi
		sleep 0.05
	done
}

# stop_gridloop NAME: SIGTERM, as systemd stops it; SIGKILL if it has not
# ended 5 s later. Records NAME_gridloop_status.
stop_gridloop() {
	kill -TERM "$gl_pid" 2>/dev/null
	n=0
	while kill -0 "$gl_pid" 2>/dev/null && [ $n -lt 50 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	if kill -0 "$gl_pid" 2>/dev/null; then
		echo "gridloop did not stop on SIGTERM: killed" >&2
		kill -KILL "$gl_pid"
	fi
	wait "$gl_pid"
	echo "$1_gridloop_status=$?" >>"$res"
}

# send HEX...: bytes from a stand-in controller on the VirMIDI raw device
# $raw (tests/vm/controller.sh, standins.sh), each send noted in $res with
# the guest's uptime.
raw=/dev/snd/midiC1D0
send() {
	s=
	for b in "$@"; do s="$s\\$(printf '%03o' "0x$b")"; done
	# shellcheck disable=SC2059 # the escapes are the bytes
	printf "$s" >"$raw"
	echo "sent $* @$(cut -d' ' -f1 /proc/uptime)" >>"$res"
}

# duplex NAME LOG TIMEOUT ARGS...: vb_duplex in the background until it has
# recorded what ARGS ask (or TIMEOUT seconds: a stalled capture would block
# it for good); it then plays silence, as an interface never stops, until
# duplex_end. LOG "-": its messages on our stdout.
d_pid=
duplex() {
	d_name=$1
	d_log=$2
	d_limit=$3
	shift 3
	rm -f "/tmp/$d_name.done"
	# shellcheck disable=SC2086
	if [ "$d_log" = - ]; then
		$d_pin vb_duplex -p "$period" -n "$duplex_periods" -k "/tmp/$d_name.done" \
			"$@" 2>&1 &
	else
		$d_pin vb_duplex -p "$period" -n "$duplex_periods" -k "/tmp/$d_name.done" \
			"$@" 2>"$d_log" &
	fi
	d_pid=$!
	n=0
	while [ ! -e "/tmp/$d_name.done" ] && kill -0 "$d_pid" 2>/dev/null &&
		[ $n -lt $((d_limit * 10)) ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ -e "/tmp/$d_name.done" ] || echo "${d_name}_duplex_timeout=$n" >>"$res"
}

# duplex_end: stop vb_duplex (it writes its recording then), SIGKILL after
# 20 s. Records NAME_duplex_status. Call it after stop_gridloop: the
# capture side of a loopback cable whose playback stops can stall.
duplex_end() {
	kill -TERM "$d_pid" 2>/dev/null
	n=0
	while kill -0 "$d_pid" 2>/dev/null && [ $n -lt 200 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -KILL "$d_pid" 2>/dev/null
	wait "$d_pid"
	echo "${d_name}_duplex_status=$?" >>"$res"
}

# measure_roundtrip: gridloop monitors its input (monitor.txt: `monitor 0
# on`); vb_duplex plays impulse.raw, whose first impulse is at frame 4800,
# and records /out/rt.raw on the same clock. Up to three tries, until one
# has no xrun and no stalled stream (each takes 2 s). Sets rt (empty if
# every try failed) and records roundtrip= and roundtrip_tries=.
measure_roundtrip() {
	rt=
	tries=0
	while [ -z "$rt" ] && [ $tries -lt 3 ]; do
		tries=$((tries + 1))
		if start_gridloop /out/rt-gridloop.log -s monitor.txt; then
			duplex rt /out/rt-duplex.log 20 impulse.raw /out/rt.raw
			stop_gridloop rt
			duplex_end
		fi
		first=$(sed -n 's/.*first sound at frame \(-\{0,1\}[0-9]*\).*/\1/p' /out/rt-duplex.log 2>/dev/null)
		if [ -n "$first" ] && [ "$first" -ge 4800 ] &&
			grep -q "xruns 0;" /out/rt-gridloop.log && grep -q "device reopens 0;" /out/rt-gridloop.log; then
			rt=$((first - 4800))
		fi
	done
	echo "roundtrip=$rt" >>"$res"
	echo "roundtrip_tries=$tries" >>"$res"
}
