#!/usr/bin/env python3
"""fixture.py -- input signals and the expected output for scripts/test-alsa.

The expected output is computed here from the input file and from what
tests/alsa/set.txt asks for, independently of the firmware: a model of the
looper written from the rules, not from the code.

  fixture.py signal IN FORMAT WAV      the set's input: ch 1 noise, ch 2 a WAV
  fixture.py impulse IN FORMAT AT      silence with one impulse on ch 1
  fixture.py constant IN FRAMES        FLOAT, 0.5 on ch 1, FRAMES long
  fixture.py first-sound OUT FORMAT    index of the first frame that is not 0
  fixture.py last-sound OUT FORMAT     index of the last frame that is not 0
  fixture.py expect IN OUT FORMAT PREFILL LATENCY
                                       compare OUT with the model, sample for
                                       sample; exit 0 when equal
  fixture.py expect-stalls IN OUT PREFILL LATENCY FROM END [STALL..]
                                       tests/alsa/replug.txt through stalls
                                       ridden out as xruns (restart, prefill)
  fixture.py expect-replug IN OUT1 OUT2 PREFILL LATENCY UNPLUG END
                                       the same for tests/alsa/replug.txt,
                                       whose device is lost at frame UNPLUG:
                                       OUT1 before, OUT2 after (FLOAT)

Files are raw interleaved stereo in FORMAT: FLOAT (float32), S32, S24_3LE
or S16, little-endian: what alsa-lib's file plugin reads and writes. The
WAV is read by tests/lib/cardfiles.py, the checkers' one WAV reader.
Standard library only.
"""
import array
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cardfiles  # noqa: E402  (the one WAV reader)

RATE = 48000
FRAMES = 490000  # input frames: a little more than the set's 480000
BAR = 48000  # 240 BPM in 4/4 at 48 kHz: the tempo the set sets at frame 0
WAV_AT = 150000  # where the WAV starts on channel 2 (inside track 1's take)

BITS = {"S16": 16, "S24_3LE": 24, "S32": 32}


def f32(x):
    """x rounded to the nearest float32, as C's (float) does."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def lcg(seed):
    """Deterministic noise in [-0.25, 0.25)."""
    state = seed
    while True:
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        yield ((state >> 8) / 16777216.0 - 0.5) * 0.5


def encode(samples, fmt):
    """Floats in [-1, 1) to raw bytes: integers are round(x * 2^(bits-1)),
    clamped; the firmware reads them back as int / 2^(bits-1)."""
    if fmt == "FLOAT":
        return array.array("f", samples).tobytes()
    scale = 1 << (BITS[fmt] - 1)
    ints = [max(-scale, min(scale - 1, round(x * scale))) for x in samples]
    if fmt == "S16":
        return array.array("h", ints).tobytes()
    if fmt == "S32":
        return array.array("i", ints).tobytes()
    return b"".join(struct.pack("<i", v)[:3] for v in ints)


def decode(data, fmt):
    """Raw bytes to the floats the firmware computes from them."""
    if fmt == "FLOAT":
        return list(array.array("f", data))
    scale = float(1 << (BITS[fmt] - 1))
    if fmt == "S16":
        return [v / scale for v in array.array("h", data)]
    if fmt == "S32":
        return [f32(v / scale) for v in array.array("i", data)]
    vals = []
    for i in range(0, len(data) - 2, 3):
        v = data[i] | data[i + 1] << 8 | data[i + 2] << 16
        vals.append((v - (1 << 24) if v & 0x800000 else v) / scale)
    return vals


def ints(data, fmt):
    """Raw output bytes as comparable numbers (floats for FLOAT)."""
    if fmt == "FLOAT":
        return list(array.array("f", data))
    if fmt == "S16":
        return list(array.array("h", data))
    if fmt == "S32":
        return list(array.array("i", data))
    out = []
    for i in range(0, len(data) - 2, 3):
        v = data[i] | data[i + 1] << 8 | data[i + 2] << 16
        out.append(v - (1 << 24) if v & 0x800000 else v)
    return out


def quantise(x, fmt):
    """What the firmware writes for the float x: the float itself, or
    lrint(x * 2^(bits-1)) clamped (round half to even, like lrint)."""
    if fmt == "FLOAT":
        return f32(x)
    scale = 1 << (BITS[fmt] - 1)
    return max(-scale, min(scale - 1, round(x * scale)))


def write_stereo(path, left, right, fmt):
    inter = [0.0] * (2 * len(left))
    inter[0::2] = left
    inter[1::2] = right
    with open(path, "wb") as f:
        f.write(encode(inter, fmt))


def cmd_signal(path, fmt, wav_path):
    noise = lcg(12345)
    left = [next(noise) for _ in range(FRAMES)]
    quiet = lcg(777)
    right = [0.2 * next(quiet) for _ in range(FRAMES)]
    try:
        w = cardfiles.read_wav(wav_path)
    except (OSError, cardfiles.Fail) as e:
        sys.exit("fixture: %s" % e)
    if w.kind != "pcm16" or w.channels != 1:
        sys.exit("fixture: %s is not 16-bit mono" % wav_path)
    for i, v in enumerate(w.chans[0]):  # v: the 16-bit sample / 32768
        if WAV_AT + i < FRAMES:
            right[WAV_AT + i] += 0.5 * v
    write_stereo(path, left, right, fmt)


def cmd_impulse(path, fmt, at):
    left = [0.0] * FRAMES
    left[at] = 0.5
    write_stereo(path, left, [0.0] * FRAMES, fmt)


def cmd_constant(path, frames):
    write_stereo(path, [0.5] * frames, [0.0] * frames, "FLOAT")


def cmd_last_sound(path, fmt):
    with open(path, "rb") as f:
        vals = ints(f.read(), fmt)
    last = -1
    for i, v in enumerate(vals):
        if v != 0:
            last = i // 2
    print(last)
    return 0


def cmd_first_sound(path, fmt):
    with open(path, "rb") as f:
        vals = ints(f.read(), fmt)
    for i, v in enumerate(vals):
        if v != 0:
            print(i // 2)
            return 0
    print(-1)
    return 0


def model(in0, in1, lat, frames):
    """The engine's output, frames 0..frames-1 (mono clips: both channels).

    tests/alsa/set.txt, with fade 0, quantise bar, a bar of 48000 frames:
      @40000  press track 0 (a MIDI pad) -> records from bar 1 (48000)
      @96000  press track 0              -> the take ends on the bar: one
                                            bar, A, looping from 96000
      @100000 press track 1 scene 1      -> records from 144000
      @200000 press track 1 scene 1      -> ends at the next whole bar from
                                            its start, 240000: two bars, B,
                                            looping from 240000
      @240000 / @288000 overdub track 0  -> one pass summed into A
      @340000 scene 1                    -> at 384000: track 0 stops (its
                                            scene-1 slot is empty), track 1
                                            starts B again from its start
      @400000 stop                       -> at 432000: all stops
    A recording holds the input from its start + latency to its end +
    latency. The overdub adds input frame t to loop position
    (t - latency - launch) mod length, heard a pass later. Output is the
    sum of the tracks, track 0 first, in float32.
    """
    a = array.array("f", in0[BAR + lat:2 * BAR + lat])
    b = array.array("f", in1[3 * BAR + lat:5 * BAR + lat])
    a_dub = array.array("f", a)
    for p in range(BAR):
        a_dub[p] = a[p] + in0[5 * BAR + lat + p]  # stored as float32
    out = [0.0] * frames
    for f in range(frames):
        t0 = 0.0
        if 2 * BAR <= f < 8 * BAR:
            t0 = (a_dub if f >= 6 * BAR else a)[(f - 2 * BAR) % BAR]
        t1 = 0.0
        if 5 * BAR <= f < 8 * BAR:
            t1 = b[(f - 5 * BAR) % (2 * BAR)]
        elif 8 * BAR <= f < 9 * BAR:
            t1 = b[(f - 8 * BAR) % (2 * BAR)]
        out[f] = f32(t0 + t1)
    return out


def cmd_expect(in_path, out_path, fmt, prefill, lat):
    with open(in_path, "rb") as f:
        inter = decode(f.read(), fmt)
    in0, in1 = inter[0::2], inter[1::2]
    frames = 10 * BAR  # the set's exit frame
    want = [0] * prefill + [quantise(x, fmt) for x in model(in0, in1, lat, frames)]
    with open(out_path, "rb") as f:
        got = ints(f.read(), fmt)
    if len(got) != 2 * len(want):
        print("output has %d frames, expected %d (%d prefill + %d)"
              % (len(got) // 2, len(want), prefill, frames))
        return 1
    bad = 0
    for i, w in enumerate(want):
        for ch in (0, 1):
            g = got[2 * i + ch]
            if g != w:
                if bad < 5:
                    print("frame %d (engine frame %d) channel %d: got %r, expected %r"
                          % (i, i - prefill, ch, g, w))
                bad += 1
    if bad:
        print("%d samples differ" % bad)
        return 1
    # A model that expects silence everywhere would pass a silent program.
    loud = sum(1 for w in want if w != 0)
    if loud < 6 * BAR:
        print("the model is mostly silence (%d frames): broken fixture" % loud)
        return 1
    print("%d frames equal, %d of them with sound" % (len(want), loud))
    return 0


def compare(got, want, what):
    """Sample-for-sample comparison of stereo output with a mono model."""
    if len(got) != 2 * len(want):
        print("%s has %d frames, expected %d" % (what, len(got) // 2, len(want)))
        return 1
    bad = 0
    for i, w in enumerate(want):
        for ch in (0, 1):
            if got[2 * i + ch] != w:
                if bad < 5:
                    print("%s frame %d channel %d: got %r, expected %r"
                          % (what, i, ch, got[2 * i + ch], w))
                bad += 1
    if bad:
        print("%s: %d samples differ" % (what, bad))
    return 1 if bad else 0


def cmd_expect_replug(in_path, out1, out2, prefill, lat, unplug, end):
    """tests/alsa/replug.txt: a one-bar take on track 0 from 48000, looping
    from 96000. The device goes at engine frame `unplug` and comes back; the
    engine carries on from that frame, so the reopened device's file is its
    own prefill, then the loop from exactly where it was."""
    with open(in_path, "rb") as f:
        in0 = decode(f.read(), "FLOAT")[0::2]
    a = array.array("f", in0[BAR + lat:2 * BAR + lat])

    def loop(f):
        return a[(f - 2 * BAR) % BAR] if f >= 2 * BAR else 0.0

    want1 = [0.0] * prefill + [loop(f) for f in range(unplug)]
    want2 = [0.0] * prefill + [loop(f) for f in range(unplug, end)]
    with open(out1, "rb") as f:
        got1 = ints(f.read(), "FLOAT")
    with open(out2, "rb") as f:
        got2 = ints(f.read(), "FLOAT")
    if compare(got1, want1, "before") or compare(got2, want2, "after"):
        return 1
    print("%d frames before, %d after: equal" % (len(want1), len(want2)))
    return 0


def cmd_expect_stalls(in_path, out, prefill, lat, start, end, stalls):
    """tests/alsa/replug.txt from engine frame `start` to `end` (a device
    file: its prefill first), the device stalled (an xrun) at each engine
    frame of `stalls`: there the restart's own prefill of silence, and the
    loop going on from exactly the frame it was at."""
    with open(in_path, "rb") as f:
        in0 = decode(f.read(), "FLOAT")[0::2]
    a = array.array("f", in0[BAR + lat:2 * BAR + lat])

    def loop(f):
        return a[(f - 2 * BAR) % BAR] if f >= 2 * BAR else 0.0

    want = [0.0] * prefill
    at = start
    for s in stalls:
        want += [loop(f) for f in range(at, s)] + [0.0] * prefill
        at = s
    want += [loop(f) for f in range(at, end)]
    with open(out, "rb") as f:
        got = ints(f.read(), "FLOAT")
    if compare(got, want, out):
        return 1
    print("%d frames, %d stalls: equal" % (len(want), len(stalls)))
    return 0


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "signal" and len(argv) == 5:
        return cmd_signal(argv[2], argv[3], argv[4])
    if cmd == "impulse" and len(argv) == 5:
        return cmd_impulse(argv[2], argv[3], int(argv[4]))
    if cmd == "constant" and len(argv) == 4:
        return cmd_constant(argv[2], int(argv[3]))
    if cmd == "last-sound" and len(argv) == 4:
        return cmd_last_sound(argv[2], argv[3])
    if cmd == "first-sound" and len(argv) == 4:
        return cmd_first_sound(argv[2], argv[3])
    if cmd == "expect-stalls" and len(argv) >= 8:
        return cmd_expect_stalls(argv[2], argv[3], *map(int, argv[4:8]),
                                 [int(x) for x in argv[8:]])
    if cmd == "expect-replug" and len(argv) == 9:
        return cmd_expect_replug(argv[2], argv[3], argv[4], *map(int, argv[5:9]))
    if cmd == "expect" and len(argv) == 7:
        return cmd_expect(argv[2], argv[3], argv[4], int(argv[5]), int(argv[6]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
