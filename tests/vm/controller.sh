#!/bin/bash
# A stand-in APC40 mk1 against the real gridloop on the virtual board
# (tests/vm/guest/controller-run.sh plays it): the controller is the VirMIDI
# raw device, sequencer port "VirMIDI 1-0", given to gridloop by the config
# ([controller] ports / port_profile, since the name is not *APC40*).
# gridloop runs on hw:Loopback (tempo 240: a bar is 1 s), aplay feeds it a
# 1 kHz tone. Checked from the bytes gridloop sent to the controller, parsed
# here, and its -v log:
#   - it connects by itself and sends the APC40 introduction SysEx and a
#     full LED refresh (40 pads off);
#   - pad note 53 ch 0: record queued (4, unless the press came a few ms
#     before a bar line), recording (3), then on a second
#     press playing (1), at the engine's track 0 scene 0;
#   - 5 x bank down, pad note 53 ch 1: track 1 scene 5 records and plays
#     (LEDs 4, 3, 1 on ch 1); scene launch note 82 (window row 0 = scene 5)
#     blinks, then lights, and stops track 0;
#   - unplugged (rmmod snd_virmidi) and plugged in again: gridloop says so,
#     sends the intro again and every visible pad's LED (all off but track 1
#     scene 5, playing);
#   - the audio: silence before the first take, the loop heard after it.
# KEEP_OUT=DIR keeps the board's output. Prints ok/FAIL lines (tests/lib/harness.sh) and "N passed, N failed". Run by
# scripts/test-virtual-board.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VB=$ROOT/scripts/virtual-board
GUEST=$ROOT/tests/vm/guest
BIN=${BUILD_DIR:-$ROOT/build/native}
PERIOD=256

# ok, bad, info, check, tally, summary: the one harness of the tests.
. "$ROOT/tests/lib/harness.sh"

if [ ! -x "$BIN/gridloop" ]; then
	bad "$BIN/gridloop is built (run make first)"
	summary
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vb-controller.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in"
cp "$GUEST/controller-run.sh" "$GUEST/lib.sh" "$tmp/in/"
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
"$VB" run --timeout 90 --smp 1 --hrtimer $PERIOD --bin "$BIN/gridloop" \
	--in "$tmp/in" --out "$tmp/out" -- sh controller-run.sh $PERIOD \
	>"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
secs=$(($(date +%s) - t0))
if [ "$rc" != 0 ]; then
	echo "--- the board run failed (status $rc):"
	cat "$tmp/stderr" "$tmp/stdout"
fi
if [ "$rc" = 0 ]; then ok "the board boots and runs gridloop with the stand-in APC40 (${secs} s)"
else bad "the board boots and runs gridloop with the stand-in APC40 (exit status $rc, ${secs} s)"; fi
if [ "$rc" = 125 ]; then # the board itself failed (qemu did not start, ...): nothing to judge
	summary
	exit 1
fi

python3 - "$tmp/out" >"$tmp/checks.txt" 2>&1 <<'PY' || true
import array, math, os, sys
out = sys.argv[1]

def rd(name):
    try:
        return open(os.path.join(out, name), 'rb').read()
    except OSError:
        return b''

def parse(data):
    """MIDI byte stream -> list of messages (tuples of bytes)."""
    msgs, cur, sysex = [], [], None
    for b in data:
        if sysex is not None:
            sysex.append(b)
            if b == 0xF7:
                msgs.append(tuple(sysex)); sysex = None
            continue
        if b == 0xF0:
            sysex = [b]; continue
        if b >= 0xF8:
            continue  # real time (clock) between anything
        if b & 0x80:
            cur = [b]
        elif cur:
            cur.append(b)
        else:
            continue
        st = cur[0] & 0xF0
        need = 2 if st in (0xC0, 0xD0) else 3
        if cur[0] >= 0xF0:
            need = 1
        if len(cur) == need:
            msgs.append(tuple(cur)); cur = [cur[0]]
    return msgs

def leds(msgs):
    """note messages -> list of (ch, note, velocity); note-off = 0."""
    r = []
    for m in msgs:
        if len(m) == 3 and m[0] & 0xF0 in (0x80, 0x90):
            r.append((m[0] & 15, m[1], 0 if m[0] & 0xF0 == 0x80 else m[2]))
    return r

def show(l):
    return ' '.join('%02x %02x %02x' % (0x90 | c, n, v) for c, n, v in l)

passed = []
def check(what, cond, detail=''):
    print(('ok   ' if cond else 'FAIL ') + what + (': ' + detail if detail and not cond else ''))

log = rd('gl.log').decode(errors='replace')
INTRO = (0xF0, 0x47, 0x7F, 0x73, 0x60, 0x00, 0x04, 0x41, 0x01, 0x00, 0x00, 0xF7)
PADS = [(c, n) for c in range(8) for n in range(53, 58)]

m1 = parse(rd('m1.bin'))
l1 = leds(m1)
check("gridloop connected to 'VirMIDI 1-0' by itself as the APC40 mk1",
      "controller connected: 'APC40 mk1'" in log or ("controller connected" in log and 'VirMIDI' in log),
      ' | '.join(x for x in log.splitlines() if 'controller' in x)[:300] or 'no controller line in its log')
check("the APC40 introduction SysEx arrived (F0 47 7F 73 60 00 04 41 01 00 00 F7)", INTRO in m1,
      '%d bytes came, SysEx: %s' % (len(rd('m1.bin')), [bytes(m).hex(' ') for m in m1 if m[0] == 0xF0]))
# the first LED of every pad after the intro: the full refresh, all off
first = {}
if INTRO in m1:
    for c, n, v in leds(m1[m1.index(INTRO):]):
        first.setdefault((c, n), v)
check("after the intro, every one of the 40 pads' LEDs is sent, off",
      all(first.get(p) == 0 for p in PADS),
      'missing %s, lit %s' % ([p for p in PADS if p not in first], [p for p in PADS if first.get(p) not in (None, 0)]))

def seq_in(l, want):
    """the LED values `want` [(ch, note, v)...] appear in this order in l; index after."""
    i = 0
    for j, x in enumerate(l):
        if x == want[i]:
            i += 1
            if i == len(want):
                return j + 1
    return -1

def pad_values(l, ch, note):
    return [v for c, n, v in l if (c, n) == (ch, note)]

# Record queued (4) lasts until the next bar line; a press that lands a few
# ms before one is queued for less than the LEDs' update interval, and the
# pad goes straight to recording (3): that is right (an LED shows the state
# now), so 4 is looked for but not required.
def take_leds(l, ch, after=0):
    """index after recording (3) then playing (1) on pad 53 of ch, or -1."""
    j = seq_in(l[after:], [(ch, 53, 3), (ch, 53, 1)])
    return after + j if j > 0 else -1

a = pad_values(l1, 0, 53)
i0 = take_leds(l1, 0)
check("pad note 53 ch 0: LED record queued (90 35 04)%s, recording (90 35 03), then after a 2nd press playing (90 35 01)"
      % ('' if 4 in a else ' [not seen: queued for under an update]'),
      i0 > 0, 'pad 53 ch 0 got velocities %s' % a)
check("the engine recorded and played track 0 scene 0",
      'track 0 scene 0: recording' in log and 'track 0 scene 0: playing' in log,
      ' | '.join(x for x in log.splitlines() if 'track 0 scene 0' in x)[:300])
b = pad_values(l1, 1, 53)
i1 = take_leds(l1, 1, i0) if i0 > 0 else -1
check("after 5 x bank down, pad note 53 ch 1: LEDs 91 35 04%s, 91 35 03, 91 35 01"
      % ('' if 4 in b else ' [not seen: queued for under an update]'),
      i1 > 0, 'pad 53 ch 1 got velocities %s' % b)
check("... and that pad is track 1 scene 5 in the engine (row 6), recording then playing",
      'track 1 scene 5: recording' in log and 'track 1 scene 5: playing' in log,
      ' | '.join(x for x in log.splitlines() if 'track 1 ' in x)[:300])
# banking to rows 6..10 hides track 0 scene 0: its pad goes off before track 1's records
check("banking down turned pad 53 ch 0 (track 0 scene 0, now out of the window) off",
      i0 > 0 and (0, 53, 0) in l1[i0:] and l1[i0:].index((0, 53, 0)) < min([l1[i0:].index(x) for x in ((1, 53, 4), (1, 53, 3)) if x in l1[i0:]] or [10**9]),
      'after playing: %s' % show(l1[i0:i0 + 60]) if i0 > 0 else '')
sc = pad_values(l1[i1:] if i1 > 0 else [], 0, 82)
check("scene launch note 82 (scene 5): its LED blinks (90 52 02) then is on (90 52 01)",
      i1 > 0 and seq_in(l1[i1:], [(0, 82, 2), (0, 82, 1)]) > 0, 'scene 82 after the 2nd take: %s' % sc)
launch = [x for x in log.splitlines() if 'track 0 scene 0: stopped' in x]
check("the scene launch stopped track 0 (no clip in scene 5)", bool(launch))

res = rd('result.txt').decode(errors='replace')
check("unplugged (aconnect -d, rmmod snd_virmidi): rmmod succeeded", 'rmmod=0' in res,
      rd('unplug.log').decode(errors='replace').strip())
check("gridloop said the controller was unplugged", 'controller unplugged' in log)
check("SIGTERM stopped gridloop cleanly (exit status 0)", 'gl_gridloop_status=0' in res,
      [x for x in res.splitlines() if 'status' in x])
check("gridloop said it is back when plugged in again", 'controller back' in log,
      ' | '.join(x for x in log.splitlines() if 'controller' in x)[:400])
m2 = parse(rd('m2.bin'))
check("after reconnection the intro SysEx arrived again", INTRO in m2,
      '%d bytes came' % len(rd('m2.bin')))
# At SIGTERM gridloop leaves the controller as it found it: every LED dark,
# then the introduction with mode 40 (Generic). What the LEDs showed while
# it ran is what came before that.
OUTRO = (0xF0, 0x47, 0x7F, 0x73, 0x60, 0x00, 0x04, 0x40, 0x01, 0x00, 0x00, 0xF7)
k = len(m2) - 1 - m2[::-1].index(OUTRO) if OUTRO in m2 else len(m2)
# the farewell's dark LEDs come right before the outro: the run's state is
# the last value of each LED before the farewell began
live = leds(m2[:k])
farewell_from = len(live)
while farewell_from > 0 and live[farewell_from - 1][2] == 0:
    farewell_from -= 1
last = {}
for c, n, v in live[:farewell_from]:
    last[(c, n)] = v
for c, n, v in live[farewell_from:]:
    last.setdefault((c, n), v)
dark = {}
for c, n, v in live:
    dark[(c, n)] = v
check("at SIGTERM every LED went dark, then the outro put the APC40 back in Generic mode (F0 47 7F 73 60 00 04 40 01 00 00 F7)",
      OUTRO in m2 and all(v == 0 for v in dark.values()) and dark,
      'outro %s, lit at the end: %s' % (OUTRO in m2, {('%02x %02x' % (0x90 | p[0], p[1])): v for p, v in dark.items() if v}))
want = {p: 0 for p in PADS}
want[(1, 53)] = 1
check("after reconnection every visible pad's LED came back (40 pads: 91 35 01 for track 1 scene 5 playing, the rest off)",
      all(last.get(p) == want[p] for p in PADS),
      'wrong or missing: %s' % {('%02x %02x' % (0x90 | p[0], p[1])): last.get(p) for p in PADS if last.get(p) != want[p]})
check("after reconnection the buttons came back: scene 5 on (90 52 01), scenes 6..9 off (53..56), record arm off (MIDI OVERDUB, 40)",
      [last.get((0, n)) for n in (82, 83, 84, 85, 86, 0x40)] == [1, 0, 0, 0, 0, 0],
      'got %s' % {'%02x' % n: last.get((0, n)) for n in (82, 83, 84, 85, 86, 0x40)})

def rms(name):
    d = rd(name)
    s = array.array('f'); s.frombytes(d[:len(d) // 4 * 4])
    return (math.sqrt(sum(x * x for x in s) / len(s)) if len(s) else -1), len(s) // 2
r0, n0 = rms('before.raw')
r1, n1 = rms('playing.raw')
# A wrong level is a skip, said as such, only where the board lost an audio
# device (gridloop's, or the musician's aplay: EIO when a busy host stalls
# the emulation); never a pass.
lost = log.count('audio device lost')
tone = rd('audio.log').decode(errors='replace').count('error')
def audio_check(what, cond):
    if not cond and (lost or tone):
        print('skip %s: the board lost gridloop\'s audio device %d times, the musician\'s %d times (a busy host)'
              % (what, lost, tone))
    else:
        check(what, cond)
audio_check("audio: gridloop's output is silent before the first take (RMS %.4f, %d frames)" % (r0, n0), n0 > 0 and r0 < 1e-4)
audio_check("audio: the recorded loop plays (output RMS %.3f over %d frames; expected 0.354: the 0.5 tone of input 1, a mono track on both channels)" % (r1, n1),
      n1 > 0 and abs(r1 - 0.354) < 0.03)
PY
# KEEP_OUT=DIR keeps what came back from the board (m1.bin, m2.bin: the
# bytes gridloop sent the controller; gl.log; the audio) for a look.
[ -z "${KEEP_OUT:-}" ] || { mkdir -p "$KEEP_OUT" && cp -r "$tmp/out/." "$KEEP_OUT/"; }
tally "$tmp/checks.txt" || true
if [ "$h_failed" != 0 ] && [ -d "$tmp/out" ]; then
	echo "--- gridloop's log (controller lines and the end):"
	grep -i 'controller\|error\|sequencer\|xrun' "$tmp/out/gl.log" 2>/dev/null | head -n 20 | sed 's/^/  | /'
	tail -n 5 "$tmp/out/gl.log" 2>/dev/null | sed 's/^/  | /'
fi
summary
