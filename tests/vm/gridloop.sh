#!/bin/bash
# The real gridloop on the virtual board, judged from the host: the board
# boots with one vCPU (why: tests/vm/guest/lib.sh) and its loopback clocked
# by an hrtimer at 256-frame periods; gridloop runs there as the appliance
# runs it (audio thread SCHED_FIFO 80, memory locked, 256 x 2 frames,
# FLOAT) on hw:Loopback, and vb_duplex (tests/tools/vb_duplex.c), standing
# in for the audio interface and the musician, plays into it and records
# what it plays, on one clock (tests/vm/guest/gridloop-run.sh). Checked:
#   - the round trip, measured with impulses through input monitoring:
#     every impulse comes back after the same number of frames, at most
#     two periods over the theoretical minimum (the playback buffer);
#   - the scripted set of scripts/test-alsa (tests/alsa/set.txt, two bars
#     later), live, with the measured round trip as latency_frames: the
#     recorded loop equals the input from record start + latency, sample
#     for sample (the loopback copies FLOAT samples unchanged, so exactly);
#     it repeats with a period of exactly one bar; the whole set equals
#     tests/alsa/fixture.py's model; it ends cleanly on SIGTERM;
#   - xruns at 256-frame periods: 0.
# A run with an xrun anywhere (gridloop's or vb_duplex's) or a stalled
# stream says nothing sure about the audio: it is shown, and the board
# runs again, up to three times; the last run is judged. (The first run is
# clean as a rule; a host busy with other work can stall the emulated board
# for tens of ms, and that can show.) Prints ok/FAIL/info lines (tests/lib/harness.sh)
# and ends with "N passed, N failed". Run by scripts/test-virtual-board.
#
# The checks pass single-quoted conditions to eval on purpose: they expand
# when the check runs.
# shellcheck disable=SC2016
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VB=$ROOT/scripts/virtual-board
GUEST=$ROOT/tests/vm/guest
CHECK="python3 $ROOT/tests/vm/vbcheck.py"
BIN=${BUILD_DIR:-$ROOT/build/native} # the build to run (make builds build/native)
PERIOD=256
LEAD=96000                       # two bars at 240 BPM before the set begins
RECORD=$((LEAD + 480000 + 2048)) # the set, and the round trip after it

# ok, bad, info, check, tally, summary: the one harness of the tests.
. "$ROOT/tests/lib/harness.sh"

for f in "$BIN/gridloop" "$BIN/tools/vb_duplex"; do
	if [ ! -x "$f" ]; then
		bad "$f is built (run make first)"
		summary
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vb-gridloop.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in"
$CHECK inputs "$tmp/in" $LEAD
cp "$ROOT/tests/alsa/gridloop.conf" "$GUEST/gridloop-run.sh" "$GUEST/lib.sh" "$tmp/in/"
[ ! -d "$ROOT/board/profiles" ] || cp -r "$ROOT/board/profiles" "$tmp/in/profiles"

# value KEY FILE: KEY=value from a result.txt
value() { sed -n "s/^$1=//p" "$2" 2>/dev/null | tail -n 1; }
# stat_field PATTERN LOG: a number from gridloop's statistics lines
stat_field() { grep -o "$1 [0-9.]*" "$2" 2>/dev/null | tail -n 1 | awk '{ print $NF }'; }

# boot N: one run of the board; leaves $tmp/out$N, and sets rc, clean and
# the figures of the run.
boot() {
	local n=$1
	o=$tmp/out$n
	rc=0
	local t0 t1
	t0=$(date +%s.%N)
	"$VB" run --timeout 120 --smp 1 --hrtimer $PERIOD --bin "$BIN/gridloop" --bin "$BIN/tools/vb_duplex" \
		--in "$tmp/in" --out "$o" -- sh gridloop-run.sh $PERIOD $RECORD \
		>"$tmp/stdout$n" 2>"$tmp/stderr$n" || rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
	rt=$(value roundtrip "$o/result.txt")
	gl_xruns=$(($(stat_field xruns "$o/rt-gridloop.log" || true) + 0))
	gl_xruns=$((gl_xruns + $(stat_field xruns "$o/set-gridloop.log" || true) + 0))
	set_xruns=$(stat_field xruns "$o/set-gridloop.log" || true)
	reopens=$(($(stat_field "device reopens" "$o/rt-gridloop.log" || true) + 0))
	reopens=$((reopens + $(stat_field "device reopens" "$o/set-gridloop.log" || true) + 0))
	duplex_xruns=$(cat "$o"/*-duplex.log 2>/dev/null | grep -c "xrun at" || true)
	delays=""
	[ ! -s "$o/rt.raw" ] || delays=$($CHECK roundtrip "$o/rt.raw")
	clean=1
	# Impulses that came back after different delays: the board lost a
	# tick of its clock (a stall of the emulation), with no xrun to show.
	[ "$(echo "$delays" | tr ' ' '\n' | sort -u | wc -l)" = 1 ] || clean=0
	if [ "$rc" != 0 ] || [ -z "$rt" ] || [ "$gl_xruns" != 0 ] || [ "$reopens" != 0 ] ||
		[ "$duplex_xruns" != 0 ] || [ "$(value set_duplex_status "$o/result.txt")" != 0 ]; then
		clean=0
	fi
	[ "$rc" != 125 ] || return 0
	info "run $n: board exit $rc, ${secs} s; gridloop: xruns $gl_xruns, device reopens $reopens" \
		"(after a stalled stream); vb_duplex: xruns $duplex_xruns, $(sed -n 's/.*clock: //p' "$o/set-duplex.log" 2>/dev/null)"
}

# Up to three runs, until one is clean.
n=0
while :; do
	n=$((n + 1))
	boot $n
	if [ "$clean" = 1 ] || [ "$rc" = 125 ] || [ $n -ge 3 ]; then
		break
	fi
	info "run $n was not clean (host load $(cut -d' ' -f1-3 /proc/loadavg)): its audio says nothing sure; once more"
	grep -h "xrun\|error\|lost\|stalled\|did not\|clock:" "$o"/*.log "$tmp/stdout$n" 2>/dev/null | head -n 8 | sed 's/^/  | /'
done
if [ "$rc" != 0 ]; then
	echo "--- the board run failed (status $rc):"
	cat "$tmp/stderr$n" "$tmp/stdout$n"
fi
check "the board boots and runs gridloop and vb_duplex (exit status $rc)" [ "$rc" = 0 ]
if [ ! -s "$o/result.txt" ]; then
	# Nothing came back (qemu did not start, the board failed): nothing
	# else to judge.
	summary
	exit 1
fi

# ---- the round trip -----------------------------------------------------------
theory=$((PERIOD * 2))
check "round trip: 5 impulses through input monitoring all come back after the same number of frames ($delays)" \
	eval '[ -n "$delays" ] && [ "$(echo $delays | tr " " "\n" | sort -u | wc -l)" = 1 ] && [ "${delays%% *}" = "$rt" ]'
check "round trip: $rt frames, against the theoretical minimum $theory (the playback buffer, $PERIOD x 2), at most 2 periods more" \
	eval '[ -n "$rt" ] && [ "$rt" -ge $theory ] && [ "$rt" -le $((theory + 2 * PERIOD)) ]'

# ---- the set --------------------------------------------------------------------
gl=$o/set-gridloop.log
check "gridloop ran the set live on hw:Loopback: FLOAT both ways, 2 x $PERIOD frames, streams linked, latency_frames ${rt:-?}" \
	grep -qs "capture 'hw:Loopback,1,0' (FLOAT, 2 ch), playback 'hw:Loopback,0,1' (FLOAT, 2 ch), 48000 Hz, 2 x $PERIOD frames, streams linked; latency compensation ${rt:-?} frames" "$gl"
check "its audio thread ran SCHED_FIFO with memory locked, no script command late" \
	eval 'grep -qs "audio thread SCHED_FIFO; memory locked" "$gl" && grep -qs "late script commands 0;" "$gl"'
check "SIGTERM stopped it cleanly (exit status 0)" \
	eval 'grep -qs "SIGTERM: stopping" "$gl" && [ "$(value set_gridloop_status "$o/result.txt")" = 0 ]'
check "the engine events came at their frames (take at $((LEAD + 48000))..$((LEAD + 96000)), scene launch at $((LEAD + 384000)), stop at $((LEAD + 432000)))" \
	eval 'grep -qs "@$((LEAD + 48000)) track 0 scene 0: recording" "$gl" &&
		grep -qs "@$((LEAD + 96000)) track 0 scene 0: playing" "$gl" &&
		grep -qs "@$((LEAD + 384000)) track 1 scene 1: playing" "$gl" &&
		grep -qs "@$((LEAD + 432000)) track 1 scene 1: stopped" "$gl"'
sync=$(sed -n 's/.*other stream was at frame \([0-9]*\).*/\1/p' "$o/set-duplex.log" 2>/dev/null)
check "vb_duplex was playing into gridloop before the set began (from its frame ${sync:-?} + 8192, the set at $LEAD)" \
	eval '[ -n "$sync" ] && [ $((sync + 8192)) -le $LEAD ]'
if [ -s "$o/set.raw" ] && [ -n "$rt" ]; then
	$CHECK set "$tmp/in/signal.raw" "$o/set.raw" "$rt" $LEAD >"$tmp/set.txt" 2>&1 || true
else
	echo "FAIL the set's output came back from the board" >"$tmp/set.txt"
fi
tally "$tmp/set.txt" || true

# ---- xruns and timing -------------------------------------------------------------
worst=$(grep -o 'worst period [0-9.]* ms of [0-9.]* ms ([0-9.]* %)' "$gl" 2>/dev/null | tail -n 1)
load=$(stat_field "average load" "$gl" || true)
info "gridloop, 256 x 2 frames, $(value set_seconds "$o/result.txt") s of set: ${worst:-?}; average load ${load:-?} %"
check "xruns at $PERIOD-frame periods (gridloop, round trip and set runs): ${set_xruns:-?} in the set, $gl_xruns in all (expected 0)$([ "$n" -gt 1 ] && echo "; run $n of $n")" \
	eval '[ -n "$set_xruns" ] && [ "$gl_xruns" = 0 ] && [ "$reopens" = 0 ]'

summary
