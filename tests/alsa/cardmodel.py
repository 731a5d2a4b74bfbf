#!/usr/bin/env python3
"""cardmodel.py -- a model-based test of the SD card: random, seeded
sequences of runs of the real gridloop binary (alsa-lib's file plugin, as
scripts/test-sessions runs it), and after each step an independent model of
which takes must exist on the card.

  cardmodel.py [--build DIR] [--runs N] [--seed N] [--base N] [--steps N]
               [--no CLASS[,CLASS...]] [--keep] [-v]

Without --seed, N sequences run with the seeds BASE, BASE+1 ... (BASE is
random unless given, and printed); --seed N runs that one sequence again,
the same way (live runs depend on wall time: see below). Each sequence
prints "ok   seed N: ..." or "FAIL seed N: step K (CLASS): why", and the
last line is "N passed, N failed". A failing sequence's directory stays
(its logs, scripts, configs and card, without the inputs), since a live
run's failure may not come again; --keep keeps every directory whole.

Step classes (--no turns a class off; the default run has all of them):
  offline   a run that ends at a frame (the script's exit, or --frames):
            records, ends, overdubs, undo, redo, clears, and with them a
            changed config (tempo, meter, quantise), rate (44100/48000,
            resample yes/no) and restore yes/no
  fault     the same under tests/fsfault: enospc_after, eio_after, erofs,
            kill_after_ops (a power cut, with or without lose_unsynced)
  live      a run paced from a FIFO at 4x real time, stopped by SIGTERM or
            SIGKILL at a random wall time, with presses on restored pads
            in its first frames (while the session is still being read)
  second    a live run and, at the same time, a second gridloop (an
            offline run) on the same session directory
  export    concurrent `gridloop export`: several at once on an idle card,
            and, during a live run, several that signal it plus one that
            does not find its pid file
  corrupt   the manifest is cut short between runs (set aside, unreadable)

Every take is its own signal: each run's input is fresh noise (a new seed
per run and channel), so a clip is a slice of exactly one run's one input
channel, found by position.

THE MODEL (written from the README's rules, not from gridloop's code)
  Timing. A run that starts a new session sets its tempo T, meter M and
  quantise Q in the config and again by the script at frame 0; one that
  restores a session plays at the session's own (R0: "the saved session's
  settings win over the config's", manual), read back from the manifest
  after each step like the slots (a run that could not set the session
  aside, e.g. on a read-only card, leaves it and its settings as they
  were); lat = 512 (the -l option). A bar is
  M x 60 x rate / T frames, a beat 60 x rate / T; lines are counted from
  frame 0. A record pressed at P starts at B1 = the next bar line (Q=bar),
  the next beat line (Q=beat) or P (Q=off); pressed again at E it ends at
  B2 = B1 + k bars, k the least >= 1 with B2 >= E (Q on) or the nearest to
  E - B1 (Q=off); its audio is the input channel of its track (tracks 0..3
  record inputs 1..4) from B1 + lat to B2 + lat, bit for bit, and it plays
  from B2. An overdub of that take from O to O2 (less than one pass) sums
  input frame t + lat into loop position (t - B2) mod L, in float32; undo
  gives back the take, redo the overdub. Presses are kept away from grid
  lines so that no rule depends on a tie.
  Versions. What the model requires is a set of versions (a take, an
  overdub of it, a conversion of it): "must" ones have to be found on the
  card, "may" ones may be (when found they become "must": they are on the
  card now, and nothing may delete them that does not supersede them).
  R1 A run that ends cleanly (its script's exit, --frames, SIGTERM) with no
     fault: every take whose end (B2 + lat) it reached is a must, in the
     session at its slot; a take still recording at the stop is a must as
     a prefix (as far as it got, at least one frame: "saved as far as it
     got", README); an overdub finished is a must (and supersedes the take
     it was made on), undo and redo likewise; a clear supersedes the clip.
  R2 A run killed (SIGKILL, a power cut of the fault shim) or under a fault
     (ENOSPC, EIO, EROFS), or a second instance at once: what it made is
     "may"; what it superseded is released only as R4 says.
  R3 Nothing else deletes anything: a session set aside (restore = no,
     another rate, a corrupt manifest) keeps its versions as musts
     anywhere on the card; a press on a pad whose clip is not restored yet
     never loses that clip (it stays in the session or goes to
     exports/not-restored/); an export changes nothing in the session.
  R4 A superseded version stops being required only once the session's
     manifest no longer lists it.
  R5 Rate: a session at another rate with resample = yes gets each clip as
     a must in the session at the new rate: llround(frames x new / old)
     frames and a loudness within 10 % of the original (the measured
     tolerance of scripts/test-sessions); the original stays a must. A
     stop may come before the restore reached a clip: after a live run the
     conversions are "may", and what the session lacks then is owed by the
     next start that restores it (converted from the original, or the
     original itself at its own rate): a must after a stop or a kill (a
     conversion cut short is resumed), a "may" after a card fault or on
     a pad pressed during the restore (the press may have kept the clip
     out, and a take that then never began leaves the conversion done;
     one lost by a kill leaves the pad to the resumed conversion). A
     session set aside takes what it is owed with it (R3: kept, not
     restored).
  One requirement per audio: versions found bit for bit the same (a take
  and its overdub that never began, an undo) are one thing on the card and
  are superseded together.
  Where. "Found" means: a clip file the session's manifest lists, or any
  WAV file under a kept folder: exports/not-restored/, DIR.unreadable-*,
  DIR.found-*, DIR.converted-from-*, DIR.previous-*, DIR.other-rate-*.
  An orphan file in the session directory (not listed) does not count.
  Also checked after each step: the manifest (when there is one) can be
  read, every file it lists is there and readable, every listed clip is a
  version the model knows of (no audio from nowhere), gridloop did not
  crash (status 0, 1 or the signal the test sent) nor hang (a timeout),
  and each `gridloop export` that says ok left a folder with export.txt
  and every file that lists (bit for bit on an idle card); one that says
  "nothing to export" is right only while the session may have no clip
  (on an idle card: none listed; live: none restored as it was and no
  take of the run finished before the exports were asked).
  Observation. After each step the slots (which clip each pad holds) are
  read back from the manifest, for the next run's plan: the model never
  guesses what a pad holds after a step it cannot predict (a kill, a
  fault, a press during restore).

WAV files are read with tests/alsa/sessioncheck.py's reader (the one
parser of the shell tests). Standard library only.
"""
import argparse
import array
import contextlib
import io
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cardfiles  # noqa: E402  (the one WAV reader and manifest loader)
import sessioncheck as sc  # noqa: E402  (its export check)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAT = 512
PERIOD = 256
CHANNELS = 4  # inputs; tracks 0..3 record inputs 1..4
TRACKS = 4
SCENES = 5
MARGIN = 4096  # frames kept between an event and a stop for "reached"
LIVE_SPEED = 4.0  # the FIFO feeder's pace: times real time
CLASSES = ("offline", "fault", "live", "second", "export", "corrupt")
KEPT = ("unreadable-", "found-", "converted-from-", "previous-", "other-rate-")


class Fail(Exception):
    pass


# ---- signals ----------------------------------------------------------------


def noise(rng, frames):
    """Interleaved CHANNELS-channel float32 noise, each sample +-[0.125,
    0.25) with random sign and mantissa: (raw bytes, [channel arrays])."""
    raw = bytearray(rng.randbytes(frames * CHANNELS * 4))
    # little-endian float32: byte 3 = sign | exponent >> 1, byte 2's top
    # bit = exponent & 1. Exponent 124: [0.125, 0.25).
    hi = bytes(((x & 0x80) | 0x3E) for x in range(256))
    mid = bytes((x & 0x7F) for x in range(256))
    raw[3::4] = raw[3::4].translate(hi)
    raw[2::4] = raw[2::4].translate(mid)
    inter = array.array("f", bytes(raw))
    return bytes(raw), [inter[c::CHANNELS] for c in range(CHANNELS)]


LIKENESS = 0.5  # see likeness(): measured 0.8 and more for a conversion,
# below 0.05 for unrelated noise


def likeness(src, src_rate, got, rate):
    """The correlation of GOT (SRC converted to RATE) with SRC linearly
    interpolated at GOT's sample times, over up to 4000 points: white noise
    converted by libsamplerate correlates well above LIKENESS with that,
    another take's noise not at all."""
    n = len(got)
    step = max(1, n // 4000)
    sxy = sxx = syy = 0.0
    for j in range(0, n - 1, step):
        x = j * src_rate / rate
        i = int(x)
        if i + 1 >= len(src):
            break
        y = src[i] + (src[i + 1] - src[i]) * (x - i)
        g = got[j]
        sxy += g * y
        sxx += g * g
        syy += y * y
    return sxy / ((sxx * syy) ** 0.5) if sxx > 0 and syy > 0 else 0.0


# ---- versions -----------------------------------------------------------------


class Version:
    """One audio state of one take. audio is known (exact) or, until it is
    found, predicted by spec: ('exact', a), ('prefix', a, min),
    ('dubpartial', orig, dub, p0) or ('converted', version, rate)."""
    serial = 0

    def __init__(self, label, rate, spec):
        Version.serial += 1
        self.vid = Version.serial
        self.label, self.rate, self.spec = label, rate, spec
        self.audio = spec[1] if spec[0] == "exact" else None
        self.key = self.audio.tobytes() if self.audio is not None else None

    def observe(self, audio):
        self.audio, self.key, self.spec = audio, audio.tobytes(), ("exact", audio)

    def matches(self, rate, audio):
        if rate != self.rate:
            return False
        kind = self.spec[0]
        if kind == "exact":
            return audio.tobytes() == self.key
        if kind == "prefix":
            # as far as it got: the take's first n >= least frames, then
            # silence up to the length it was given (if its end was set)
            full, least = self.spec[1], self.spec[2]
            n = len(audio)
            if n > len(full):
                return False
            k = 0
            while k < n and audio[k:k + 4096] == full[k:k + 4096]:
                k += 4096
            while k < n and audio[k] == full[k]:
                k += 1
            return k >= least and not any(audio[k:])
        if kind == "dubpartial":
            # the take, with the overdub's first k positions from p0 (the
            # pass got that far; k = 0: not at all)
            orig, dub, p0 = self.spec[1:]
            n = len(orig)
            if len(audio) != n:
                return False
            k = 0
            while k < n and audio[(p0 + k) % n] == dub[(p0 + k) % n]:
                k += 1
            return all(audio[(p0 + i) % n] == orig[(p0 + i) % n] for i in range(k, n))
        if kind == "converted":
            src = self.spec[1]
            if src.audio is None:
                return False
            want = int(len(src.audio) * rate / src.rate + 0.5)
            if len(audio) != want:
                return False
            ra, rb = sc.rms(audio), sc.rms(src.audio)
            return rb > 0 and abs(ra / rb - 1) < 0.1 and \
                likeness(src.audio, src.rate, audio, rate) > LIKENESS
        raise ValueError(kind)

    def __repr__(self):
        return "%s (%d Hz)" % (self.label, self.rate)


# ---- the card ----------------------------------------------------------------


class Card:
    """What is on the card: the session's listed clips and the WAVs in the
    kept folders, read with sessioncheck's reader (cached by inode, size
    and time)."""

    def __init__(self, card, session):
        self.card, self.session = card, session
        self.cache = {}

    def read(self, path):
        st = os.stat(path)
        key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in self.cache:
            rate, ch, chans, kind = cardfiles.read_wav(path)
            self.cache[key] = (rate, chans[0], kind, ch)
        return self.cache[key]

    def look(self):
        """(manifest or None, listed: [(slot, path, rate, audio)], kept:
        [(path, rate, audio)], problems, why the manifest is unreadable or
        None). A session whose manifest cannot be read is searched as a
        kept folder (the caller decides whether it may be so)."""
        problems, listed, kept, m = [], [], [], None
        unreadable = None
        mpath = os.path.join(self.session, cardfiles.MANIFEST)
        if os.path.isfile(mpath):
            try:
                m = cardfiles.load_manifest(self.session)
            except (OSError, ValueError) as e:
                unreadable = "session.json cannot be read: %s" % e
        if m is not None:
            for c in m.get("clips", []):
                path = os.path.join(self.session, c["file"])
                try:
                    rate, audio, kind, ch = self.read(path)
                except (OSError, cardfiles.Fail) as e:
                    problems.append("listed clip %s: %s" % (c["file"], e))
                    continue
                if rate != m.get("rate") or len(audio) != c["frames"]:
                    problems.append("listed clip %s: %d Hz, %d frames; the manifest: %s "
                                    "Hz, %s frames" % (c["file"], rate, len(audio),
                                                       m.get("rate"), c["frames"]))
                listed.append(((c["track"] - 1, c["scene"] - 1), path, rate, audio))
        dirs = [d for d in glob.glob(self.session + ".*")
                if os.path.isdir(d) and any(os.path.basename(d)[len(
                    os.path.basename(self.session)) + 1:].startswith(k) for k in KEPT)]
        dirs.append(os.path.join(self.card, "exports", "not-restored"))
        if unreadable:
            dirs.append(self.session)
        for d in dirs:
            for root, _, files in os.walk(d):
                for f in files:
                    if not f.endswith(".wav"):
                        continue
                    try:
                        rate, audio, kind, ch = self.read(os.path.join(root, f))
                    except (OSError, cardfiles.Fail):
                        continue  # a half-written leftover: not a kept clip
                    if kind == "float":
                        kept.append((os.path.join(root, f), rate, audio))
        return m, listed, kept, problems, unreadable


# ---- one sequence --------------------------------------------------------------


class Run:
    """What one gridloop run was asked to do, in the model's terms."""

    def __init__(self):
        self.lines = []  # (frame, text)
        self.takes = []  # dict: slot, c, B1, B2, E, press
        self.dubs = []  # dict: take, O, O2, undo, redo
        self.clears = []  # (frame, slot, version)
        self.pdr = []  # slots pressed during restore

    def script(self, exit_at):
        lines = sorted(self.lines, key=lambda x: x[0])
        out = ["@%d %s" % (f, t) for f, t in lines]
        if exit_at is not None:
            out.append("@%d exit" % exit_at)
        return "\n".join(out) + "\n"


class Sequence:
    def __init__(self, seed, opts):
        self.seed, self.opts = seed, opts
        self.rng = random.Random(seed)
        self.tmp = tempfile.mkdtemp(prefix="cardmodel-%d." % seed,
                                    dir=os.environ.get("TMPDIR", "/tmp"))
        self.cardp = os.path.join(self.tmp, "card")
        os.mkdir(self.cardp)
        self.session = os.path.join(self.cardp, "session")
        self.card = Card(self.cardp, self.session)
        self.build = opts.build
        self.bin = os.path.join(self.build, "gridloop")
        self.must = {}  # vid -> Version
        self.may = {}
        self.session_slot = {}  # slot -> Version, as observed
        self.owed = {}  # slot -> original: a conversion cut short (R5)
        self.roots = {}  # slot -> the original of this run's conversion
        self.owed_unsure = set()  # owed slots after a kill or fault: "may"
        self.unsure = set()  # this run's conversions that are only "may"
        self.rate = None  # the session's rate as observed
        self.tempo, self.meter, self.quant = (self.rng.choice((200, 240, 300)),
                                               self.rng.choice((3, 4)), "bar")
        self.steps = []
        self.procs = []
        self.log = []
        self.nrun = 0
        self.cfg = (self.tempo, self.meter, self.quant)  # the config's
        self.fresh = True
        self.corrupted = False  # the manifest was cut short by the test
        self.known = {}  # (rate, audio bytes) -> every version ever seen
        self.inputs = []  # (run name, channel arrays): for diagnostics

    def say(self, text):
        self.log.append(text)
        if self.opts.verbose:
            print("     . " + text)

    # ---- configs ----

    def conf(self, name, rate, restore, resample, quiet):
        lines = ["[audio]", "rate = %d" % rate, "input_channels = %d" % CHANNELS,
                 "output_channels = 2", "[looper]", "fade_ms = 0",
                 "quantise = %s" % self.cfg[2], "beats_per_bar = %d" % self.cfg[1],
                 "tempo = %d" % self.cfg[0], "metronome = no", "[session]",
                 "restore = %s" % ("yes" if restore else "no"),
                 "resample = %s" % ("yes" if resample else "no"),
                 "save_quiet_ms = %d" % quiet, "[export]", "format = wavfloat"]
        for t in range(TRACKS):
            lines += ["[track%d]" % (t + 1), "input = %d" % (t + 1)]
        path = os.path.join(self.tmp, name + ".conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def pcm(self, name, infile):
        with open(os.path.join(REPO, "tests/alsa/pcm.conf.in")) as f:
            text = f.read()
        path = os.path.join(self.tmp, name + ".pcm.conf")
        with open(path, "w") as f:
            f.write(text.replace("@IN@", infile).replace("@OUT@", "/dev/null"))
        return path

    def argv(self, conf, pcm, rate, script, extra=()):
        return [self.bin, "-c", conf, "--alsa-config", pcm, "-C", "test_capture",
                "-P", "test_playback", "-p", str(PERIOD), "-n", "2", "-l", str(LAT),
                "-r", str(rate), "-s", script, "--session", self.session,
                "-i", str(CHANNELS), "-v"] + list(extra)

    def env(self, fault=None):
        env = dict(os.environ)
        pre = os.path.join(self.build, "rtguard.so")
        if fault:
            pre += ":" + os.path.join(self.build, "fsfault.so")
            env["FSFAULT"], env["FSFAULT_DIR"] = fault, self.cardp
        env["LD_PRELOAD"] = pre
        return env

    # ---- planning a run ----

    def grid(self, rate):
        beat = 60 * rate // self.tempo
        return beat, beat * self.meter

    def away(self, f, unit, lo=1500):
        """f moved off the grid of unit: at least lo frames from a line."""
        r = f % unit
        if r < lo:
            f += lo - r
        elif r > unit - lo:
            f += unit - r + lo
        return f

    def plan(self, rate, slots, live, allow_clear):
        """A random run: records on empty slots, overdubs (undo, redo) of
        this run's takes, clears; returns (Run, last frame of the plan)."""
        rng = self.rng
        beat, bar = self.grid(rate)
        run = Run()
        if self.fresh:
            run.lines += [(0, "tempo %d" % self.tempo), (0, "meter %d" % self.meter),
                          (0, "quantise %s" % self.quant)]
        busy = set()  # tracks whose playing clip the plan cannot follow
        used = set(slots)
        f = rng.randrange(PERIOD * 4, bar)
        if live and slots and rng.random() < 0.7:
            # presses on restored pads, in the first frames (the restore
            # thread is still reading the session)
            for slot in rng.sample(sorted(slots), min(len(slots), rng.randint(1, 2))):
                at = rng.randrange(10, 3000)
                run.lines.append((at, "press %d %d" % slot))
                if rng.random() < 0.6:
                    run.lines.append((at + rng.randrange(5, 400), "press %d %d" % slot))
                run.pdr.append(slot)
                busy.add(slot[0])
        for _ in range(rng.randint(1, 4)):
            free_tracks = [t for t in range(TRACKS) if t not in busy]
            kinds = []
            if free_tracks:
                kinds += ["record"] * 3
            mine = [tk for tk in run.takes if tk["slot"][0] not in busy and
                    not tk.get("dubbed") and not tk.get("cleared")]
            if mine:
                kinds += ["overdub"] * 2
            if allow_clear and (set(slots) - set(run.pdr) or run.takes):
                kinds.append("clear")
            if not kinds:
                break
            kind = rng.choice(kinds)
            if kind == "record":
                t = rng.choice(free_tracks)
                # a track's earlier take stops when this one starts
                for tk in run.takes:
                    if tk["slot"][0] == t:
                        tk["dubbed"] = True
                scenes = [s for s in range(SCENES) if (t, s) not in used]
                if not scenes:
                    busy.add(t)
                    continue
                s = rng.choice(scenes)
                used.add((t, s))
                unit = {"bar": bar, "beat": beat, "off": bar}[self.quant]
                P = self.away(f, unit) if self.quant != "off" else f
                if self.quant == "bar":
                    B1 = -(-P // bar) * bar
                elif self.quant == "beat":
                    B1 = -(-P // beat) * beat
                else:
                    B1 = P
                k = rng.randint(1, 3)
                B2 = B1 + k * bar
                if self.quant == "off":
                    E = B2 - rng.randrange(1000, bar // 3)
                else:
                    E = B2 - rng.randrange(1500, bar - 1500)
                    E = max(E, B1 + 1500)
                run.lines += [(P, "press %d %d" % (t, s)), (E, "press %d %d" % (t, s))]
                run.takes.append(dict(slot=(t, s), c=t, P=P, B1=B1, B2=B2, E=E))
                f = B2 + LAT + rng.randrange(2000, bar)
            elif kind == "overdub":
                tk = rng.choice(mine)
                tk["dubbed"] = True
                L = tk["B2"] - tk["B1"]
                O = max(f, tk["B2"] + LAT + 2000)
                O2 = O + rng.randrange(2000, L - 2000)
                t, s = tk["slot"]
                run.lines += [(O, "overdub %d %d" % (t, s)), (O2, "overdub %d %d" % (t, s))]
                d = dict(take=tk, O=O, O2=O2, undo=None, redo=None)
                f = O2 + LAT + 2000
                if not live and rng.random() < 0.6:
                    d["undo"] = f
                    run.lines.append((f, "undo %d %d" % (t, s)))
                    f += L + bar
                    if rng.random() < 0.5:
                        d["redo"] = f
                        run.lines.append((f, "redo %d %d" % (t, s)))
                        f += L + bar
                run.dubs.append(d)
            else:
                cands = [("old", sl) for sl in sorted(set(slots) - set(run.pdr))
                         if sl[0] not in busy and not any(c[1] == sl for c in run.clears)]
                cands += [("new", tk) for tk in run.takes if not tk.get("cleared") and
                          tk["slot"][0] not in busy]
                if not cands:
                    continue
                what, x = rng.choice(cands)
                if what == "old":
                    slot = x
                    run.clears.append((f, slot, slots[slot]))
                else:
                    x["cleared"] = True
                    x["dubbed"] = True
                    slot = x["slot"]
                    f = max(f, x["B2"] + LAT + 2000)
                    for d in run.dubs:
                        if d["take"] is x:
                            f = max(f, d["O2"] + LAT + 2000, (d["redo"] or d["undo"] or 0) +
                                    2 * (x["B2"] - x["B1"]) + bar)
                    run.clears.append((f, slot, x))
                run.lines.append((f, "clear %d %d" % slot))
                busy.add(slot[0])
                f += rng.randrange(2000, bar)
        return run, f

    # ---- what a run made, by the rules ----

    def outcome(self, run, chans, rate, lo, hi, clean):
        """The versions the run made and the ones it superseded, given that
        it processed somewhere between lo and hi frames (equal for a run
        that ends at a frame, 0 and the end for one that was killed).
        clean: it stopped as R1 says (else R2: everything is "may")."""
        made, superseded = [], []  # made: [Version, must, slot or None]
        for tk in run.takes:
            c = chans[tk["c"]]
            a, b = tk["B1"] + LAT, tk["B2"] + LAT
            label = "run %d take track %d scene %d (%d..%d)" % (
                self.nrun, tk["slot"][0] + 1, tk["slot"][1] + 1, tk["B1"], tk["B2"])
            full = c[a:b]
            if b + MARGIN <= lo:
                v = Version(label, rate, ("exact", full))
                made.append([v, clean, tk["slot"]])
            elif a + MARGIN <= lo and hi + MARGIN <= b:
                v = Version(label + " as far as it got", rate,
                            ("prefix", full, max(1, lo - a - MARGIN)))
                made.append([v, clean, tk["slot"]])
                continue
            elif a <= hi + MARGIN:
                v = Version(label + " maybe", rate, ("prefix", full, 1))
                made.append([v, False, tk["slot"]])
            else:
                continue
            cleared = [at for at, slot, x in run.clears if x is tk and at <= hi]
            for d in run.dubs:
                if d["take"] is not tk or d["O"] + LAT > hi or b > hi:
                    continue
                L = b - a
                dub = array.array("f", full)
                for t in range(d["O"], d["O2"]):
                    p = (t - tk["B2"]) % L
                    dub[p] = full[p] + c[t + LAT]
                p0 = (d["O"] - tk["B2"]) % L
                orig = made[-1][0]
                if d["O2"] + LAT + MARGIN <= lo and made[-1][1]:
                    dv = Version(label + " overdubbed", rate, ("exact", dub))
                    made.append([dv, clean, tk["slot"]])
                    superseded.append(orig)
                    if d["undo"] is not None and d["undo"] <= hi:
                        if d["undo"] + 2 * L + MARGIN <= lo:
                            uv = Version(label + " undone", rate, ("exact", full))
                            made.append([uv, clean, tk["slot"]])
                            superseded.append(dv)
                            if d["redo"] is not None and d["redo"] <= hi:
                                if d["redo"] + 2 * L + MARGIN <= lo:
                                    rv = Version(label + " redone", rate, ("exact", dub))
                                    made.append([rv, clean, tk["slot"]])
                                    superseded.append(uv)
                                else:
                                    made[-1][1] = False
                                    made.append([Version(label + " maybe redone", rate, (
                                        "exact", dub)), False, tk["slot"]])
                        else:
                            made[-1][1] = False
                            made.append([Version(label + " maybe undone", rate, (
                                "exact", full)), False, tk["slot"]])
                else:
                    # begun or not (O + LAT <= hi): the take with the pass's
                    # first k >= 0 positions, so the take itself matches too
                    must = clean and made[-1][1]
                    dv = Version(label + " overdub as far as it got", rate,
                                 ("dubpartial", full, dub, p0))
                    made.append([dv, must, tk["slot"]])
                    if must:
                        superseded.append(orig)
            if cleared:
                # the cleared take is no longer the pad's: required only
                # while listed (R4)
                for m in made:
                    if m[2] == tk["slot"]:
                        m[1] = False
                        superseded.append(m[0])
        for at, slot, x in run.clears:
            if at <= hi and isinstance(x, Version):
                superseded.append(x)
        return made, superseded

    # ---- running ----

    def runlog(self, name):
        return os.path.join(self.tmp, name + ".log")

    def wait(self, p, timeout):
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise Fail("gridloop did not stop within %d s (hang)" % timeout)

    def status_ok(self, rc, allowed, log):
        if rc not in allowed:
            tail = ""
            try:
                with open(log) as f:
                    tail = "".join(f.readlines()[-6:])
            except OSError:
                pass
            raise Fail("gridloop exit status %d (allowed %s)\n%s" % (rc, sorted(allowed), tail))

    def start_config(self, rate=None):
        """A random config for the next run: rate, restore, resample,
        sometimes a new tempo, meter or quantise."""
        rng = self.rng
        cur = self.rate or 48000
        if rate is None:
            rate = cur if rng.random() < 0.8 else (44100 if cur == 48000 else 48000)
        restore = rng.random() < 0.85
        resample = rng.random() < 0.7
        # R0: a restored session keeps its own tempo, meter and quantise
        # (the config's are for a new session); a new one takes the config's
        restored = (self.rate is not None and restore and not self.corrupted and
                    (self.rate == rate or resample))
        self.cfg = (self.tempo, self.meter, self.quant)
        # No session in DIR, but a conversion owes clips (its mark on the
        # card: the writer removes it only after the save that holds them,
        # so a card fault leaves it): the start restores from the original,
        # whose settings then win; after a fault the mark "may" be there,
        # so the config stays the original's, and either start plays the
        # same grid.
        pending = (self.rate is None and restore and not self.corrupted and
                   bool(self.owed))
        if rng.random() < 0.25 and not pending:
            new = (rng.choice((200, 240, 300)), rng.choice((3, 4)),
                   rng.choice(("bar", "bar", "beat", "off")))
            if restored:
                self.cfg = new  # a changed config under a saved session
            else:
                self.tempo, self.meter, self.quant = self.cfg = new
        self.fresh = not restored
        return rate, restore, resample

    def slots_at_start(self, rate, restore, resample):
        """The pads that hold a clip once the session is restored (R3, R5):
        none when it is set aside; converted ones when the rate differs,
        and the ones a conversion cut short still owes (R5)."""
        self.roots, self.unsure = {}, set()
        aside = not restore or self.corrupted or (
            self.rate is not None and self.rate != rate and not resample)
        if aside:
            self.owed = {}  # the originals stay where they are kept (R3)
            return {}, {}
        slots, conv = {}, {}
        for slot, v in self.session_slot.items():
            if self.rate != rate:
                cv = Version(v.label + " converted to %d Hz" % rate, rate,
                             ("converted", v, rate))
                slots[slot] = cv
                conv[slot] = cv
                self.roots[slot] = v
            else:
                slots[slot] = v
        for slot, orig in self.owed.items():
            if slot in slots:
                continue
            # from the original itself: at its own rate, bit for bit
            cv = orig if orig.rate == rate else Version(
                orig.label + " converted to %d Hz" % rate, rate, ("converted", orig, rate))
            slots[slot] = cv
            conv[slot] = cv
            self.roots[slot] = orig
            if slot in self.owed_unsure:
                self.unsure.add(slot)
        return slots, conv

    def still_owed(self, conv, left_out, sure, pressed=(), killed=False):
        """R5 for a run that may have stopped while converting: what its
        conversions did not put into the session (the pad empty there
        now) is owed by the next start that restores the session: a must
        after a stop or a kill (a conversion cut short is resumed), a "may"
        after a fault of the card (R2: the mark of the conversion may not
        have reached it) and on the pads PRESSED during the restore (the
        press may have kept the clip out: the conversion then counts it
        as done unless the take was lost with the rest). One that was
        "may" and did not come at a clean start is not owed any more
        (there was no mark to resume). LEFT_OUT (cleared) is not owed,
        unless the card failed: then the clear may never have reached it,
        and the resumed conversion brings the clip back (a "may"; seed
        1006: the first save after the conversion failed with EIO). KILLED
        (SIGKILL): a run that saved nothing tells nothing of a "may": it
        stays owed and unsure (seed 67819: the mark was there, the next
        start resumed it)."""
        self.owed = {slot: self.roots[slot] for slot in conv
                     if (slot not in left_out or not sure) and slot not in self.session_slot and
                     not (sure and not killed and slot in self.unsure)}
        self.owed_unsure = set(self.owed) if not sure else set(self.owed) & (
            set(pressed) | (self.unsure if killed else set()))

    def offline(self, fault=None):
        self.nrun += 1
        name = "run%d" % self.nrun
        rate, restore, resample = self.start_config()
        slots, conv = self.slots_at_start(rate, restore, resample)
        run, last = self.plan(rate, slots, live=False, allow_clear=True)
        beat, bar = self.grid(rate)
        if self.rng.random() < 0.3 and run.takes:
            # stop during the last take: recording, or its end pressed
            tk = run.takes[-1]
            X = self.rng.randrange(tk["B1"] + LAT + MARGIN, tk["B2"] - MARGIN)
            run.lines = [x for x in run.lines if x[0] < X - PERIOD]
            # what the script no longer says did not happen: a clear cut
            # off with it neither ends a clip nor a conversion
            run.clears = [c for c in run.clears if c[0] < X - PERIOD]
        else:
            X = last + self.rng.randrange(MARGIN, bar)
        raw, chans = noise(self.rng, max([X] + [tk["B2"] + LAT for tk in run.takes]) + 8192)
        self.inputs.append((name, chans))
        infile = os.path.join(self.tmp, name + ".raw")
        with open(infile, "wb") as f:
            f.write(raw)
        script = os.path.join(self.tmp, name + ".txt")
        by_frames = self.rng.random() < 0.3
        with open(script, "w") as f:
            f.write(run.script(None if by_frames else X))
        conf = self.conf(name, rate, restore, resample, self.rng.choice((1500, 1500, 50)))
        extra = ["-F", str(X)] if by_frames else []
        log = self.runlog(name)
        what = "%s, %d Hz, %d BPM %d/4 quantise %s (config %s), restore %s, resample %s, " \
               "%s at %d%s" % (
            name, rate, self.tempo, self.meter, self.quant, "%d BPM %d/4 quantise %s" %
            self.cfg, "yes" if restore else "no",
            "yes" if resample else "no", "--frames" if by_frames else "exit", X,
            ", FSFAULT=" + fault if fault else "")
        self.say(what + ": " + run.script(None).replace("\n", "; "))
        with open(log, "w") as lf:
            p = subprocess.Popen(self.argv(conf, self.pcm(name, infile), rate, script, extra),
                                 stdout=lf, stderr=subprocess.STDOUT, env=self.env(fault))
            rc = self.wait(p, 120)
        allowed = {0}
        if fault:
            allowed = {0, 1, -9, 137}
        self.status_ok(rc, allowed, log)
        clean = rc == 0 and not fault
        made, sup = self.outcome(run, chans, rate, X if rc >= 0 else 0, X, clean)
        for slot, cv in conv.items():
            made.append([cv, clean and slot not in self.unsure, slot])
        for at, slot, x in run.clears:
            if slot in conv:
                sup.append(conv[slot])
                for m in made:
                    if m[0] is conv[slot]:
                        m[1] = False
        self.settle(made, sup, log, rate,
                    ran_at=(self.tempo, self.meter, self.quant) if clean else None)
        self.still_owed(conv, {slot for _, slot, _ in run.clears}, not fault)
        return what

    # live: the feeder

    def feeder(self, fifo, raw, state):
        frame = CHANNELS * 4
        block = 1024
        try:
            fd = os.open(fifo, os.O_WRONLY)
        except OSError:
            return
        zero = bytes(block * frame)
        t0 = time.monotonic()
        sent = 0
        try:
            while not state["stop"]:
                ahead = sent / (48000 * LIVE_SPEED) - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
                pos = sent * frame
                chunk = raw[pos:pos + block * frame] if pos < len(raw) else zero
                if len(chunk) < block * frame:
                    chunk = chunk + zero[:block * frame - len(chunk)]
                os.write(fd, chunk)
                sent += block
                state["sent"] = sent
        except OSError:
            pass
        finally:
            os.close(fd)

    def live(self, second=False, exports=False):
        self.nrun += 1
        name = "run%d" % self.nrun
        rate, restore, resample = self.start_config()
        # the restore thread sets the session's tempo at some wall time: the
        # same as the config's, or the grid would move under the plan
        self.cfg = (self.tempo, self.meter, self.quant)
        slots, conv = self.slots_at_start(rate, restore, resample)
        run, last = self.plan(rate, slots, live=True, allow_clear=False)
        beat, bar = self.grid(rate)
        span = (last + bar) / (rate * LIVE_SPEED)
        kill_at = self.rng.uniform(0.2, span + 0.3)
        raw, chans = noise(self.rng, max([last, int((kill_at + 1) * rate * LIVE_SPEED)] +
                                         [tk["B2"] + LAT for tk in run.takes]) + 8192)
        self.inputs.append((name, chans))
        fifo = os.path.join(self.tmp, name + ".fifo")
        os.mkfifo(fifo)
        script = os.path.join(self.tmp, name + ".txt")
        with open(script, "w") as f:
            f.write(run.script(None))
        conf = self.conf(name, rate, restore, resample, self.rng.choice((1500, 100)))
        pidfile = os.path.join(self.tmp, name + ".pid")
        sig = self.rng.choice((signal.SIGTERM, signal.SIGTERM, signal.SIGKILL))
        log = self.runlog(name)
        what = "%s live, %d Hz, %d BPM %d/4 quantise %s, restore %s, resample %s, %s after " \
               "%.2f s%s%s" % (name, rate, self.tempo, self.meter, self.quant,
                               "yes" if restore else "no", "yes" if resample else "no",
                               sig.name, kill_at, ", a second instance" if second else "",
                               ", exports" if exports else "")
        self.say(what + ": " + run.script(None).replace("\n", "; "))
        state = {"stop": False, "sent": 0}
        lf = open(log, "w")
        p = subprocess.Popen(self.argv(conf, self.pcm(name, fifo), rate, script,
                                       ["--pid-file", pidfile]),
                             stdout=lf, stderr=subprocess.STDOUT, env=self.env())
        feed = threading.Thread(target=self.feeder, args=(fifo, raw, state), daemon=True)
        feed.start()
        problems = []
        made_b = []
        t0 = time.monotonic()
        try:
            if second:
                made_b = self.second_instance(name, rate, restore, resample, slots, run,
                                              min(kill_at * 0.5, 0.5))
            if exports:
                problems += self.live_exports(name, pidfile, p, kill_at * 0.6, state,
                                              run, slots, conv)
            rest = kill_at - (time.monotonic() - t0)
            if rest > 0:
                time.sleep(rest)
            if p.poll() is not None:
                raise Fail("gridloop stopped by itself (status %d)" % p.returncode)
            lo = state["sent"] - 8192  # the pipe (64 KiB) and the period buffer
            p.send_signal(sig)
            hi = state["sent"] + 1024
            rc = self.wait(p, 30)
        finally:
            state["stop"] = True
            if p.poll() is None:
                p.kill()
                p.wait()
            lf.close()
            if feed.is_alive():  # blocked opening a FIFO nobody reads
                try:
                    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
                except OSError:
                    pass
            feed.join(5)
        self.status_ok(rc, {0} if sig == signal.SIGTERM else {-9}, log)
        clean = sig == signal.SIGTERM
        self.say("%s stopped by %s between frames %d and %d" % (name, sig.name, lo, hi))
        made, sup = self.outcome(run, chans, rate, max(lo, 0), hi, clean)
        for slot, cv in conv.items():
            # R5 at a stop: converted so far; the rest is owed (still_owed)
            made.append([cv, False, slot])
        for slot in run.pdr:
            # R3: a press during restore never loses the clip; what the pad
            # holds afterwards is observed. A first press before the clip
            # came is a record (R2: may), as far as the run got.
            at = min(f for f, text in run.lines if text == "press %d %d" % slot)
            B1 = {"bar": -(-at // bar) * bar, "beat": -(-at // beat) * beat,
                  "off": at}[self.quant]
            made.append([Version("run %d take track %d scene %d pressed during restore" % (
                self.nrun, slot[0] + 1, slot[1] + 1), rate,
                ("prefix", chans[slot[0]][B1 + LAT:], 1)), False, None])
            for m in made:
                if m[2] == slot:
                    m[2] = None
            m = [m for m in made if m[0] is slots[slot]]
            if m:
                m[0][2] = None
        for v in made_b:
            made.append([v, False, None])
        self.settle(made, sup, log, rate, problems)
        self.still_owed(conv, set(), True, pressed=run.pdr, killed=sig == signal.SIGKILL)
        return what

    def second_instance(self, name, rate, restore, resample, slots, run_a, delay):
        """A second gridloop on the same session directory while the first
        runs: an offline run recording on pads the first leaves alone. What
        it makes is "may" (R2)."""
        time.sleep(delay)
        name_b = name + "b"
        beat, bar = self.grid(rate)
        used = set(slots) | {tk["slot"] for tk in run_a.takes} | set(run_a.pdr)
        free = [(t, s) for t in range(TRACKS) for s in range(SCENES) if (t, s) not in used]
        rb = Run()
        if self.fresh:  # R0, as for the first instance
            rb.lines += [(0, "tempo %d" % self.tempo), (0, "meter %d" % self.meter),
                         (0, "quantise %s" % self.quant)]
        f = bar // 2 + 1500
        for slot in self.rng.sample(free, min(len(free), 1)):
            B1 = {"bar": -(-f // bar) * bar, "beat": -(-f // beat) * beat,
                  "off": f}[self.quant]
            rb.lines += [(f, "press %d %d" % slot), (B1 + bar // 2, "press %d %d" % slot)]
            rb.takes.append(dict(slot=slot, c=slot[0], B1=B1, B2=B1 + bar))
            f = B1 + bar + LAT + MARGIN
        raw, chans = noise(self.rng, f + 8192)
        self.inputs.append((name_b, chans))
        infile = os.path.join(self.tmp, name_b + ".raw")
        with open(infile, "wb") as fh:
            fh.write(raw)
        script = os.path.join(self.tmp, name_b + ".txt")
        with open(script, "w") as fh:
            fh.write(rb.script(f))
        conf = self.conf(name_b, rate, restore, resample, 1500)
        log = self.runlog(name_b)
        with open(log, "w") as lf:
            p = subprocess.Popen(self.argv(conf, self.pcm(name_b, infile), rate, script,
                                           ["--pid-file", os.path.join(self.tmp,
                                                                       name_b + ".pid")]),
                                 stdout=lf, stderr=subprocess.STDOUT, env=self.env())
            rc = self.wait(p, 60)
        self.status_ok(rc, {0, 1}, log)
        self.say("%s (second instance): status %d" % (name_b, rc))
        made = []
        for tk in rb.takes:
            c = chans[tk["c"]]
            made.append(Version("run %s take track %d scene %d" % (
                name_b, tk["slot"][0] + 1, tk["slot"][1] + 1), rate,
                ("exact", c[tk["B1"] + LAT:tk["B2"] + LAT])))
        return made

    def export_cmd(self, pidfile, name):
        conf = os.path.join(self.tmp, name + ".conf")
        return [self.bin, "export", "-c", conf, "--session", self.session,
                "--pid-file", pidfile, "--export-format", "wavfloat"]

    def check_export(self, out, rc, idle, problems, who, empty_ok=False):
        text = out.strip().splitlines()
        folder = None
        for line in text:
            if line.startswith("gridloop export: ok "):
                folder = line[len("gridloop export: ok "):].split(" (")[0]
        if folder is None:
            if (idle or empty_ok) and ("nothing to export" in out):
                return
            problems.append("%s: status %d, no \"ok FOLDER\": %s" % (who, rc, " | ".join(
                text[-3:])))
            return
        if not os.path.isdir(folder):
            problems.append("%s said ok %s, which is not a folder" % (who, folder))
            return
        if idle:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    sc.cmd_exported(folder, self.session, "wavfloat")
            except (cardfiles.Fail, OSError, ValueError, KeyError) as e:
                problems.append("%s: %s: %s" % (who, folder, e))
            return
        try:
            with open(os.path.join(folder, "export.txt")) as f:
                rows = [ln.split()[0] for ln in f if ln.split() and
                        ln.split()[0].startswith("scene")]
        except OSError as e:
            problems.append("%s: %s: %s" % (who, folder, e))
            return
        for r in rows:
            if not os.path.isfile(os.path.join(folder, r)):
                problems.append("%s: %s lists %s, which is not there" % (who, folder, r))

    def live_exports(self, name, pidfile, live, delay, state, run, slots, conv):
        time.sleep(delay)
        problems = []
        # "nothing to export" is a fair answer only while the session may
        # really have no clip: none restored as it was (a restored pad is
        # in the session from the start; a converted one only once it is
        # converted; one pressed during restore may be cancelled), and no
        # take of this run finished before the exports were asked
        got = state["sent"] - 8192  # frames surely processed by now
        empty_ok = not (set(slots) - set(conv) - set(run.pdr)) and not any(
            tk["B2"] + LAT + MARGIN <= got for tk in run.takes)
        n = self.rng.randint(2, 4)
        cmds = [self.export_cmd(pidfile, name) for _ in range(n)]
        # and one that does not find the running gridloop's pid file
        cmds.append(self.export_cmd(os.path.join(self.tmp, "nobody.pid"), name))
        ps = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for c in cmds]
        for i, p in enumerate(ps):
            try:
                out, _ = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
                problems.append("gridloop export %d hung" % (i + 1))
                continue
            if live.poll() is None:
                who = "gridloop export %d of %d%s" % (i + 1, len(ps), " (no pid file)"
                                                       if i == n else "")
                self.check_export(out, p.returncode, False, problems, who, empty_ok)
        self.say("%d exports during the live run" % len(ps))
        return problems

    def idle_exports(self):
        self.nrun += 1
        name = "run%d" % self.nrun
        self.conf(name, self.rate or 48000, True, True, 1500)
        n = self.rng.randint(2, 5)
        before = self.card.look()
        if before[4]:
            return "no exports: the manifest is unreadable"
        ps = [subprocess.Popen(self.export_cmd(os.path.join(self.tmp, "nobody.pid"), name),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for _ in range(n)]
        problems = []
        for i, p in enumerate(ps):
            try:
                out, _ = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
                problems.append("gridloop export %d hung" % (i + 1))
                continue
            if os.path.isfile(os.path.join(self.session, cardfiles.MANIFEST)):
                self.check_export(out, p.returncode, True, problems,
                                  "gridloop export %d of %d at once" % (i + 1, n))
        after = self.card.look()
        if [(s, p) for s, p, _, _ in before[1]] != [(s, p) for s, p, _, _ in after[1]]:
            problems.append("the exports changed the session")
        self.settle([], [], None, self.rate, problems)
        return "%d offline exports at once" % n

    def corrupt(self):
        mpath = os.path.join(self.session, cardfiles.MANIFEST)
        if not os.path.isfile(mpath):
            return "corrupt: no manifest yet"
        size = os.path.getsize(mpath)
        with open(mpath, "r+b") as f:
            f.truncate(self.rng.randrange(1, max(2, size // 2)))
        self.session_slot = {}  # set aside at the next start (R3)
        self.corrupted = True
        return "corrupt: session.json cut short"

    # ---- after each step: the check (the invariant) ----

    def settle(self, made, superseded, log, rate, problems=None, ran_at=None):
        problems = list(problems or [])
        m, listed, kept, probs, unreadable = self.card.look()
        problems += probs
        if unreadable and not self.corrupted:
            problems.append(unreadable)
        elif not unreadable:
            self.corrupted = False
        for v, must, slot in made:
            (self.must if must else self.may)[v.vid] = (v, slot)
        for v in superseded:  # R4: released (listed ones come back below)
            self.must.pop(v.vid, None)
            self.may.pop(v.vid, None)
        index = {}
        for slot, path, r, audio in listed:
            index.setdefault((r, audio.tobytes()), []).append(("session", slot, path))
        for path, r, audio in kept:
            index.setdefault((r, audio.tobytes()), []).append(("kept", None, path))
        def find(v, slot):
            if v.key is None:
                # its own pad first: conversions of equal length look alike
                cands = [(r, a) for sl, _, r, a in listed if sl == slot]
                cands += [(r, a) for sl, _, r, a in listed if sl != slot]
                cands += [(r, a) for _, r, a in kept]
                for r, audio in cands:
                    if v.matches(r, audio):
                        v.observe(audio)
                        break
            return index.get((v.rate, v.key), []) if v.key is not None else []

        for vid, (v, slot) in sorted(self.must.items()):
            where = find(v, slot)
            if not where:
                problems.append("LOST: %s is neither in the session nor in a kept folder%s"
                                % (v, self.nearest(v, listed, kept)))
            elif slot is not None and not any(w[0] == "session" and w[1] == slot
                                              for w in where):
                problems.append("%s is not in the session at track %d scene %d (found: %s)"
                                % (v, slot[0] + 1, slot[1] + 1, ", ".join(
                                    os.path.relpath(w[2], self.cardp) for w in where)))
        for vid, (v, slot) in sorted(self.may.items()):
            if find(v, slot):
                self.must[vid] = (v, None)  # on the card now: it must stay
        self.may = {}
        for vid in list(self.must):
            v, slot = self.must[vid]
            self.must[vid] = (v, None)  # from now on: anywhere (R3)
        for v, _ in list(self.must.values()) + [(m[0], None) for m in made]:
            if v.key is not None:
                self.known.setdefault((v.rate, v.key), v)
        # One requirement per audio: versions that turned out bit for bit
        # the same (a take and its overdub that never began, an undo) are
        # one thing on the card, superseded together (a clear of the pad).
        for vid in list(self.must):
            v = self.must[vid][0]
            if v.key is not None and self.known[(v.rate, v.key)] is not v:
                del self.must[vid]
                c = self.known[(v.rate, v.key)]
                self.must[c.vid] = (c, None)
        slots = {}
        for slot, path, r, audio in listed:
            v = self.known.get((r, audio.tobytes()))
            if v is None:
                problems.append("the session lists %s (track %d scene %d), audio the "
                                "model cannot explain%s" % (
                                    os.path.basename(path), slot[0] + 1, slot[1] + 1,
                                    self.origin(audio)))
                v = Version("unexplained %s" % os.path.basename(path), r, ("exact", audio))
                self.known[(r, v.key)] = v
            self.must[v.vid] = (v, None)  # R4: listed, so required
            slots[slot] = v
        self.session_slot = slots
        self.rate = m.get("rate") if m else None
        if m:
            self.observe_settings(m, problems, ran_at)
        if problems:
            raise Fail("; ".join(problems) + (" (log %s)" % log if log else ""))

    def observe_settings(self, m, problems, ran_at):
        """R0 by observation: the tempo, meter and quantise the next restore
        of the session takes are the manifest's (a saved tempo of 0 takes
        the config's), not the ones the last run was started with: a run
        that could not set the old session aside (a card fault) left it,
        and its settings, as they were. After a clean offline run (ran_at:
        the settings it played at) they must be those: its session, old or
        new, is what it saved."""
        tempo, meter, quant = m.get("tempo", 0), m.get("beats_per_bar", 4), \
            m.get("quantise", "bar")
        if tempo == 0:
            tempo = self.cfg[0]
        if (not isinstance(tempo, (int, float)) or float(tempo) not in (200, 240, 300) or
                meter not in (3, 4) or quant not in ("off", "beat", "bar")):
            problems.append("the manifest's tempo %r, beats_per_bar %r, quantise %r are "
                            "none the runs set" % (tempo, meter, quant))
            return
        got = (int(tempo), meter, quant)
        if ran_at is not None and got != ran_at:
            problems.append("the manifest says %d BPM %d/4 quantise %s, the run played at "
                            "%d BPM %d/4 quantise %s (R0)" % (got + ran_at))
        self.tempo, self.meter, self.quant = got

    # ---- diagnostics (not part of the verdict) ----

    def origin(self, audio):
        """Where a clip's audio starts in the runs' inputs, in words."""
        if len(audio) < 16:
            return " (%d frames)" % len(audio)
        needle = audio[:16].tobytes()
        for name, chans in self.inputs:
            for c, ch in enumerate(chans):
                hay = ch.tobytes()
                pos = hay.find(needle)
                while pos >= 0 and pos % 4:
                    pos = hay.find(needle, pos + 1)
                if pos >= 0:
                    a = pos // 4
                    n = len(audio)
                    same = 0
                    while same < n and a + same < len(ch) and audio[same] == ch[a + same]:
                        same += 1
                    return " (%d frames: %s input %d from frame %d (engine frame %d), " \
                           "equal for %d frames)" % (n, name, c + 1, a, a - LAT, same)
        return " (%d frames, not from any input)" % len(audio)

    def nearest(self, v, listed, kept):
        want = v.audio if v.audio is not None else (v.spec[1] if v.spec[0] in (
            "prefix", "dubpartial") else None)
        if want is None:
            return ""
        bits = [" (the model: %s" % self.origin(want).strip(" ()")]
        for slot, path, r, audio in listed:
            if len(audio) and audio[:16] == want[:16]:
                bits.append("; the session's %s: %s" % (os.path.basename(path),
                                                       self.origin(audio).strip(" ()")))
        return "".join(bits) + ")"

    # ---- the sequence ----

    def go(self, nsteps):
        classes = [c for c in CLASSES if c not in self.opts.off]
        weights = {"offline": 6, "fault": 2, "live": 3, "second": 1, "export": 1,
                   "corrupt": 1}
        pool = [c for c in classes for _ in range(weights[c])]
        done = []
        for k in range(1, nsteps + 1):
            cls = self.rng.choice(pool) if k > 1 or "offline" not in classes else "offline"
            try:
                if cls == "offline":
                    what = self.offline()
                elif cls == "fault":
                    fault = self.rng.choice((
                        "enospc_after=%d" % self.rng.randrange(1000, 2000000),
                        "eio_after=%d" % self.rng.randrange(1000, 2000000), "erofs",
                        "kill_after_ops=%d" % self.rng.randrange(1, 40),
                        "kill_after_ops=%d,lose_unsynced" % self.rng.randrange(1, 40)))
                    what = self.offline(fault)
                elif cls == "live":
                    what = self.live()
                elif cls == "second":
                    what = self.live(second=True)
                elif cls == "export":
                    if self.rng.random() < 0.5:
                        what = self.idle_exports()
                    else:
                        what = self.live(exports=True)
                else:
                    what = self.corrupt()
            except Fail as e:
                return False, "step %d (%s): %s" % (k, cls, e), done
            done.append(cls)
            self.say("step %d (%s) ok: %d versions required" % (k, cls, len(self.must)))
        return True, "%d steps (%s), %d versions kept" % (
            nsteps, " ".join(done), len(self.must)), done


def main():
    ap = argparse.ArgumentParser(description="model-based test of the SD card")
    ap.add_argument("--build", default=os.path.join(REPO, "build/native"))
    ap.add_argument("--runs", type=int, default=14)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--base", type=int)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--no", default="", help="step classes to leave out: " +
                    ",".join(CLASSES))
    ap.add_argument("--keep", action="store_true", help="keep each sequence's directory")
    ap.add_argument("-v", "--verbose", action="store_true")
    opts = ap.parse_args()
    opts.build = os.path.abspath(opts.build)
    opts.off = set(x for x in opts.no.split(",") if x)
    bad = opts.off - set(CLASSES)
    if bad:
        ap.error("unknown step class %s" % ", ".join(sorted(bad)))
    for need in ("gridloop", "rtguard.so", "fsfault.so"):
        if not os.path.isfile(os.path.join(opts.build, need)):
            print("cardmodel: %s is missing (make program tests tools)" %
                  os.path.join(opts.build, need))
            print("0 passed, 1 failed")
            return 1
    if opts.seed is not None:
        seeds = [opts.seed]
    else:
        base = opts.base if opts.base is not None else random.SystemRandom().randrange(1, 10**6)
        print("cardmodel: base seed %d (a failing one re-runs with --seed N)" % base)
        seeds = range(base, base + opts.runs)
    passed = failed = 0
    for seed in seeds:
        seq = Sequence(seed, opts)
        t0 = time.monotonic()
        try:
            good, text, _ = seq.go(opts.steps)
        except Exception as e:  # the test's own fault: say so, loudly
            good, text = False, "the test itself broke: %r" % e
            import traceback
            traceback.print_exc()
        if good:
            print("ok   seed %d: %s (%.1f s)" % (seed, text, time.monotonic() - t0))
            passed += 1
        else:
            print("FAIL seed %d: %s" % (seed, text))
            for line in seq.log:
                print("     | " + line)
            print("     | re-run: %s --seed %d --steps %d%s -v" % (
                sys.argv[0], seed, opts.steps, " --no " + opts.no if opts.no else ""))
            failed += 1
        if opts.keep or (not good and opts.seed is not None):
            print("     | kept %s" % seq.tmp)
        elif not good:
            # a live run's failure may not come again: its logs and card
            # stay (the inputs are the seed's, made again by a re-run)
            for raw in glob.glob(os.path.join(seq.tmp, "*.raw")):
                os.unlink(raw)
            print("     | kept %s (logs, scripts, configs, card)" % seq.tmp)
        else:
            shutil.rmtree(seq.tmp, ignore_errors=True)
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
