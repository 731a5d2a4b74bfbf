#!/usr/bin/env python3
"""standins_check.py -- the checks of tests/vm/standins.sh: what gridloop
sent the stand-in APC40 mkII and Launchpad X on the virtual board (the raw
MIDI bytes tests/vm/guest/standins-run.sh captured), its logs and its audio.
Standard library only.

  standins_check.py OUT    ok/FAIL/info lines (tests/lib/checks.py)

OUT holds NAME1.bin (gridloop's bytes up to the unplug), NAME2.bin (after
the replug, up to its exit), NAME.log (gridloop -v), NAME-playing.raw (1 s
of its output while the take plays) for NAME = mk2, lpx; result.txt.
"""
import array
import math
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from checks import Checks  # noqa: E402  (the harness's result lines)


def parse(data):
    """MIDI byte stream -> list of messages (tuples), running status
    expanded, real-time bytes (the clock) dropped."""
    msgs, cur, sysex = [], [], None
    for b in data:
        if sysex is not None:
            if b >= 0xF8:
                continue
            sysex.append(b)
            if b == 0xF7:
                msgs.append(tuple(sysex))
                sysex = None
            continue
        if b == 0xF0:
            sysex = [b]
            continue
        if b >= 0xF8:
            continue
        if b & 0x80:
            cur = [b]
        elif cur:
            cur.append(b)
        else:
            continue
        need = 2 if cur[0] & 0xF0 in (0xC0, 0xD0) else 3
        if cur[0] >= 0xF0:
            need = 1
        if len(cur) == need:
            msgs.append(tuple(cur))
            cur = [cur[0]]
    return msgs


def parse_with_ticks(data):
    """parse(), with each clock byte (F8) kept in place as 'tick'."""
    r, chunk = [], bytearray()
    for b in data:
        if b == 0xF8:
            r += parse(bytes(chunk)) if chunk else []
            chunk = bytearray()
            r.append('tick')
        else:
            chunk.append(b)
    return r + parse(bytes(chunk))


def led(m):
    """A note or CC message -> (kind, ch, number, value); note-off = 0."""
    if len(m) != 3:
        return None
    st = m[0] & 0xF0
    if st == 0x90:
        return ('n', m[0] & 15, m[1], m[2])
    if st == 0x80:
        return ('n', m[0] & 15, m[1], 0)
    if st == 0xB0:
        return ('c', m[0] & 15, m[1], m[2])
    return None


def leds(msgs):
    return [x for x in (led(m) for m in msgs) if x]


def hexs(m):
    return bytes(m).hex(' ')


def show(l):
    return ' '.join('%02x %02x %02x' % ((0x90 if k == 'n' else 0xB0) | c, n, v)
                    for k, c, n, v in l)


def pair_at(l, a, b, start=0):
    """Index of the first `a` followed at once by `b` in l[start:], or -1."""
    for i in range(start, len(l) - 1):
        if l[i] == a and l[i + 1] == b:
            return i
    return -1


def solid_at(l, a, anim_ch, start=0):
    """Index of the first `a` (channel 0) NOT followed by a message on the
    same control on animation channel anim_ch: a solid colour."""
    for i in range(start, len(l)):
        if l[i] == a:
            nxt = l[i + 1] if i + 1 < len(l) else None
            if not (nxt and nxt[0] == a[0] and nxt[2] == a[2] and nxt[1] == anim_ch):
                return i
    return -1


def first_at(l, a, start=0):
    return l.index(a, start) if a in l[start:] else -1


def rd(out, name):
    try:
        return open(os.path.join(out, name), 'rb').read()
    except OSError:
        return b''


def rms(out, name):
    d = rd(out, name)
    s = array.array('f')
    s.frombytes(d[:len(d) // 4 * 4])
    return (math.sqrt(sum(x * x for x in s) / len(s)) if len(s) else -1), len(s) // 2


def audio(c, out, model, name, log):
    """The take heard: the output's RMS while it plays (the 0.5 tone of
    input 1 on a mono track, both channels: 0.354). Where the run lost its
    audio device (an emulated board stalled by a busy host: EIO, reopened)
    a wrong level is a skip, said as such, not a pass."""
    r, n = rms(out, name)
    good = n > 0 and abs(r - 0.354) < 0.03
    what = ('%s: audio: the recorded loop plays (output RMS %.3f over %d frames; expected 0.354)'
            % (model, r, n))
    lost = log.count('audio device lost')
    tone = rd(out, 'audio.log').decode(errors='replace').count('error')
    if not good and (lost or tone):
        c.lines.append('skip %s: the board lost gridloop\'s audio device %d times, the musician\'s '
                       '(aplay, in the whole set) %d times (a busy host)' % (what, lost, tone))
        return
    c.check(good, what)


def firsts(l, ident):
    """The first (channel, value) of each LED in l, by its control."""
    f = {}
    for x in l:
        f.setdefault(ident(x), (x[1], x[3]))
    return f


def device(c, out, name, model, intro, outro, controls, ident, take, after_take,
           restored, foreign_ok, status=0):
    """The checks of one stand-in. controls: every LED (kind, static
    channel, number) the profile drives; ident(message) -> its control;
    take(c, l, log): the state-by-state checks of the first connection's
    LEDs after the intro; after_take: more checks of m2; restored:
    {control: (channel, value)} after the replug (the others dark)."""
    log = rd(out, name + '.log').decode(errors='replace')
    res = rd(out, 'result.txt').decode(errors='replace')
    m1 = parse(rd(out, name + '1.bin'))
    m2 = parse(rd(out, name + '2.bin'))
    sx1 = [m for m in m1 if m[0] == 0xF0]
    c.info('%s: SysEx gridloop sent before the unplug: %s' % (model, ' | '.join(hexs(m) for m in sx1)))
    inquiry = [i for i, m in enumerate(m1) if m[:2] == (0xF0, 0x7E) and m[3:5] == (0x06, 0x01)]
    c.check(bool(inquiry), '%s: gridloop sent a device inquiry (F0 7E <ch> 06 01 F7)' % model,
            '%d bytes came' % len(rd(out, name + '1.bin')))
    c.check("identified by its inquiry reply: '%s'" % model in log,
            '%s: its inquiry reply made gridloop take the %s profile (the config said APC40 mk1)'
            % (model, model),
            ' | '.join(x for x in log.splitlines() if 'controller' in x)[:400])
    k = m1.index(intro) if intro in m1 else -1
    c.check(k >= 0 and (not inquiry or k > inquiry[0]),
            '%s: then its own mode SysEx arrived (%s)' % (model, hexs(intro)),
            'SysEx: %s' % [hexs(m) for m in sx1])
    if k < 0:
        return
    raw = rd(out, name + '1.bin')
    at = raw.find(bytes(intro))
    c.check(raw[:at].count(0xF8) == 0 and raw[at:].count(0xF8) > 0,
            '%s: no MIDI clock while the port had the APC40 mk1 profile (no clock = yes), '
            'clock (F8) once its own profile took over (clock = yes)' % model,
            'F8 bytes before its mode SysEx %d, after %d' % (raw[:at].count(0xF8), raw[at:].count(0xF8)))
    l1 = leds(m1[k:])
    f = firsts(l1, ident)
    missing = [x for x in controls if x not in f]
    lit = [x for x in controls if f.get(x, (0, 0))[1] != 0]
    c.check(not missing and not lit,
            '%s: after it a full LED refresh, all %d LEDs dark' % (model, len(controls)),
            'missing %s, lit %s' % (missing[:10], lit[:10]))
    cs = set(controls)
    foreign = [x for x in l1 if ident(x) not in cs and not foreign_ok(x)]
    c.check(not foreign, '%s: every LED message after it is one of the %s\'s own controls'
            % (model, model), 'others: %s' % show(foreign[:8]))
    take(c, l1, log)
    c.check('%s_rmmod=0' % name in res, '%s: unplugged (aconnect -d, rmmod snd_virmidi)' % model)
    c.check('controller unplugged' in log and 'controller back' in log,
            '%s: gridloop said it was unplugged, and back when plugged in again' % model,
            ' | '.join(x for x in log.splitlines() if 'controller' in x)[-400:])
    k2 = m2.index(intro) if intro in m2 else -1
    c.check(k2 >= 0, '%s: after the replug the mode SysEx came again' % model,
            '%d bytes came' % len(rd(out, name + '2.bin')))
    if k2 < 0:
        return
    l2 = leds(m2[k2:])
    f2 = firsts(l2, ident)
    want = {x: restored.get(x, (x[1], 0)) for x in controls}
    wrong = {show([(x[0], x[1], x[2], 0)])[:5]: f2.get(x) for x in controls if f2.get(x) != want[x]}
    c.check(not wrong, '%s: and every LED as the session left it (%s, the rest dark)'
            % (model, ', '.join(show([(x[0], ch, x[2], v)]) for x, (ch, v) in restored.items())),
            'wrong or missing (channel, value): %s' % wrong)
    after_take(c, l2, log)
    c.check('%s_gridloop_status=%d' % (name, status) in res,
            '%s: SIGTERM stopped gridloop (status %d%s)'
            % (model, status, ': its last save failed, as it says' if status else ', cleanly'),
            [x for x in res.splitlines() if 'status' in x])
    # the farewell: the last of each LED is dark on its static channel, then
    # the outro is the last message of all
    last = {}
    for x in leds(m2):
        last[ident(x)] = x
    lit_end = [show([x]) for k, x in last.items() if x[3] != 0 or x[1] != k[1]]
    c.check(bool(last) and not lit_end,
            '%s: at SIGTERM every LED went dark on its static channel (ends an animation)' % model,
            'lit or animated at the end: %s' % lit_end[:10])
    c.check(bool(m2) and m2[-1] == outro,
            '%s: and the last message was the mode left (%s)' % (model, hexs(outro)),
            'last: %s' % [hexs(m) for m in m2[-3:]])


def main():
    out = sys.argv[1]
    c = Checks()

    # ---- APC40 mkII
    MK2_INTRO = (0xF0, 0x47, 0x7F, 0x29, 0x60, 0x00, 0x04, 0x41, 0x01, 0x00, 0x00, 0xF7)
    MK2_OUTRO = MK2_INTRO[:7] + (0x40,) + MK2_INTRO[8:]
    mk2 = [('n', 0, n) for n in range(40)] + [('n', 0, n) for n in range(82, 87)] + \
          [('n', ch, 52) for ch in range(8)] + [('n', 0, 102), ('n', 0, 90)]
    P = 32  # the pad: track 0, top row (scene 0)

    def mk2_take(c, l, log):
        rq = pair_at(l, ('n', 0, P, 5), ('n', 14, P, 0))
        rec = pair_at(l, ('n', 0, P, 6), ('n', 8, P, 5))
        c.check(rec >= 0, 'APC40 mkII: pad 32 recording = two messages, 90 20 06 then 98 20 05 (dark red, '
                'pulsing red)%s' % ('' if rq >= 0 else ' [record queued, 90 20 05 9e 20 00, not seen: '
                                    'queued for under an update]'),
                'pad 32: %s' % show([x for x in l if x[2] == P][:12]))
        play = pair_at(l, ('n', 0, P, 22), ('n', 8, P, 21), max(rec, 0))
        c.check(rec >= 0 and play > rec, 'APC40 mkII: on the 2nd press playing = 90 20 16 then 98 20 15 '
                '(dark green, pulsing green)', 'pad 32: %s' % show([x for x in l if x[2] == P][:12]))
        c.check('track 0 scene 0: recording' in log and 'track 0 scene 0: playing' in log,
                'APC40 mkII: the engine recorded and played track 0 scene 0',
                ' | '.join(x for x in log.splitlines() if 'track 0 scene 0' in x)[:300])
        sc = solid_at(l, ('n', 0, 82, 21), 14)
        c.check(sc >= 0, 'APC40 mkII: scene launch 82 lit RGB green (90 52 15) while its row plays',
                'note 82: %s' % show([x for x in l if x[2] == 82][:8]))
        c.check(first_at(l, ('n', 0, 52, 1)) >= 0,
                'APC40 mkII: CLIP STOP of track 0 (90 34 01) lit while its clip plays',
                'note 52 ch 0: %s' % show([x for x in l if x[1:3] == (0, 52)][:8]))
        c.check(play >= 0 and first_at(l, ('n', 0, 90, 1), play) >= 0,
                'APC40 mkII: METRONOME (note 90) pressed: its LED on (90 5a 01)',
                'note 90: %s' % show([x for x in l if x[2] == 90][:8]))
        # the stop: track 0's CLIP STOP
        sq = pair_at(l, ('n', 0, P, 9), ('n', 14, P, 0), max(play, 0))
        blink = first_at(l, ('n', 0, 52, 2), max(play, 0))
        st = solid_at(l, ('n', 0, P, 9), 14, max(play, 0))
        c.check(play >= 0 and st > play, 'APC40 mkII: CLIP STOP pressed: the pad stopped, amber solid '
                '(90 20 09)%s' % ('' if sq >= 0 and blink >= 0 else
                                  ' [stop queued (90 20 09 9e 20 00, 90 34 02) not seen: '
                                  'queued for under an update]'),
                'pad 32 after playing: %s' % show([x for x in l[max(play, 0):] if x[2] == P][:12]))
        c.check(st >= 0 and ('n', 0, 52, 0) in l[st - 2 if st >= 2 else 0:],
                'APC40 mkII: and its CLIP STOP LED off again (90 34 00)',
                'note 52 ch 0: %s' % show([x for x in l if x[1:3] == (0, 52)]))
        c.check('track 0 scene 0: stopped' in log, 'APC40 mkII: the engine stopped track 0 scene 0')
        audio(c, out, 'APC40 mkII', 'mk2-playing.raw', log)

    def master(c, raw, when):
        """MASTER (note 80), the SD card's LED: blinking by gridloop's own
        timing, 1 and 0 in turn (Akai's table gives it only off and on)."""
        vals, ticks, t = [], [], 0
        for m in parse_with_ticks(raw):
            if m == 'tick':
                t += 1
                continue
            x = led(m)
            if x and x[0] == 'n' and x[2] == 80:
                vals.append((x[1], x[3]))
                ticks.append(t)
                t = 0
        flips = sum(1 for a, b in zip(vals, vals[1:]) if a[1] != b[1])
        c.check(flips >= 2 and all(ch == 0 and v in (0, 1) for ch, v in vals),
                'APC40 mkII: %s, the MASTER LED (the SD card) blinks by gridloop\'s timing: '
                '90 50 01 / 90 50 00 in turn' % when,
                'note 80: %s' % vals)
        if len(ticks) > 2:
            half = sorted(ticks[1:])[len(ticks[1:]) // 2]
            c.info('APC40 mkII: MASTER blink %s: median %d clock ticks (96 a second at 240 BPM) '
                   'per half cycle, %d changes' % (when, half, len(vals)))

    def mk2_after(c, l, log):
        c.check('SD card is read-only' in log and 'cannot save' in log,
                'APC40 mkII: its session on a read-only card: gridloop said the save failed')
        lock = [x for x in log.splitlines() if 'cannot lock' in x]
        c.check(bool(lock) and all('read-only' in x and 'not mounted' not in x for x in lock),
                'APC40 mkII: ... and that its lock cannot be taken because the card is read-only '
                '(not "not mounted": the directory is there)', ' | '.join(lock))
        master(c, rd(out, 'mk21.bin'), 'after the failed save')
        master(c, rd(out, 'mk22.bin'), 'after the replug still')

    def mk2_ident(x):  # CLIP STOP is note 52 on the track's channel
        return (x[0], x[1] if x[2] == 52 else 0, x[2])

    device(c, out, 'mk2', 'APC40 mkII', MK2_INTRO, MK2_OUTRO, mk2, mk2_ident, mk2_take,
           mk2_after, {('n', 0, P): (0, 9), ('n', 0, 90): (0, 1)},
           lambda x: x[0] == 'n' and x[2] == 80, status=1)  # MASTER: the SD card's LED

    # ---- Launchpad X
    LPX_INTRO = (0xF0, 0x00, 0x20, 0x29, 0x02, 0x0C, 0x0E, 0x01, 0xF7)
    LPX_OUTRO = LPX_INTRO[:7] + (0x00, 0xF7)
    lpx = [('n', 0, 10 * r + x) for r in range(1, 9) for x in range(1, 9)] + \
          [('c', 0, 10 * r + 9) for r in range(1, 9)] + [('c', 0, 95), ('c', 0, 96)]
    Q = 81  # the pad: top left, track 0 scene 0

    def lpx_take(c, l, log):
        rq = pair_at(l, ('n', 0, Q, 5), ('n', 1, Q, 0))
        rec = first_at(l, ('n', 2, Q, 5))
        c.check(rec >= 0, 'Launchpad X: pad 81 recording = pulsing red (92 51 05)%s'
                % ('' if rq >= 0 else ' [record queued, flashing 90 51 05 91 51 00, not seen: '
                   'queued for under an update]'),
                'pad 81: %s' % show([x for x in l if x[2] == Q and x[0] == 'n'][:12]))
        play = first_at(l, ('n', 2, Q, 21), max(rec, 0))
        c.check(rec >= 0 and play > rec, 'Launchpad X: on the 2nd press playing = pulsing green (92 51 15)',
                'pad 81: %s' % show([x for x in l if x[2] == Q and x[0] == 'n'][:12]))
        c.check('track 0 scene 0: recording' in log and 'track 0 scene 0: playing' in log,
                'Launchpad X: the engine recorded and played track 0 scene 0',
                ' | '.join(x for x in log.splitlines() if 'track 0 scene 0' in x)[:300])
        c.check(solid_at(l, ('c', 0, 89, 21), 1) >= 0,
                'Launchpad X: scene 1 (CC 89) lit green (b0 59 15) while its row plays',
                'CC 89: %s' % show([x for x in l if x[0] == 'c' and x[2] == 89][:8]))
        c.check(play >= 0 and first_at(l, ('c', 0, 96, 3), play) >= 0,
                'Launchpad X: metronome (CC 96) pressed: lit white (b0 60 03)',
                'CC 96: %s' % show([x for x in l if x[0] == 'c' and x[2] == 96][:8]))
        audio(c, out, 'Launchpad X', 'lpx-playing.raw', log)

    def lpx_after(c, l, log):
        sq = pair_at(l, ('n', 0, Q, 9), ('n', 1, Q, 0))
        st = solid_at(l, ('n', 0, Q, 9), 1)
        c.check(sq >= 0 or st >= 0, 'Launchpad X: shift (CC 98) + scene 8 (CC 19) = stop all: pad 81 '
                'flashing amber/black (90 51 09 91 51 00) or, past the bar line, amber (90 51 09)',
                'pad 81 after the replug: %s' % show([x for x in l if x[2] == Q and x[0] == 'n']))
        c.check('track 0 scene 0: stopped' in log or 'track 0 scene 0: stop queued' in log or sq >= 0,
                'Launchpad X: the engine queued or made the stop')

    device(c, out, 'lpx', 'Launchpad X', LPX_INTRO, LPX_OUTRO, lpx,
           lambda x: (x[0], 0, x[2]), lpx_take, lpx_after,
           {('n', 0, Q): (2, 21), ('c', 0, 89): (0, 21), ('c', 0, 96): (0, 3)},
           lambda x: x[0] == 'c' and x[2] == 98)  # the status LED, the logo row's last

    # ---- Launchpad Mini mk3: identified, programmer mode, dark at exit
    LPM_INTRO = (0xF0, 0x00, 0x20, 0x29, 0x02, 0x0D, 0x0E, 0x01, 0xF7)
    LPM_OUTRO = LPM_INTRO[:7] + (0x00, 0xF7)
    log = rd(out, 'lpm.log').decode(errors='replace')
    m = parse(rd(out, 'lpm1.bin'))
    c.check("identified by its inquiry reply: 'Launchpad Mini mk3'" in log,
            'Launchpad Mini mk3: its inquiry reply (00 20 29 13 01) made gridloop take its profile',
            ' | '.join(x for x in log.splitlines() if 'controller' in x)[:300])
    k = m.index(LPM_INTRO) if LPM_INTRO in m else -1
    f = firsts(leds(m[k:]), lambda x: (x[0], 0, x[2])) if k >= 0 else {}
    c.check(k >= 0 and all(f.get(x, (0, 1))[1] == 0 for x in lpx),
            'Launchpad Mini mk3: programmer mode (f0 00 20 29 02 0d 0e 01 f7), then all %d LEDs dark'
            % len(lpx), 'SysEx: %s; missing or lit: %s'
            % ([hexs(x) for x in m if x[0] == 0xF0], [x for x in lpx if f.get(x, (0, 1))[1]][:8]))
    last = {}
    for x in leds(m[k:] if k >= 0 else []):
        last[(x[0], x[2])] = x
    c.check(bool(m) and m[-1] == LPM_OUTRO and all(x[3] == 0 and x[1] == 0 for x in last.values()),
            'Launchpad Mini mk3: at SIGTERM dark, then Live mode (f0 00 20 29 02 0d 0e 00 f7) last',
            'last: %s' % [hexs(x) for x in m[-3:]])

    # ---- which ports of a device
    counts = {}
    for f in ('ports-a.txt', 'ports-b.txt', 'ports-c.txt'):
        for x in rd(out, f).decode(errors='replace').splitlines():
            m = re.match(r"port \d+ '(.*)': events (\d+), notes (\d+), sysex (\d+), clock (\d+)", x)
            if m:
                counts[m.group(1)] = tuple(int(m.group(i)) for i in (2, 3, 5))
    glog = rd(out, 'ports.log.gl').decode(errors='replace')
    conn = [x for x in glog.splitlines() if 'controller connected' in x]
    c.info('ports: %s' % counts)
    for port, model, yes in (('APC mini mk2 APC mini mk2 Contr', 'APC mini mk2', True),
                             ('APC mini mk2 APC mini mk2 Notes', 'APC mini mk2', False),
                             ('APC mini mk2 MIDI 1', 'APC mini mk2', True),
                             ('APC mini mk2 MIDI 2', 'APC mini mk2', False),
                             ('APC MINI MIDI 1', 'APC mini', True)):
        said = [x for x in conn if port in x]
        got = counts.get(port)
        if yes:
            c.check(got is not None and got[1] >= 64 and len(said) == 1 and "'%s'" % model in said[0],
                    "ports: '%s' connected as the %s, its LEDs sent there" % (port, model),
                    'events, notes, clock: %s; log: %s' % (got, said))
            c.check(got is not None and (got[2] > 0) == (model == 'APC mini mk2'),
                    "ports: MIDI clock to '%s' only if its profile says clock = yes (%s: %s)"
                    % (port, model, 'yes' if model == 'APC mini mk2' else 'no'),
                    'clock ticks: %s' % (got[2] if got else None))
        else:
            c.check(got is not None and got[0] == 0 and not said,
                    "ports: '%s' (the device's second port) not connected, nothing sent to it" % port,
                    'events, notes, clock: %s; log: %s' % (got, said))
    c.check(len(conn) == 3, 'ports: gridloop connected 3 controllers, no other port',
            ' | '.join(conn))
    c.check('ports_gridloop_status=0' in rd(out, 'result.txt').decode(errors='replace'),
            'ports: SIGTERM stopped gridloop cleanly (status 0)')
    print('\n'.join(c.lines))


main()
