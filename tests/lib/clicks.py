"""clicks.py -- the click onsets of a two-channel recording of two gridloops'
metronomes side by side (scripts/test-link on JACK, tests/vm/link.sh on the
virtual board's snd-aloop), and how far apart they are. One copy of the
onset rule for both; the WAV is read by cardfiles.read_wav, the one reader.

  python3 clicks.py WAV

An onset is the first sample whose magnitude passes 3000/32768 (-21 dBFS)
after at least 100 ms below it. For each onset of channel 0 (A) the
nearest onset of channel 1 (B) is taken, B's frame less A's. Prints:

  onsets NA NB
  onset_diff_ms MEDIAN          (when both have onsets)
  onset_diff_worst_ms WORST     (the largest magnitude)
  onset_diffs_frames D1 D2 ...  (each of A's clicks, in order)
  onset_gaps_a G1 G2 ...        (frames from each of A's onsets to the next)
  onset_gaps_b G1 G2 ...        (B's)

Exit status 0; 1 when the file cannot be read (the reason on stderr).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cardfiles import Fail, read_wav  # noqa: E402 (the one WAV reader)

LOUD = 3000 / 32768.0


def onsets(x, rate):
    """The onset frames of one channel's samples x."""
    on, last = [], -rate
    for i, v in enumerate(x):
        if abs(v) > LOUD:
            if i - last > rate // 10:
                on.append(i)
            last = i
    return on


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: clicks.py WAV\n")
        return 2
    try:
        w = read_wav(argv[1])
    except (OSError, Fail) as e:
        sys.stderr.write("clicks.py: %s\n" % e)
        return 1
    if w.channels < 2:
        sys.stderr.write("clicks.py: %s: %d channel(s), 2 wanted\n" % (argv[1], w.channels))
        return 1
    a, b = onsets(w.chans[0], w.rate), onsets(w.chans[1], w.rate)
    print("onsets %d %d" % (len(a), len(b)))
    if a and b:
        d = [min((j - i for j in b), key=abs) for i in a]
        s = sorted(d)
        print("onset_diff_ms %.3f" % (s[len(s) // 2] * 1000.0 / w.rate))
        print("onset_diff_worst_ms %.3f" % (max(abs(v) for v in d) * 1000.0 / w.rate))
        print("onset_diffs_frames %s" % " ".join(str(v) for v in d))
    for name, on in (("a", a), ("b", b)):
        if len(on) > 1:
            print("onset_gaps_%s %s" % (name, " ".join(str(j - i) for i, j in zip(on, on[1:]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
