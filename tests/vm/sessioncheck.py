#!/usr/bin/env python3
"""sessioncheck.py -- inputs and checks for gridloop's session on the
virtual board's SD card (tests/vm/session.sh, tests/vm/guest/session-run.sh).
Standard library only.

  sessioncheck.py inputs IN GEN
      IN/signal.raw   the musician: SIGNAL_FRAMES of float32 stereo noise
                      (tests/alsa/fixture.py's generator: channel 1 seed
                      12345, channel 2 seed 777), so that every stretch of a
                      few samples of it is found in one place only
      IN/record.txt   boot 1's script: four clips on different tracks and
                      scenes, then (after their save) a longer one
      GEN/in.raw, GEN/s80.txt
                      an offline run of gridloop that records all 80 clips
                      (8 tracks x 10 scenes, one bar at 120 BPM each): its
                      session becomes the 80-clip session on the card
  sessioncheck.py check IN OUT1 OUT2
      ok/FAIL/info lines (tests/lib/checks.py) for both boots, and the boot-to-play figures
      as "vb_boot_...: VALUE" lines
  sessioncheck.py clean OUT1
      "clean" when boot 1's audio ran without xrun or stall during the takes
  sessioncheck.py figures OUT
      the figures of a figures-only run (scripts/bench-vb)

Clips are mono 32-bit float WAV files (session_store.h); engine track t
records input channel t % 2 (tests/alsa/gridloop.conf's [track1], [track2];
the tracks not listed take the inputs in turn).
"""
import array
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "alsa"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import cardfiles  # noqa: E402  (the one WAV reader and manifest loader)
import fixture  # noqa: E402  (tests/alsa/fixture.py)
from checks import Checks  # noqa: E402  (the harness's result lines)

RATE = 48000
BAR = 48000  # 240 BPM, 4/4 (session.conf's tempo)
SIGNAL_FRAMES = 24 * RATE
# boot 1: (track, scene, bars) of the first four clips, then the long one
FIRST = [(0, 0, 1), (1, 1, 1), (3, 0, 1), (2, 2, 2)]
LONG = (4, 3, 9)
RECORD = """# boot 1 of tests/vm/session.sh (240 BPM: a bar is 48000 frames)
@0 tempo 240
@72000 press 0 0     # track 0 scene 0 and track 1 scene 1 record bar 2
@72000 press 1 1
@120000 press 0 0    # both end at 144000, then play
@120000 press 1 1
@168000 press 2 2    # track 2 scene 2 and track 3 scene 0 from 192000
@168000 press 3 0
@216000 press 3 0    # one bar
@264000 press 2 2    # two bars, to 288000; the save follows 1.5 s later
@420000 press 4 3    # the long clip: 9 bars from 432000
@840000 press 4 3    # to 864000: its save is the one the power cut hits
"""
BAR80 = 96000  # the 80-clip session: 120 BPM


def write_raw(path, chans):
    n = len(chans[0])
    inter = array.array("f", bytes(4 * n * len(chans)))
    for c, data in enumerate(chans):
        inter[c::len(chans)] = array.array("f", data)
    with open(path, "wb") as f:
        f.write(inter.tobytes())


def cmd_inputs(ind, gen):
    os.makedirs(ind, exist_ok=True)
    os.makedirs(gen, exist_ok=True)
    a, b = fixture.lcg(12345), fixture.lcg(777)
    write_raw(os.path.join(ind, "signal.raw"),
              [[next(a) for _ in range(SIGNAL_FRAMES)], [next(b) for _ in range(SIGNAL_FRAMES)]])
    with open(os.path.join(ind, "record.txt"), "w") as f:
        f.write(RECORD)
    frames = 22 * BAR80
    c, d = fixture.lcg(4242), fixture.lcg(2424)
    write_raw(os.path.join(gen, "in.raw"),
              [[next(c) for _ in range(frames)], [next(d) for _ in range(frames)]])
    lines = ["@0 tempo 120"]
    for s in range(10):
        lines += ["@%d press %d %d" % (2 * s * BAR80 + BAR80 // 2, t, s) for t in range(8)]
        lines += ["@%d press %d %d" % ((2 * s + 1) * BAR80 + BAR80 // 2, t, s) for t in range(8)]
    lines.append("@%d exit" % (21 * BAR80))
    with open(os.path.join(gen, "s80.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


# ---- reading what came back ------------------------------------------------


def rd(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return b"" if "b" in mode else ""


def values(path):
    r = {}
    for line in rd(path).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            r[k] = v
    return r


def read_wav(path):
    """The float WAV at `path` (tests/lib/cardfiles.py's reader), or a string
    saying what is wrong with the file."""
    try:
        w = cardfiles.read_wav(path)
    except (OSError, cardfiles.Fail) as e:
        return str(e)
    if w.kind != "float":
        return "not 32-bit float (%s)" % w.kind
    return w


def load_manifest(d):
    """(manifest, its clips by (track, scene), "") or (None, {}, why)."""
    try:
        m = cardfiles.load_manifest(d)
        return m, cardfiles.clip_slots(m), ""
    except (OSError, ValueError) as e:
        return None, {}, "%s: %s" % (os.path.join(d, cardfiles.MANIFEST), e)


def excerpt_at(signal, samples):
    """Where `samples` (a float32 array) stands in `signal` (float32 array)
    as one unbroken stretch, or -1."""
    if len(samples) < 16:
        return -1
    hay = signal.tobytes()
    needle = samples[:64].tobytes()
    at = hay.find(needle)
    while at >= 0 and at % 4:
        at = hay.find(needle, at + 1)
    if at < 0:
        return -1
    i = at // 4
    if i + len(samples) > len(signal):
        return -1
    return i if signal[i:i + len(samples)] == samples else -1


# ---- the controller's LEDs ----------------------------------------------------

INTRO = bytes.fromhex("F0477F7360000441010000F7")
PADS = [(t, s) for t in range(8) for s in range(5)]  # the APC40's window: scenes 0..4


def led_stream(path):
    """amidi -d -T lines "STAMP) HEX" (or "  HEX": running status, stamped
    like the message before) -> [(stamp, byte)...]"""
    out, t = [], 0.0
    for line in rd(path).splitlines():
        if ")" in line:
            stamp, line = line.split(")", 1)
            try:
                t = float(stamp)
            except ValueError:
                continue
        try:
            bs = bytes.fromhex(line.replace(" ", ""))
        except ValueError:
            continue
        out += [(t, b) for b in bs]
    return out


OUTRO = bytes.fromhex("F0477F7360000440010000F7")  # at exit: back to Generic mode


def led_states(stream):
    """-> list of (uptime, {(track, scene): velocity}) after each pad note,
    counted from the last introduction SysEx (the controller's state since
    gridloop took it over) up to gridloop's farewell: at exit it turns every
    LED dark and then sends the outro, so the trailing dark notes before the
    outro are the farewell, not the session's state."""
    data = bytes(b for _, b in stream)
    start = data.rfind(INTRO)
    if start < 0:
        return []
    end = data.find(OUTRO, start)
    farewell = end >= 0
    state, out, status, cur = {}, [], None, []
    for t, b in stream[start + len(INTRO):end if farewell else len(stream)]:
        if b >= 0xF8:
            continue
        if b & 0x80:
            status, cur = (b if b < 0xF0 else None), []
            continue
        if status is None:
            continue
        cur.append(b)
        need = 1 if status & 0xF0 in (0xC0, 0xD0) else 2
        if len(cur) == need:
            kind, ch = status & 0xF0, status & 15
            if kind in (0x80, 0x90) and 53 <= cur[0] <= 57:
                state[(ch, cur[0] - 53)] = 0 if kind == 0x80 else cur[1]
                out.append((t, dict(state), 0 if kind == 0x80 else cur[1]))
            cur = []
    if farewell:  # the state the session left: before the farewell's dark run
        k = len(out)
        while k > 0 and out[k - 1][2] == 0:
            k -= 1
        if k > 0:  # (all dark from the start: the session's state was all off)
            out = out[:k] + [(t, dict(out[k - 1][1]), v) for t, _, v in out[k:]]
    return [(t, st) for t, st, _ in out]


def leds_ready(stream, want):
    """The uptime at which the 40 visible pads first showed `want`
    ({pad: velocity}, the rest off), and the final state."""
    states = led_states(stream)
    full = {p: want.get(p, 0) for p in PADS}
    when = next((t for t, st in states if all(st.get(p) == v for p, v in full.items())), None)
    return when, (states[-1][1] if states else {})


def show_pads(st):
    return " ".join("t%ds%d=%s" % (t, s, st.get((t, s))) for t, s in PADS if st.get((t, s)))


# ---- the checks -----------------------------------------------------------------


def figure(log, pattern):
    m = re.search(pattern, log)
    return m.group(1) if m else None


def boot_figures(c, out, res, name, clips):
    """The boot-to-play figures of one run; functional checks only."""
    log = rd(os.path.join(out, "gl-%s.log" % name))
    first = figure(log, r"first period done ([0-9.]+) ms after start")
    label = "empty" if clips == 0 else "%dclips" % clips
    c.check(first is not None, "%s: audio ran (gridloop's first period)" % label,
            "no 'first period done' line in its log")
    figs = {"vb_boot_first_audio_ms_" + label: first}
    launch = res.get(name + "_launch")
    stream = led_stream(os.path.join(out, "leds-%s.txt" % name))
    if clips:
        m = re.search(r"session restored from (\S+): (\d+) of (\d+) clips read in (\d+) ms after start "
                      r"\((\d+) skipped\)", log)
        c.check(m is not None and m.group(2) == m.group(3) == str(clips) and m.group(5) == "0",
                "%s: all %d clips restored, none skipped" % (label, clips),
                m.group(0) if m else "no 'session restored' line")
        figs["vb_boot_restored_ms_" + label] = m.group(4) if m else None
        want = {p: 5 for p in PADS}
    else:
        want = {}
    when, last = leds_ready(stream, want)
    c.check(when is not None, "%s: the controller's 40 visible pads show the session (%s)"
            % (label, "amber, stopped, on all" if clips else "all off"),
            "last LEDs: %s" % (show_pads(last) or "all off or none"))
    if when is not None and launch:
        figs["vb_boot_leds_ms_" + label] = "%.0f" % ((when - float(launch)) * 1000)
    return figs


def cmd_check(ind, out1, out2):
    c = Checks()
    sig = array.array("f")
    sig.frombytes(rd(os.path.join(ind, "signal.raw"), "rb"))
    chans = [sig[0::2], sig[1::2]]
    r1, r2 = values(os.path.join(out1, "result.txt")), values(os.path.join(out2, "result.txt"))
    log1 = rd(os.path.join(out1, "gl-record.log"))

    # ---- boot 1: the set, its save, the kill in the middle of the next one
    m1, clips1, err = load_manifest(os.path.join(out1, "saved1"))
    want1 = {(t, s): bars for t, s, bars in FIRST}
    c.check("session saved: 4 clips" in log1 and m1 is not None
            and {k: v.get("frames") for k, v in clips1.items()} == {k: b * BAR for k, b in want1.items()},
            "boot 1: gridloop recorded 4 clips (%s) and saved them to /sd/session by itself"
            % ", ".join("track %d scene %d %d bar%s" % (t, s, b, "s" if b > 1 else "") for t, s, b in FIRST),
            err or "saved: %s" % {k: v.get("frames") for k, v in clips1.items()})
    saving = [x for x in log1.splitlines() if "saving the session" in x or "session saved" in x]
    tmpname = r1.get("kill_tmp")
    at_kill = rd(os.path.join(out1, "at-kill.txt"))
    size = next((x.split()[4] for x in at_kill.splitlines() if tmpname and x.endswith(" " + tmpname)), "?")
    c.check(tmpname is not None and r1.get("record_gridloop_status") == "137"
            and saving and "saving the session" in saving[-1],
            "boot 1: the long clip's save started and gridloop was SIGKILLed in its middle "
            "(%s being written, %s bytes), then the power was cut" % (tmpname, size),
            "status %s, spins %s, the log's last save lines: %s" % (
                r1.get("record_gridloop_status"), r1.get("kill_spins"), saving[-2:]))
    xr = figure(log1, r"xruns (\d+);")
    c.info("boot 1: the card at the kill:\n" + "\n".join("  | " + x for x in at_kill.splitlines()))

    # ---- boot 2: the restore
    c.info("boot 2: the card after the power cut, before gridloop started:\n" + "\n".join(
        "  | " + x for x in rd(os.path.join(out2, "card-at-boot.txt")).splitlines()))
    log2 = rd(os.path.join(out2, "gl-restore.log"))
    m = re.search(r"session restored from /sd/session: (\d+) of (\d+) clips read in (\d+) ms after start "
                  r"\((\d+) skipped\)", log2)
    n = int(m.group(1)) if m else -1
    c.check(m is not None and m.group(1) == m.group(2) and m.group(4) == "0" and n in (4, 5)
            and "cannot be read" not in log2,
            "boot 2: gridloop restored the last complete session: %s of %s clips, %s skipped, in %s ms"
            % ((m.group(1), m.group(2), m.group(4), m.group(3)) if m else ("?",) * 4),
            m.group(0) if m else "; ".join(x for x in log2.splitlines() if "session" in x)[:400])
    s2 = os.path.join(out2, "session2")
    m2, clips2, err = load_manifest(s2)
    want_a = dict(want1)
    want_b = dict(want1)
    want_b[LONG[:2]] = LONG[2]
    got = {k: v.get("frames") for k, v in clips2.items()}
    which = ("the one saved before the kill (4 clips)" if got == {k: b * BAR for k, b in want_a.items()} else
             "the one the kill interrupted, complete (5 clips)" if got == {k: b * BAR for k, b in want_b.items()}
             else None)
    c.check(m2 is not None and which is not None and len(clips2) == n,
            "boot 2: the session on the card is %s: the manifest parses, its clips are those" % which,
            err or "manifest clips %s" % got)
    files = sorted(os.listdir(s2)) if os.path.isdir(s2) else []
    listed = sorted([v["file"] for v in clips2.values()] + ["session.json"])
    c.check(files == listed, "boot 2: the session directory holds exactly its manifest and the files it lists "
            "(the interrupted save's temporary is gone)", "there: %s; listed: %s" % (files, listed))

    audio = {}
    bad = []
    for (t, s), clip in sorted(clips2.items()):
        w = read_wav(os.path.join(s2, clip["file"]))
        if isinstance(w, str):
            bad.append("%s: %s" % (clip["file"], w))
            continue
        ch, rate, data = w.channels, w.rate, w.chans
        frames = len(data[0])
        if (ch, rate, frames) != (clip.get("channels", 1), RATE, clip["frames"]):
            bad.append("%s: %d ch, %d Hz, %d frames; the manifest: %s" % (clip["file"], ch, rate, frames, clip))
            continue
        audio[(t, s)] = data[0]
    c.check(not bad and len(audio) == len(clips2) > 0,
            "boot 2: every clip file is complete: float WAV, 48000 Hz, mono, as many frames as the manifest says",
            "; ".join(bad))
    bad = []
    for (t, s), a in sorted(audio.items()):
        at = excerpt_at(chans[t % 2], a)
        if at < 0:
            bad.append("track %d scene %d (%d frames) is not one stretch of input %d" % (t, s, len(a), t % 2 + 1))
    c.check(audio and not bad, "boot 2: every clip is what the musician played: one unbroken stretch of "
            "the input its track records, sample for sample", "; ".join(bad) + "; boot 1 xruns %s" % xr)
    bad = []
    for k, clip in sorted(clips1.items()):
        w = read_wav(os.path.join(out1, "saved1", clip["file"]))
        if isinstance(w, str) or k not in audio or w.chans[0] != audio[k]:
            bad.append("track %d scene %d" % k)
    c.check(clips1 and not bad, "boot 2: the 4 clips of boot 1's first save are those boot 1 wrote "
            "(copied off the card then), sample for sample", "differ: %s" % bad)

    # the controller's LEDs: amber (stopped, 5) on exactly the restored clips
    want = {k: 5 for k in clips2 if k[1] < 5}
    when, last = leds_ready(led_stream(os.path.join(out2, "leds-restore.txt")), want)
    c.check(when is not None and all(last.get(p, 0) == want.get(p, 0) for p in PADS),
            "boot 2: the stand-in APC40's LEDs show the restored clips: amber (stopped) on exactly "
            "those pads (%s), the other %d visible pads off"
            % (", ".join("track %d scene %d" % k for k in sorted(want)), len(PADS) - len(want)),
            "last LEDs: %s" % (show_pads(last) or "none lit"))
    launch = r2.get("restore_launch")
    if when is not None and launch:
        c.info("boot 2: the LEDs showed the restored session %.0f ms after gridloop's launch"
               % ((when - float(launch)) * 1000))

    # the export, wavfloat
    ex = os.path.join(out2, "exports")
    folders = sorted(d for d in os.listdir(ex) if os.path.isdir(os.path.join(ex, d))) if os.path.isdir(ex) else []
    outcome = rd(os.path.join(out2, "export.txt"))
    c.check(r2.get("export_status") == "0" and len(folders) == 1 and not folders[0].startswith("."),
            "boot 2: `gridloop export --pid-file` asked the running gridloop and it exported one folder (%s)"
            % (folders[0] if folders else "?"),
            "status %s, folders %s: %s" % (r2.get("export_status"), folders, outcome.strip()[:300]))
    bad = []
    if folders:
        d = os.path.join(ex, folders[0])
        names = {"scene%02d_track%d.wav" % (s + 1, t + 1): (t, s) for t, s in clips2}
        there = sorted(x for x in os.listdir(d) if x.endswith(".wav"))
        if there != sorted(names):
            bad.append("files %s, expected %s" % (there, sorted(names)))
        for name, k in sorted(names.items()):
            w = read_wav(os.path.join(d, name))
            if isinstance(w, str):
                bad.append("%s: %s" % (name, w))
            elif k not in audio or any(chan != audio[k] for chan in w.chans) or w.rate != RATE:
                bad.append("%s: %d ch, %d Hz, %d frames, not the clip's audio"
                           % (name, w.channels, w.rate, len(w.chans[0])))
    c.check(folders and not bad, "boot 2: the exported WAVs (wavfloat) are the clips recorded in boot 1, "
            "sample for sample (and so the musician's input)", "; ".join(bad))

    # ---- the boot-to-play figures
    figs = {}
    figs.update(boot_figures(c, out2, r2, "empty", 0))
    figs.update(boot_figures(c, out2, r2, "s80", 80))
    for line in c.lines:
        print(line)
    print_figures(figs)
    return 0


def print_figures(figs):
    for k in ("vb_boot_first_audio_ms_empty", "vb_boot_first_audio_ms_80clips",
              "vb_boot_restored_ms_80clips", "vb_boot_leds_ms_80clips", "vb_boot_leds_ms_empty"):
        if figs.get(k) is not None:
            print("%s: %s" % (k, figs[k]))


def cmd_figures(out):
    c = Checks()
    r = values(os.path.join(out, "result.txt"))
    figs = {}
    figs.update(boot_figures(c, out, r, "empty", 0))
    figs.update(boot_figures(c, out, r, "s80", 80))
    for line in c.lines:
        if not line.startswith("ok   "):
            print(line, file=sys.stderr)
    print_figures(figs)
    return 0


def cmd_clean(out1):
    """Whether boot 1's audio ran clean while the takes were recorded (no
    xrun, no device error, no underrun of the musician's aplay): prints
    "clean", or what happened. A stalled emulation (a busy host) shows so."""
    log = rd(os.path.join(out1, "gl-record.log"))
    end = (LONG[2] + 9) * BAR + 4096  # the long take's end, and a margin
    why = []
    for m in re.finditer(r"@(\d+) (xrun[^\n]*|audio device error[^\n]*)", log):
        if int(m.group(1)) <= end:
            why.append("gridloop @%s %s" % (m.group(1), m.group(2)))
    for m in re.finditer(r"audio device lost at frame (\d+)", log):
        if int(m.group(1)) <= end:
            why.append(m.group(0))
    ap = rd(os.path.join(out1, "aplay.log")).strip()
    if ap:
        why.append("aplay: " + ap.splitlines()[0])
    print("; ".join(why[:3]) if why else "clean")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "clean":
        return cmd_clean(argv[2])
    if len(argv) == 4 and argv[1] == "inputs":
        return cmd_inputs(argv[2], argv[3])
    if len(argv) == 5 and argv[1] == "check":
        return cmd_check(argv[2], argv[3], argv[4])
    if len(argv) == 3 and argv[1] == "figures":
        return cmd_figures(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
