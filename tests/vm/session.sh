#!/bin/bash
# gridloop's session on the virtual board's SD card, across a power cut
# (tests/vm/guest/session-run.sh plays it; tests/vm/sessioncheck.py judges).
# The card is an ext4 image made here without root (mkfs.ext4 -d), given to
# both boots with `scripts/virtual-board run --disk` (mounted at /sd, qemu
# writing through to the image). It holds an 80-clip session (/s80) that
# gridloop itself recorded here, offline on alsa-lib's file plugin.
#   boot 1: gridloop on hw:Loopback (aplay plays noise into its input, as
#     the other board tests feed it), --session /sd/session, records four
#     clips on different tracks and scenes, and saves them by itself; then a
#     longer clip, and gridloop is SIGKILLed in the middle of the save that
#     follows (its clip file half written), and the power is cut (no sync,
#     no unmount: the guest's page cache is lost). A run whose audio was
#     not clean while the takes were recorded (an xrun: the emulation stalled
#     on a busy host) says nothing sure about them: shown, and boot 1 runs
#     again on a new card, up to three times.
#   boot 2, the same card: gridloop restores the last complete session:
#     all its clips, none skipped; every listed file complete and the
#     musician's input sample for sample (the first four equal to the files
#     boot 1 wrote, copied off the card before the kill); nothing else left
#     in the directory; the stand-in APC40's LEDs amber (stopped) on exactly
#     those clips' pads; `gridloop export --pid-file` exports them (wavfloat)
#     sample for sample; afterwards the card's file system is clean
#     (e2fsck -fn).
#   boot to play, in boot 2: gridloop's launch to its first audio period,
#     with no session and with the 80-clip one, and to the 80 clips restored
#     (its log) and shown on the controller (the visible 40 pads amber).
#     Printed as vb_boot_* lines; only what works is asserted, never a time.
# Prints ok/FAIL/info lines (tests/lib/harness.sh) and "N passed, N failed". Run by
# scripts/test-virtual-board. KEEP_OUT=DIR keeps both boots' output and the
# card image.
#
#   tests/vm/session.sh --figures    the boot-to-play figures alone (one
#                                    boot; scripts/bench-vb)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VB=$ROOT/scripts/virtual-board
GUEST=$ROOT/tests/vm/guest
CHECK="python3 $ROOT/tests/vm/sessioncheck.py"
BIN=${BUILD_DIR:-$ROOT/build/native} # the build to run (make builds build/native)
PERIOD=256
export PATH=$PATH:/usr/sbin:/sbin # mkfs.ext4, e2fsck (e2fsprogs)
figures=0
[ "${1:-}" != --figures ] || figures=1

# ok, bad, info, check, tally, summary: the one harness of the tests.
. "$ROOT/tests/lib/harness.sh"

if [ ! -x "$BIN/gridloop" ]; then
	bad "$BIN/gridloop is built (run make first)"
	summary
	exit 1
fi
if ! command -v mkfs.ext4 >/dev/null || ! command -v e2fsck >/dev/null; then
	bad "mkfs.ext4 and e2fsck are installed (scripts/setup-host vm: e2fsprogs)"
	summary
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vb-session.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in" "$tmp/gen" "$tmp/card"
$CHECK inputs "$tmp/in" "$tmp/gen"
cp "$GUEST/session-run.sh" "$GUEST/lib.sh" "$tmp/in/"
cp -r "$ROOT/board/profiles" "$tmp/in/profiles"
# gridloop as in the other board tests (sample-exact, FLOAT, 240 BPM), with
# the stand-in APC40 on VirMIDI 1-0 (as tests/vm/controller.sh) and the
# exports as 32-bit float WAV.
{ cat "$ROOT/tests/vm/apc40-board.conf"; cat <<'CONF'; } >"$tmp/in/session.conf"

[export]
format = wavfloat

[track1]
input = 1

[track2]
input = 2
CONF

# The 80-clip session: gridloop records it itself, offline on the file
# plugin (as scripts/test-alsa runs it), into the card's /s80.
sed -e "s|@IN@|$tmp/gen/in.raw|" -e "s|@OUT@|/dev/null|" "$ROOT/tests/alsa/pcm.conf.in" >"$tmp/gen/pcm.conf"
gen_rc=0
timeout -k 5 120 "$BIN/gridloop" -c "$ROOT/tests/alsa/gridloop.conf" --alsa-config "$tmp/gen/pcm.conf" \
	-C test_capture -P test_playback -p 256 --session "$tmp/card/s80" -s "$tmp/gen/s80.txt" \
	>"$tmp/gen/gl.log" 2>&1 || gen_rc=$?
# Every clip written once, in the last save or (a finished take is saved at
# once) in those before it.
if [ "$gen_rc" = 0 ] && grep -q "session saved: 80 clips" "$tmp/gen/gl.log" &&
	grep -q "clips written 80 (" "$tmp/gen/gl.log" &&
	[ "$(find "$tmp/card/s80" -name 'clip-*.wav' | wc -l)" = 80 ]; then
	[ "$figures" = 1 ] || ok "the 80-clip session for the card: gridloop recorded and saved it offline ($(du -sh "$tmp/card/s80" | cut -f1))"
else
	bad "the 80-clip session for the card: gridloop recorded and saved it offline (status $gen_rc)"
	tail -n 5 "$tmp/gen/gl.log" | sed 's/^/  | /'
fi
rm -f "$tmp/gen/in.raw"
truncate -s 128M "$tmp/card.new"
mkfs.ext4 -F -q -d "$tmp/card" "$tmp/card.new"

# run NAME MODE: one boot with the card; leaves $tmp/NAME, sets rc.
run() {
	local t0
	t0=$(date +%s)
	rc=0
	rm -rf "${tmp:?}/$1"
	"$VB" run --timeout 120 --smp 1 --hrtimer $PERIOD --disk "$tmp/card.img" --bin "$BIN/gridloop" \
		--in "$tmp/in" --out "$tmp/$1" -- sh session-run.sh "$2" $PERIOD \
		>"$tmp/$1.stdout" 2>"$tmp/$1.stderr" || rc=$?
	secs=$(($(date +%s) - t0))
	if [ "$rc" != 0 ]; then
		echo "--- the board run failed (status $rc):"
		cat "$tmp/$1.stderr" "$tmp/$1.stdout"
	fi
}

if [ "$figures" = 1 ]; then
	cp --sparse=always "$tmp/card.new" "$tmp/card.img"
	run fig figures
	[ "$rc" = 0 ] || exit 1
	$CHECK figures "$tmp/fig"
	exit 0
fi

# Boot 1, up to three times (each on a new card), until the audio ran clean
# while the takes were recorded: a stall of the emulation (a busy host) can
# put an xrun into a take, and then the take is not the musician's input,
# which says nothing about the card.
n=0
while :; do
	n=$((n + 1))
	cp --sparse=always "$tmp/card.new" "$tmp/card.img"
	run boot1 record
	clean=$($CHECK clean "$tmp/boot1")
	if [ "$clean" = clean ] || [ "$rc" = 125 ] || [ $n -ge 3 ]; then
		break
	fi
	info "boot 1, run $n: the audio was not clean during the takes ($clean;" \
		"host load $(cut -d' ' -f1-3 /proc/loadavg)): once more"
done
[ "$clean" = clean ] || info "boot 1, run $n: the audio was not clean during the takes: $clean"
if [ "$rc" = 0 ]; then ok "boot 1: the board runs gridloop with the card at /sd, then its power is cut (${secs} s)"
else bad "boot 1: the board runs gridloop with the card at /sd, then its power is cut (exit status $rc, ${secs} s)"; fi
run boot2 restore
if [ "$rc" = 0 ]; then ok "boot 2: the board runs gridloop on the same card (${secs} s)"
else bad "boot 2: the board runs gridloop on the same card (exit status $rc, ${secs} s)"; fi
fsck=$(e2fsck -fn "$tmp/card.img" 2>&1) && fsck_rc=0 || fsck_rc=$?
if [ "$fsck_rc" = 0 ]; then ok "the card's file system is clean after the power cut and boot 2 (e2fsck -fn)"
else bad "the card's file system is clean after the power cut and boot 2 (e2fsck -fn: status $fsck_rc)"
	echo "$fsck" | tail -n 8 | sed 's/^/  | /'; fi

$CHECK check "$tmp/in" "$tmp/boot1" "$tmp/boot2" >"$tmp/checks.txt" 2>&1 || true
tally "$tmp/checks.txt" || true
if [ "$h_failed" != 0 ]; then
	for f in "$tmp/boot1/gl-record.log" "$tmp/boot2/gl-restore.log"; do
		[ -f "$f" ] || continue
		echo "--- ${f#"$tmp/"} (session, xrun, error lines and the end):"
		grep -i 'session\|saving\|xrun\|error\|cannot' "$f" | grep -v '^gridloop: @' | head -n 20 | sed 's/^/  | /'
		tail -n 4 "$f" | sed 's/^/  | /'
	done
fi
if [ -n "${KEEP_OUT:-}" ]; then
	mkdir -p "$KEEP_OUT"
	cp -r "$tmp/boot1" "$tmp/boot2" "$tmp/card.img" "$KEEP_OUT/"
fi
summary
