#!/bin/bash
# Stand-in APC40 mkII and Launchpad X against the real gridloop on the
# virtual board (tests/vm/guest/standins-run.sh plays them, one gridloop run
# each, on one boot): bytes in on the VirMIDI raw device, the LED bytes
# gridloop sends read back from it. The port's name ("VirMIDI 1-0") matches
# no profile and the config gives it port_profile = APC40 mk1, so each
# stand-in is only known by its answer to gridloop's device inquiry
# (product 0x29; Novation 00 20 29 family 03 01). Checked from the bytes,
# parsed by tests/vm/standins_check.py, gridloop's -v log and the audio:
#   - the inquiry reply switches the profile: the mkII's introduction
#     (mode 41) / the Launchpad's programmer-mode SysEx, then a full LED
#     refresh in the device's own messages, and no message of another
#     profile after it;
#   - pad presses record a clip that plays (the engine's log, the output
#     audio), its LED state by state: on the mkII two messages each
#     (recording 6 then 5 on channel 8, playing 22 then 21 on channel 8, a
#     stop queued 9 then 0 on channel 14), the RGB scene LED (21), the clip
#     stop LED (1, blinking 2, off), METRONOME (1); on the Launchpad the
#     pulse channel 2 (recording 5, playing 21), the flash channel 1 (a
#     queued stop: 9 then 0 on channel 1), the scene column as CC (89: 21),
#     metronome CC 96 (3), shift + scene 8 = stop all; its pads press with
#     their pressure (polyphonic aftertouch) between press and release;
#   - the mkII's session on a read-only card: the save fails, and MASTER
#     (the SD card's LED, only off/on in Akai's table) blinks 1/0 by
#     gridloop's own timing, before and after the replug; its exit status
#     is then 1 (the last save failed, as the manual says);
#   - unplugged (rmmod snd_virmidi) and plugged in again: the mode SysEx
#     and every LED again, as the clip left them;
#   - at SIGTERM: every LED dark on its static channel (which ends an
#     animation), then the mode left (APC40 mkII: mode 40, Generic;
#     Launchpad: Live mode), nothing after it;
#   - a stand-in Launchpad Mini mk3 (family 13 01), briefly: its profile,
#     programmer mode (02 0D 0E 01), LEDs dark, at SIGTERM Live mode;
#   - which ports of a device (tests/tools/vb_seqports: sequencer clients
#     named as snd-usb-audio names real ones): of an APC mini mk2's two
#     ports only the first (pads, buttons, faders) is connected and gets
#     LEDs, with the device's jack names ("... Contr", not "... Notes") and
#     without ("MIDI 1", not "MIDI 2", plugged in while gridloop runs); an
#     APC mini mk1 beside it is still one.
# KEEP_OUT=DIR keeps the board's output. Prints ok/FAIL lines
# (tests/lib/harness.sh) and "N passed, N failed". Run by
# scripts/test-virtual-board.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VB=$ROOT/scripts/virtual-board
GUEST=$ROOT/tests/vm/guest
BIN=${BUILD_DIR:-$ROOT/build/native}
PERIOD=256

# ok, bad, info, check, tally, summary: the one harness of the tests.
. "$ROOT/tests/lib/harness.sh"

if [ ! -x "$BIN/gridloop" ] || [ ! -x "$BIN/tools/vb_seqports" ]; then
	bad "$BIN/gridloop and $BIN/tools/vb_seqports are built (run make first)"
	summary
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vb-standins.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in"
cp "$GUEST/standins-run.sh" "$GUEST/lib.sh" "$tmp/in/"
cp -r "$ROOT/board/profiles" "$tmp/in/profiles"
cp "$ROOT/tests/vm/apc40-board.conf" "$tmp/in/controller.conf"
python3 - "$tmp/in/tone.raw" <<'PY'
import array, math, sys
n = 48000 * 60
s = array.array('f', [0.0]) * (2 * n)
for i in range(n):
    s[2 * i] = 0.5 * math.sin(2 * math.pi * 1000 * i / 48000)
open(sys.argv[1], 'wb').write(s.tobytes())
PY

t0=$(date +%s)
rc=0
"$VB" run --timeout 120 --smp 1 --hrtimer $PERIOD --bin "$BIN/gridloop" --bin "$BIN/tools/vb_seqports" \
	--in "$tmp/in" --out "$tmp/out" -- sh standins-run.sh $PERIOD \
	>"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
secs=$(($(date +%s) - t0))
if [ "$rc" != 0 ]; then
	echo "--- the board run failed (status $rc):"
	cat "$tmp/stderr" "$tmp/stdout"
fi
if [ "$rc" = 0 ]; then ok "the board boots and runs gridloop with the stand-in APC40 mkII, then Launchpad X (${secs} s)"
else bad "the board boots and runs gridloop with the stand-in APC40 mkII, then Launchpad X (exit status $rc, ${secs} s)"; fi
if [ "$rc" = 125 ]; then # the board itself failed: nothing to judge
	summary
	exit 1
fi

python3 "$ROOT/tests/vm/standins_check.py" "$tmp/out" >"$tmp/checks.txt" 2>&1 || true
[ -z "${KEEP_OUT:-}" ] || { mkdir -p "$KEEP_OUT" && cp -r "$tmp/out/." "$KEEP_OUT/"; }
tally "$tmp/checks.txt" || true
if [ "$h_failed" != 0 ] && [ -d "$tmp/out" ]; then
	for name in mk2 lpx; do
		echo "--- gridloop's log ($name: controller lines and the end):"
		grep -i 'controller\|error\|sequencer\|xrun' "$tmp/out/$name.log" 2>/dev/null | head -n 20 | sed 's/^/  | /'
		tail -n 5 "$tmp/out/$name.log" 2>/dev/null | sed 's/^/  | /'
	done
	sed 's/^/  result | /' "$tmp/out/result.txt" 2>/dev/null | grep -v ' sent ' || true
fi
summary
