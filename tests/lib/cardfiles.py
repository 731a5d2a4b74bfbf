"""cardfiles.py -- the one reader of what gridloop writes on the SD card, for
every Python checker (tests/alsa/sessioncheck.py, cardmodel.py, fixture.py,
tests/vm/sessioncheck.py): WAV files and the session manifest. The checkers
that decide that no take was lost must not disagree on what a whole file is.

WAV is parsed here by hand, independently of the libsndfile the firmware
writes it with: RIFF and RF64 (ds64), PCM 16/24/32 and 32-bit float, plain
or WAVE_FORMAT_EXTENSIBLE. A file is whole when its RIFF (or ds64) size is
the file's, its data chunk is all there and holds whole frames; anything
else is a Fail naming the file and what is wrong. Standard library only.

  read_wav(path)        Wav(rate, channels, chans, kind): chans is one
                        sequence of samples per channel, in -1..1 (float:
                        array('f'), exactly as stored); kind is "float",
                        "pcm16", "pcm24" or "pcm32"
  load_manifest(dir)    DIR/session.json, parsed (OSError, ValueError)
  clip_slots(manifest)  {(track - 1, scene - 1): clip} (ValueError)
"""
import array
import collections
import json
import os
import struct

MANIFEST = "session.json"

Wav = collections.namedtuple("Wav", "rate channels chans kind")


class Fail(Exception):
    """A file that is not what a checker expects; the message says why."""


def _need(cond, msg):
    if not cond:
        raise Fail(msg)


def read_wav(path):
    """The WAV file at `path` as a Wav; Fail when it is not whole or not a
    format read here; OSError when it cannot be read."""
    with open(path, "rb") as f:
        data = f.read()
    _need(len(data) >= 12 and data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE",
          "%s: not a RIFF/RF64 WAVE file (%d bytes)" % (path, len(data)))
    riff = struct.unpack("<I", data[4:8])[0]
    pos, fmt, body, ds64 = 12, None, None, None
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        start = pos + 8
        if cid == b"ds64":
            _need(size >= 24 and start + 24 <= len(data), "%s: ds64 chunk cut short" % path)
            riff, ds64 = struct.unpack("<QQ", data[start:start + 16])
        if cid == b"data":
            if size == 0xFFFFFFFF and ds64 is not None:
                size = ds64
            body = data[start:start + size]
            _need(len(body) == size, "%s: data chunk of %d bytes, %d there (cut short)"
                  % (path, size, len(body)))
        if cid == b"fmt ":
            fmt = data[start:start + size]
        pos = start + size + (size & 1)
    _need(riff + 8 == len(data), "%s: RIFF size %d + 8 is not the file's %d bytes (cut short?)"
          % (path, riff, len(data)))
    _need(fmt is not None and len(fmt) >= 16 and body is not None,
          "%s: no fmt or data chunk" % path)
    tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the subformat
        tag = struct.unpack("<H", fmt[24:26])[0]
    _need(channels >= 1 and align == channels * bits // 8,
          "%s: odd block alignment %d" % (path, align))
    _need(len(body) % align == 0, "%s: data chunk of %d bytes is not whole %d-byte frames"
          % (path, len(body), align))
    if tag == 3 and bits == 32:
        inter, kind = array.array("f", body), "float"
    elif tag == 1 and bits == 16:
        inter, kind = [v / 32768.0 for v in array.array("h", body)], "pcm16"
    elif tag == 1 and bits == 32:
        inter, kind = [v / 2147483648.0 for v in array.array("i", body)], "pcm32"
    elif tag == 1 and bits == 24:
        inter = []
        for i in range(0, len(body) - 2, 3):
            v = body[i] | body[i + 1] << 8 | body[i + 2] << 16
            inter.append((v - (1 << 24) if v & 0x800000 else v) / 8388608.0)
        kind = "pcm24"
    else:
        raise Fail("%s: format tag %d, %d bits: not read here" % (path, tag, bits))
    chans = [inter[c::channels] for c in range(channels)]
    if kind == "float":
        chans = [array.array("f", c) for c in chans]
    return Wav(rate, channels, chans, kind)


def load_manifest(d):
    """The session manifest of the session directory `d`, parsed; OSError
    when it cannot be read, ValueError when it is not JSON."""
    with open(os.path.join(d, MANIFEST)) as f:
        return json.load(f)


def clip_slots(m):
    """The manifest's clips by (engine track, engine scene), 0-based;
    ValueError when the manifest has no clip list of that shape."""
    try:
        return {(c["track"] - 1, c["scene"] - 1): c for c in m["clips"]}
    except (KeyError, TypeError) as e:
        raise ValueError("no clips list of tracks and scenes (%r)" % e)
