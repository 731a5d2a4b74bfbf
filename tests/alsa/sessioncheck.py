#!/usr/bin/env python3
"""sessioncheck.py -- what scripts/test-sessions checks in session
directories, exports, gig recordings and output files.

WAV files and manifests are read by tests/lib/cardfiles.py (the one reader
of the checkers: RIFF and RF64; PCM 16/24/32 and 32-bit float, plain or
WAVE_FORMAT_EXTENSIBLE), independently of the libsndfile the firmware
writes them with. Output files are raw interleaved stereo float32,
as alsa-lib's file plugin writes them (tests/alsa/pcm.conf.in). What the set
records comes from tests/alsa/fixture.py's model of tests/alsa/set.txt.

  sessioncheck.py saved DIR IN LATENCY
      DIR holds the set's session: tempo 240, 4/4, two mono clips (track 1
      scene 1: one bar, the take after its overdub pass; track 2 scene 2: two
      bars, the input exactly), each file bit for bit as modelled
  sessioncheck.py play OUT PREFILL FRAMES WAV:START[:END] ...
      OUT is PREFILL frames of silence, then FRAMES engine frames in which
      each WAV (a clip) loops from engine frame START (to END), summed
      in float32, the same on both channels
  sessioncheck.py silent OUT FRAMES
      OUT is FRAMES frames long and silent
  sessioncheck.py exported FOLDER DIR FORMAT
      FOLDER is an export of the session in DIR: sceneNN_trackN files, one
      per clip, equal to the clip (wavfloat: bit for bit; flac24 and wav24:
      within a 24-bit step; FLAC is read through `sfdump`, given as
      SFDUMP=path), and export.txt with tempo, meter and bars
  sessioncheck.py same DIR REF
      the session in DIR is the one in REF: the same manifest (apart from
      the time it was saved) and the same clip files, byte for byte
  sessioncheck.py one-of DIR OLD NEW
      the session in DIR is OLD's or NEW's (as `same`), whole, and DIR is
      tidy; prints which
  sessioncheck.py tidy DIR
      DIR holds session.json and the files it lists, nothing else (no
      temporaries, no orphans)
  sessioncheck.py digest DIR
      every file in DIR (hidden ones too) with its size and SHA-256: to
      compare a directory before and after
  sessioncheck.py manifest DIR KEY=VALUE ...
      prints nothing and exits 0 when the manifest has these values
      (rate=48000, clips=2, clip1.frames=48000 for the first clip...; a
      number may be given as a range, clip1.frames=30000..32000)
  sessioncheck.py converted DIR ORIG
      DIR's clips are ORIG's at DIR's rate: llround(frames x rate ratio)
      frames, the same bars, and a loudness within 10 % of the original
  sessioncheck.py gig GIG OUT PREFILL
      the performance recorder's GIG (a float WAV) equals OUT after its
      PREFILL frames, sample for sample, the whole run
  sessioncheck.py clip DIR N
      prints the path of DIR's N-th clip file (by scene, then track)
  sessioncheck.py edit DIR OP...
      changes DIR's manifest: N.KEY=VALUE sets clip N's field, dropN
      removes clip N, copyN:TRACK lists a copy of clip N's file on TRACK
  sessioncheck.py break-name DIR NAME
      rewrites DIR's manifest with NAME as the first clip's file
Standard library only.
"""
import array
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import fixture  # noqa: E402  (the set's model)
from cardfiles import MANIFEST, Fail, load_manifest, read_wav  # noqa: E402,F401

BAR = fixture.BAR


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# ---- sound files ----------------------------------------------------------


def read_sound(path):
    """A WAV by hand; anything else (FLAC) through $SFDUMP (libsndfile)."""
    if path.endswith(".wav"):
        return read_wav(path)
    tool = os.environ.get("SFDUMP")
    check(tool, "%s: set SFDUMP to read it" % path)
    raw = path + ".f32"
    out = subprocess.run([tool, path, raw], capture_output=True, text=True)
    check(out.returncode == 0, "%s: sfdump: %s" % (path, out.stderr.strip()))
    rate, channels, frames, kind = out.stdout.split()[:4]
    rate, channels, frames = int(rate), int(channels), int(frames)
    with open(raw, "rb") as f:
        inter = array.array("f", f.read())
    os.unlink(raw)
    check(len(inter) == frames * channels, "%s: sfdump gave %d samples" % (path, len(inter)))
    return rate, channels, [inter[c::channels] for c in range(channels)], kind


def read_raw(path):
    with open(path, "rb") as f:
        return array.array("f", f.read())


def first_diff(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return i
    return -1 if len(got) == len(want) else min(len(got), len(want))


# ---- sessions ----------------------------------------------------------------


def clips_of(m):
    return sorted(m.get("clips", []), key=lambda c: (c["scene"], c["track"]))


def clip_audio(d, clip, rate):
    path = os.path.join(d, clip["file"])
    r, ch, chans, kind = read_wav(path)
    check(kind == "float", "%s: %s, not 32-bit float" % (clip["file"], kind))
    check(r == rate, "%s: %d Hz, the manifest says %d" % (clip["file"], r, rate))
    check(ch == clip["channels"], "%s: %d channels, the manifest says %d"
          % (clip["file"], ch, clip["channels"]))
    check(len(chans[0]) == clip["frames"], "%s: %d frames, the manifest says %d"
          % (clip["file"], len(chans[0]), clip["frames"]))
    return chans


def cmd_saved(d, in_path, lat):
    m = load_manifest(d)
    check(m.get("format") == "gridloop-session", "format is %r" % m.get("format"))
    check(m.get("rate") == 48000, "rate is %r" % m.get("rate"))
    check(m.get("tempo") == 240, "tempo is %r, the set sets 240" % m.get("tempo"))
    check(m.get("beats_per_bar") == 4, "beats_per_bar is %r" % m.get("beats_per_bar"))
    clips = clips_of(m)
    got = [(c["track"], c["scene"], c["frames"], c["bars"], c["channels"]) for c in clips]
    want = [(1, 1, BAR, 1, 1), (2, 2, 2 * BAR, 2, 1)]
    check(got == want, "clips (track, scene, frames, bars, channels) are %r, expected %r"
          % (got, want))
    for c in clips:
        prefix = "clip-t%d-s%02d-" % (c["track"], c["scene"])
        check(c["file"].startswith(prefix) and c["file"].endswith(".wav"),
              "clip file %r is not %s*.wav" % (c["file"], prefix))
    with open(in_path, "rb") as f:
        inter = fixture.decode(f.read(), "FLOAT")
    in0, in1 = inter[0::2], inter[1::2]
    # fixture.model(): A is the one-bar take of input 1, with one overdub
    # pass summed in float32; B the two-bar take of input 2, as it came.
    a = array.array("f", in0[BAR + lat:2 * BAR + lat])
    a_dub = array.array("f", a)
    for p in range(BAR):
        a_dub[p] = a[p] + in0[5 * BAR + lat + p]
    b = array.array("f", in1[3 * BAR + lat:5 * BAR + lat])
    check(a_dub != a, "broken model: the overdub changed nothing")
    for c, want_audio, what in ((clips[0], a_dub, "A after its overdub"),
                                (clips[1], b, "B, the input exactly")):
        got_audio = clip_audio(d, c, 48000)[0]
        i = first_diff(got_audio, want_audio)
        check(i < 0, "%s (%s) differs from the model at frame %d: %r, expected %r"
              % (c["file"], what, i, got_audio[i] if i < len(got_audio) else None,
                 want_audio[i] if i < len(want_audio) else None))
    print("%s: tempo 240, 4/4, %s bit for bit" % (MANIFEST, ", ".join(
        "%s (%d frames)" % (c["file"], c["frames"]) for c in clips)))


def cmd_play(out_path, prefill, frames, specs):
    total = prefill + frames
    left = array.array("f", bytes(4 * total))
    loud = 0
    for spec in specs:
        parts = spec.split(":")
        path, start = parts[0], int(parts[1])
        end = int(parts[2]) if len(parts) > 2 else frames
        r, ch, chans, kind = read_wav(path)
        check(kind == "float" and ch == 1, "%s: not a mono float clip" % path)
        clip = chans[0]
        n = len(clip)
        for f in range(start, min(end, frames)):
            left[prefill + f] = left[prefill + f] + clip[(f - start) % n]
            loud += clip[(f - start) % n] != 0
    got = read_raw(out_path)
    check(len(got) == 2 * total, "%s has %d frames, expected %d (%d prefill + %d)"
          % (out_path, len(got) // 2, total, prefill, frames))
    check(loud > 0, "broken expectation: nothing plays")
    for chn in (0, 1):
        side = got[chn::2]
        i = first_diff(side, left)
        check(i < 0, "%s frame %d (engine frame %d) channel %d: got %r, expected %r"
              % (out_path, i, i - prefill, chn, side[i], left[i]))
    print("%d frames equal, %d of them with sound" % (total, loud))


def cmd_silent(out_path, frames):
    got = read_raw(out_path)
    check(len(got) == 2 * frames, "%s has %d frames, expected %d"
          % (out_path, len(got) // 2, frames))
    loud = [i // 2 for i, v in enumerate(got) if v != 0]
    check(not loud, "%s: sound at frame %d" % (out_path, loud[0] if loud else 0))
    print("%d frames, all silent" % frames)


def cmd_exported(folder, d, fmt):
    m = load_manifest(d)
    rate = m["rate"]
    clips = clips_of(m)
    ext = "flac" if fmt.startswith("flac") else "wav"
    names = sorted("scene%02d_track%d.%s" % (c["scene"], c["track"], ext) for c in clips)
    files = sorted(os.listdir(folder))
    check(files == sorted(names + ["export.txt"]), "%s holds %r, expected %r"
          % (folder, files, sorted(names + ["export.txt"])))
    for c in clips:
        name = "scene%02d_track%d.%s" % (c["scene"], c["track"], ext)
        want = clip_audio(d, c, rate)
        r, ch, got, kind = read_sound(os.path.join(folder, name))
        check(r == rate and ch == c["channels"], "%s: %d Hz, %d ch; expected %d Hz, %d"
              % (name, r, ch, rate, c["channels"]))
        for chn in range(ch):
            check(len(got[chn]) == len(want[chn]), "%s: %d frames, the clip has %d"
                  % (name, len(got[chn]), len(want[chn])))
            if fmt == "wavfloat":
                check(kind == "float", "%s: %s, not float" % (name, kind))
                i = first_diff(got[chn], want[chn])
                check(i < 0, "%s frame %d: %r, the clip has %r"
                      % (name, i, got[chn][i], want[chn][i]))
            else:
                step = 1.0 / (1 << 23) if fmt.endswith("24") else 1.0 / (1 << 15)
                worst = max(abs(g - w) for g, w in zip(got[chn], want[chn]))
                # libsndfile rounds FLAC to the nearest step but truncates
                # WAV's to 24 bits: within one step either way.
                check(worst <= step, "%s: off by %g, more than a step (%g)"
                      % (name, worst, step))
                check(any(got[chn]), "%s: silent" % name)
    with open(os.path.join(folder, "export.txt")) as f:
        text = f.read()
    check("tempo %.3f BPM, meter %d/4" % (m["tempo"], m["beats_per_bar"]) in text,
          "export.txt does not say tempo %.3f BPM, meter %d/4" % (m["tempo"],
                                                                m["beats_per_bar"]))
    check("format %s" % fmt in text, "export.txt does not name the format %s" % fmt)
    rows = {line.split()[0]: line.split() for line in text.splitlines()
            if line.split() and line.split()[0].startswith("scene")}
    for c in clips:
        name = "scene%02d_track%d.%s" % (c["scene"], c["track"], ext)
        row = rows.get(name)
        check(row is not None, "export.txt does not list %s" % name)
        # file track scene bars frames channels volume mute
        check(row[1:5] == [str(c["track"]), str(c["scene"]), "%g" % c["bars"],
                           str(c["frames"])],
              "export.txt says %r for %s; the manifest: track %d scene %d, %g bars, %d "
              "frames" % (row, name, c["track"], c["scene"], c["bars"], c["frames"]))
    print("%d clips as %s, export.txt: tempo %g, %d/4, bars %s" % (
        len(clips), fmt, m["tempo"], m["beats_per_bar"],
        ", ".join("%g" % c["bars"] for c in clips)))


def without_time(m):
    m = dict(m)
    m.pop("saved", None)
    return m


def cmd_same(d, ref):
    a, b = load_manifest(d), load_manifest(ref)
    check(without_time(a) == without_time(b), "the manifests differ:\n  %s\n  %s"
          % (json.dumps(without_time(a), sort_keys=True),
             json.dumps(without_time(b), sort_keys=True)))
    for c in clips_of(a):
        with open(os.path.join(d, c["file"]), "rb") as f:
            x = f.read()
        with open(os.path.join(ref, c["file"]), "rb") as f:
            y = f.read()
        check(x == y, "%s differs from the reference's" % c["file"])
    print("%d clips, as in %s" % (len(clips_of(a)), ref))


def cmd_one_of(d, old, new):
    cmd_tidy(d)
    errors = []
    for name, ref in (("old", old), ("new", new)):
        try:
            cmd_same(d, ref)
            return name
        except Fail as e:
            errors.append("not the %s session: %s" % (name, e))
    raise Fail("; ".join(errors))


def cmd_tidy(d):
    m = load_manifest(d)
    listed = {c["file"] for c in m.get("clips", [])}
    extra = sorted(set(os.listdir(d)) - listed - {MANIFEST})
    missing = sorted(listed - set(os.listdir(d)))
    check(not extra, "%s also holds %r" % (d, extra))
    check(not missing, "%s lacks %r" % (d, missing))


def cmd_digest(d):
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        print("%s %d %s" % (name, len(data), hashlib.sha256(data).hexdigest()))


def lookup(m, key):
    if key == "clips":
        return len(m.get("clips", []))
    if key.startswith("clip"):
        head, field = key.split(".", 1)
        return clips_of(m)[int(head[4:]) - 1][field]
    return m.get(key)


def cmd_manifest(d, pairs):
    m = load_manifest(d)
    for pair in pairs:
        key, want = pair.split("=", 1)
        got = lookup(m, key)
        number = isinstance(got, (int, float)) and not isinstance(got, bool)
        if ".." in want and number:  # a range, LO..HI
            lo, hi = (float(v) for v in want.split("..", 1))
            check(lo <= got <= hi, "%s: %s is %r, expected %s" % (d, key, got, want))
            continue
        check(str(got) == want or (number and float(want) == got),
              "%s: %s is %r, expected %s" % (d, key, got, want))


def rms(x):
    return math.sqrt(sum(v * v for v in x) / len(x))


def cmd_converted(d, orig):
    m, o = load_manifest(d), load_manifest(orig)
    rate, from_rate = m["rate"], o["rate"]
    check(rate != from_rate, "both at %d Hz" % rate)
    got, want = clips_of(m), clips_of(o)
    check([(c["track"], c["scene"]) for c in got] == [(c["track"], c["scene"]) for c in want],
          "clips %r, the original has %r" % ([(c["track"], c["scene"]) for c in got],
                                             [(c["track"], c["scene"]) for c in want]))
    for c, w in zip(got, want):
        frames = int(math.floor(w["frames"] * rate / from_rate + 0.5))
        check(c["frames"] == frames, "%s: %d frames, expected llround(%d x %d / %d) = %d"
              % (c["file"], c["frames"], w["frames"], rate, from_rate, frames))
        check(c["bars"] == w["bars"], "%s: %g bars, the original %g" % (c["file"],
                                                                         c["bars"], w["bars"]))
        a, b = clip_audio(d, c, rate)[0], clip_audio(orig, w, from_rate)[0]
        ra, rb = rms(a), rms(b)
        check(rb > 0 and abs(ra / rb - 1) < 0.1, "%s: loudness %g, the original %g"
              % (c["file"], ra, rb))
    print("%d clips from %d Hz to %d Hz: %s" % (len(got), from_rate, rate, ", ".join(
        "%d -> %d frames" % (w["frames"], c["frames"]) for c, w in zip(got, want))))


def cmd_gig(gig, out_path, prefill):
    r, ch, chans, kind = read_wav(gig)
    check(kind == "float" and ch == 2 and r == 48000, "%s: %s, %d ch, %d Hz" % (gig, kind,
                                                                               ch, r))
    got = read_raw(out_path)
    check(len(got) > 2 * prefill, "%s is too short" % out_path)
    frames = len(got) // 2 - prefill
    check(len(chans[0]) == frames, "%s: %d frames, the output has %d after its prefill"
          % (gig, len(chans[0]), frames))
    for chn in (0, 1):
        i = first_diff(chans[chn], got[2 * prefill + chn::2])
        check(i < 0, "%s frame %d channel %d: %r, the output has %r"
              % (gig, i, chn, chans[chn][i], got[2 * (prefill + i) + chn]))
    loud = sum(1 for v in chans[0] if v != 0)
    check(loud > 0, "%s: silent" % gig)
    print("%d frames equal to the output (%d with sound)" % (frames, loud))


def cmd_stems(stems, out_path, prefill):
    """The track stems: 16 channels whose pairs sum to the output (float
    rounding aside), some of them with sound."""
    r, ch, chans, kind = read_wav(stems)
    check(kind == "float" and ch == 16 and r == 48000, "%s: %s, %d ch, %d Hz" % (stems, kind,
                                                                                ch, r))
    got = read_raw(out_path)
    frames = len(got) // 2 - prefill
    check(len(chans[0]) == frames, "%s: %d frames, the output has %d after its prefill"
          % (stems, len(chans[0]), frames))
    for side in (0, 1):
        want = got[2 * prefill + side::2]
        for i in range(frames):
            total = 0.0
            for t in range(8):
                total += chans[2 * t + side][i]
            if abs(total - want[i]) > 1e-5:
                raise Fail("%s frame %d side %d: the tracks sum to %r, the output has %r"
                           % (stems, i, side, total, want[i]))
    busy = [t + 1 for t in range(8) if any(v != 0 for v in chans[2 * t])]
    check(len(busy) > 0, "%s: every track silent" % stems)
    print("%d frames: the tracks sum to the output; tracks with sound: %s"
          % (frames, " ".join(map(str, busy))))


def cmd_break_name(d, name):
    m = load_manifest(d)
    m["clips"][0]["file"] = name
    with open(os.path.join(d, MANIFEST), "w") as f:
        json.dump(m, f, indent=1)


def cmd_edit(d, ops):
    """ops: N.KEY=VALUE sets clip N's field (from 1; a number when it reads
    as one), dropN removes clip N, copyN:TRACK lists a copy of clip N's file
    (a new name) on TRACK."""
    m = load_manifest(d)
    clips = m["clips"]
    for op in ops:
        if op.startswith("drop"):
            del clips[int(op[4:]) - 1]
        elif op.startswith("copy"):
            n, track = op[4:].split(":")
            c = dict(clips[int(n) - 1])
            new = "clip-t%s-s01-000900.wav" % track
            shutil.copyfile(os.path.join(d, c["file"]), os.path.join(d, new))
            c["file"], c["track"] = new, int(track)
            clips.append(c)
        else:
            key, value = op.split("=", 1)
            n, field = key.split(".", 1)
            try:
                value = int(value)
            except ValueError:
                pass
            clips[int(n) - 1][field] = value
    with open(os.path.join(d, MANIFEST), "w") as f:
        json.dump(m, f, indent=1)


def main(argv):
    cmd, args = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    try:
        if cmd == "saved" and len(args) == 3:
            cmd_saved(args[0], args[1], int(args[2]))
        elif cmd == "play" and len(args) >= 4:
            cmd_play(args[0], int(args[1]), int(args[2]), args[3:])
        elif cmd == "silent" and len(args) == 2:
            cmd_silent(args[0], int(args[1]))
        elif cmd == "exported" and len(args) == 3:
            cmd_exported(*args)
        elif cmd == "same" and len(args) == 2:
            cmd_same(*args)
        elif cmd == "one-of" and len(args) == 3:
            cmd_one_of(*args)
        elif cmd == "tidy" and len(args) == 1:
            cmd_tidy(args[0])
        elif cmd == "digest" and len(args) == 1:
            cmd_digest(args[0])
        elif cmd == "manifest" and len(args) >= 2:
            cmd_manifest(args[0], args[1:])
        elif cmd == "converted" and len(args) == 2:
            cmd_converted(*args)
        elif cmd == "gig" and len(args) == 3:
            cmd_gig(args[0], args[1], int(args[2]))
        elif cmd == "stems" and len(args) == 3:
            cmd_stems(args[0], args[1], int(args[2]))
        elif cmd == "clip" and len(args) == 2:
            print(os.path.join(args[0], clips_of(load_manifest(args[0]))[int(args[1]) - 1]["file"]))
        elif cmd == "edit" and len(args) >= 2:
            cmd_edit(args[0], args[1:])
        elif cmd == "break-name" and len(args) == 2:
            cmd_break_name(*args)
        else:
            sys.exit(__doc__)
    except (Fail, OSError, ValueError, KeyError, IndexError) as e:
        print(e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
