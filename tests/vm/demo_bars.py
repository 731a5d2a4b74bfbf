#!/usr/bin/env python3
"""demo_bars.py -- scripts/demo's live view of the set on the virtual board.

  ... | demo_bars.py SET.txt LOG

Reads the board's output line by line as it arrives (gridloop -v logs every
engine event with its frame: clip states, takes, tempo, bars) and prints,
bar by bar, the state of every clip, with the set's steps (the comments of
SET.txt, gridloop's --script) where they fall. Everything read is also
written to LOG. Standard library only.
"""
import re
import sys

RATE = 48000
STATE = {"empty": None, "record queued": "rec-queued", "recording": "RECORDING",
         "play queued": "play-queued", "playing": "playing", "overdubbing": "OVERDUB",
         "stop queued": "stop-queued", "stopped": "stopped"}
EVENT = re.compile(r"^gridloop: @(\d+) (.*)$")


def steps_of(path):
    steps = []
    with open(path) as f:
        for line in f:
            m = re.match(r"^@(\d+)\s+([^#]*?)\s*(?:#\s*(.*))?$", line.strip())
            if m:
                steps.append((int(m.group(1)), m.group(3) or m.group(2)))
    return steps


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    steps = steps_of(argv[1])
    log = open(argv[2], "w")
    clips = {}
    tempo = 0.0
    nxt = 0

    def say(text):
        print(text, flush=True)

    def steps_until(frame):
        nonlocal nxt
        while nxt < len(steps) and steps[nxt][0] < frame:
            say("           %6.2fs  > %s" % (steps[nxt][0] / RATE, steps[nxt][1]))
            nxt += 1

    for line in sys.stdin:
        log.write(line)
        log.flush()
        line = line.rstrip("\n")
        m = EVENT.match(line)
        if not m:
            say(line)
            continue
        frame, what = int(m.group(1)), m.group(2)
        t = frame / RATE
        clip = re.match(r"track (\d+) scene (\d+): (.*)$", what)
        if clip:
            key = (int(clip.group(1)) + 1, int(clip.group(2)) + 1)
            rest = clip.group(3)
            took = re.match(r"recorded (\d+) frames", rest)
            if took:
                steps_until(frame + 1)
                say("           %6.2fs  take %d.%d done: %.3f s" % (t, key[0], key[1],
                                                                   int(took.group(1)) / RATE))
            elif rest in STATE:
                clips[key] = STATE[rest]
            elif rest == "overdub pass done":
                pass
            else:
                steps_until(frame + 1)
                say("           %6.2fs  %d.%d: %s" % (t, key[0], key[1], rest))
            continue
        bar = re.match(r"bar (\d+)$", what)
        if bar:
            steps_until(frame + 1)
            states = " ".join("%d.%d:%s" % (k[0], k[1], v) for k, v in sorted(clips.items()) if v)
            say("bar %3d  %6.2fs  %5.1f BPM | %s" % (int(bar.group(1)), t, tempo, states))
            continue
        tm = re.match(r"tempo ([\d.]+) BPM", what)
        if tm:
            tempo = float(tm.group(1))
            steps_until(frame + 1)
            say("           %6.2fs  tempo %.2f BPM" % (t, tempo))
            continue
        steps_until(frame + 1)
        say("           %6.2fs  %s" % (t, what))
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
