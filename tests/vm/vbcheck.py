#!/usr/bin/env python3
"""vbcheck.py -- inputs and checks for the real gridloop on the virtual board
(tests/vm/gridloop.sh, scripts/bench-vb). Standard library only.

The expected output of the scripted set comes from tests/alsa/fixture.py's
model of the looper, written from the rules and not from the firmware, the
same model scripts/test-alsa checks the file-plugin runs against.

  vbcheck.py impulse DIR
      DIR/impulse.raw   1.5 s of silence with 5 impulses on channel 1
      DIR/monitor.txt   a script that monitors track 0's input
  vbcheck.py inputs DIR LEAD
      the same, and
      DIR/signal.raw    LEAD frames of silence, then fixture.py's signal
                        (noise on channel 1, quiet noise and a WAV on 2)
      DIR/set.txt       tests/alsa/set.txt with every command LEAD frames
                        later (the tempo stays at frame 0) and no exit line
  vbcheck.py roundtrip OUT.raw
      the delay of each impulse in OUT, in frames, one line
  vbcheck.py set IN.raw OUT.raw LATENCY LEAD
      ok/FAIL/info lines (tests/lib/checks.py) for the set's output

Files are raw float32 stereo, 48 kHz. OUT frame k of vb_duplex was recorded
at the instant IN frame k was played (tests/tools/vb_duplex.c).
"""
import array
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "alsa"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import checks  # noqa: E402  (the harness's result lines)
import fixture  # noqa: E402  (tests/alsa/fixture.py)

BAR = fixture.BAR
IMPULSES = [4800 + k * 9637 for k in range(5)]
IMPULSE_FRAMES = 72000
WAV = "/usr/share/sounds/alsa/Front_Center.wav"
SET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "alsa", "set.txt")


def read_raw(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return a


def write_raw(path, left, right):
    inter = array.array("f", bytes(8 * len(left)))
    inter[0::2] = array.array("f", left)
    inter[1::2] = array.array("f", right)
    with open(path, "wb") as f:
        f.write(inter.tobytes())


def cmd_impulse(d):
    left = [0.0] * IMPULSE_FRAMES
    for at in IMPULSES:
        left[at] = 0.5
    write_raw(os.path.join(d, "impulse.raw"), left, [0.0] * IMPULSE_FRAMES)
    with open(os.path.join(d, "monitor.txt"), "w") as f:
        f.write("@0 monitor 0 on\n")
    return 0


def cmd_inputs(d, lead):
    cmd_impulse(d)
    tmp = os.path.join(d, "signal.tmp")
    fixture.cmd_signal(tmp, "FLOAT", WAV)
    sig = read_raw(tmp)
    os.remove(tmp)
    with open(os.path.join(d, "signal.raw"), "wb") as f:
        f.write(bytes(8 * lead))
        f.write(sig.tobytes())
    out = []
    with open(SET) as f:
        for line in f:
            words = line.split()
            if words and words[0].startswith("@"):
                frame = int(words[0][1:])
                if len(words) > 1 and words[1] == "exit":
                    continue
                if frame > 0:
                    line = "@%d%s" % (frame + lead, line[len(words[0]):])
            out.append(line)
    with open(os.path.join(d, "set.txt"), "w") as f:
        f.writelines(out)
    return 0


def cmd_roundtrip(path):
    out = read_raw(path)[0::2]
    delays = []
    for at in IMPULSES:
        # The first sound after the impulse was played, within 0.1 s.
        hit = next((k for k in range(at, min(len(out), at + 4800)) if out[k] != 0), None)
        delays.append(str(hit - at) if hit is not None else "none")
    print(" ".join(delays))
    return 0


def cmd_set(in_path, out_path, lat, lead):
    inter = read_raw(in_path)
    in0, in1 = inter[0::2], inter[1::2]
    got = read_raw(out_path)
    out0, out1 = got[0::2], got[1::2]
    n = len(out0)
    results = []

    def check(ok, what):
        results.append(checks.line(ok, what))

    # Where take A (one bar recorded at engine frame lead + BAR) starts to
    # play: the first sound. Before it nothing plays (no monitoring).
    x0 = next((k for k in range(n) if out0[k] != 0 or out1[k] != 0), None)
    if x0 is None:
        check(False, "the set's output has sound (it is all silence)")
        return results
    start = lead + 2 * BAR  # the engine frame A starts at
    # Engine frame f is OUT frame f + lat - eps, where eps is how many frames
    # later than vb_duplex's sync aimed at input frame i reached gridloop.
    eps = start + lat - x0
    results.append(checks.info("the loop starts at output frame %d: engine frame %d + round trip %d%s"
                   % (x0, start, lat, "" if eps == 0 else
                      " - %d (the input reached gridloop %d frames later than vb_duplex aimed)"
                      % (eps, eps))))
    if x0 < BAR or x0 + 3 * BAR > n:
        check(False, "the loop starts where the set says (output frame %d)" % x0)
        return results

    # 1. What was played comes back exactly one loop later: the take is the
    # input from its start + latency, as the player heard it.
    seg = [k for k in range(x0, x0 + BAR) if out0[k] != in0[k - BAR] or out1[k] != in0[k - BAR]]
    check(not seg, "the recorded loop, as it comes out, is the input of its bar (record start"
          " + latency %d .. + %d frames) sample for sample%s"
          % (lat, BAR, "" if not seg else ": %d frames differ, first at %d" % (len(seg), seg[0])))
    # 2. It repeats with a period of exactly one bar, three times over.
    rep = [k for k in range(x0, x0 + 2 * BAR) if out0[k + BAR] != out0[k] or out1[k + BAR] != out1[k]]
    check(not rep, "the loop repeats with a period of %d frames (3 passes)%s"
          % (BAR, "" if not rep else ": %d frames differ, first at %d" % (len(rep), rep[0])))
    quiet = all(out0[k] == 0 and out1[k] == 0 for k in range(x0 - BAR, x0))
    check(quiet, "silence for the bar before the loop starts (nothing plays before its frame)")

    # 3. The whole set against the model: engine input frame t is IN frame
    # t - eps, engine output frame f is OUT frame f + lat - eps.
    frames = 10 * BAR
    e0 = [in0[t - eps] if 0 <= t - eps < len(in0) else 0.0 for t in range(lead, lead + frames + 2 * BAR)]
    e1 = [in1[t - eps] if 0 <= t - eps < len(in1) else 0.0 for t in range(lead, lead + frames + 2 * BAR)]
    want = fixture.model(e0, e1, lat, frames)
    bad = 0
    first = None
    compared = 0
    for f in range(frames):
        k = lead + f + lat - eps
        if k >= n:
            break
        compared += 1
        if out0[k] != want[f] or out1[k] != want[f]:
            bad += 1
            if first is None:
                first = (f, out0[k], want[f])
    loud = sum(1 for w in want if w != 0)
    check(bad == 0 and compared == frames and loud >= 6 * BAR,
          "the whole set (record, loop, overdub, second track, scene launch, stop) equals"
          " fixture.py's model sample for sample (%d frames, %d with sound)%s"
          % (compared, loud, "" if not bad else ": %d differ, first at engine frame %d"
             " (got %r, expected %r)" % (bad, lead + first[0], first[1], first[2])))
    return results


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "impulse" and len(argv) == 3:
        return cmd_impulse(argv[2])
    if cmd == "inputs" and len(argv) == 4:
        return cmd_inputs(argv[2], int(argv[3]))
    if cmd == "roundtrip" and len(argv) == 3:
        return cmd_roundtrip(argv[2])
    if cmd == "set" and len(argv) == 6:
        for line in cmd_set(argv[2], argv[3], int(argv[4]), int(argv[5])):
            print(line)
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
