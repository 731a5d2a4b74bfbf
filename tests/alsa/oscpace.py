#!/usr/bin/env python3
"""oscpace.py -- helpers of scripts/test-osc.

  oscpace.py pace FIFO SECONDS NOISE_FROM NOISE_TO
      Writes stereo FLOAT frames at 48 kHz into FIFO in real time, 256 frames
      at a time (atomic pipe writes), for SECONDS: seeded noise on channel 1
      between NOISE_FROM and NOISE_TO seconds, silence elsewhere. The same
      samples are written to FIFO.in.raw, for the check. Paced capture is what
      lets a client act between periods over OSC.
  oscpace.py loop OUT IN FROM_S TO_S LOOP_LEN_S
      Checks that the output OUT between FROM_S and TO_S is one loop played
      again and again: it repeats with a period L (sample for sample) that is
      LOOP_LEN_S (as gridloop reported it over OSC) within 2 frames, and its
      content is input channel 1 (from IN) at some offset, at one gain.
      Prints what it found; exit status 0 only if all of that holds.
  oscpace.py client PORT
      A python3-liblo client: sends from its own port an unknown path, a
      SooperLooper command gridloop has not, and /ping; expects an error
      reply for each of the first two, at its sender port, and the pong.
  oscpace.py junk PORT
      Sends malformed datagrams (not OSC, a string without its end, a
      datagram larger than gridloop reads), then asks /gridloop/stats and
      prints the reply's counts.
  oscpace.py flood PORT COUNT
      Sends COUNT datagrams as fast as it can; prints how many it sent.
"""
import array
import random
import socket
import struct
import sys
import time

RATE = 48000
CHUNK = 256


def pace(fifo, seconds, noise_from, noise_to):
    rnd = random.Random(12)
    total = int(seconds * RATE)
    start = time.monotonic()
    raw = open(fifo + ".in.raw", "wb")
    with open(fifo, "wb", buffering=0) as f:
        done = 0
        while done < total:
            buf = array.array("f")
            for i in range(done, done + CHUNK):
                t = i / RATE
                v = rnd.uniform(-0.5, 0.5) if noise_from <= t < noise_to else 0.0
                buf.append(v)
                buf.append(0.0)
            b = buf.tobytes()
            try:
                f.write(b)
            except BrokenPipeError:
                break
            raw.write(b)
            done += CHUNK
            ahead = start + done / RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    raw.close()


def loop(out, inp, from_s, to_s, loop_len_s):
    o = array.array("f")
    o.frombytes(open(out, "rb").read())
    left = o[0::2]
    i = array.array("f")
    i.frombytes(open(inp, "rb").read())
    in1 = i[0::2]
    a, b = int(from_s * RATE), int(to_s * RATE)
    if len(left) < b:
        print("output too short: %d frames" % len(left))
        return 1
    seg = left[a:a + 64].tobytes()
    if not any(left[a:a + 64]):
        print("silence at %d" % a)
        return 1
    tail = left.tobytes()
    nxt = tail.find(seg, (a + 1) * 4)
    if nxt < 0 or nxt % 4:
        print("no repetition after frame %d" % a)
        return 1
    period = nxt // 4 - a
    want = loop_len_s * RATE
    print("repeats every %d frames; OSC loop_len %.6f s = %.1f frames" %
          (period, loop_len_s, want))
    if abs(period - want) > 2:
        return 1
    for k in range(a, b - period):
        if left[k] != left[k + period]:
            print("frame %d differs from frame %d" % (k, k + period))
            return 1
    # The loop's content is the input, at one gain, somewhere.
    ref = left[a:a + 32]
    for j in range(len(in1) - 32):
        if in1[j] == 0.0:
            continue
        g = ref[0] / in1[j]
        if all(abs(ref[n] - g * in1[j + n]) < 1e-6 for n in range(32)):
            print("the loop is input frames from %d, gain %.3f" % (j, g))
            return 0 if 0.1 < abs(g) < 2.1 else 1
    print("the loop's audio is not the input's")
    return 1


def osc(path, types="", *args):
    def pad(b):
        return b + b"\0" * (4 - len(b) % 4)
    b = pad(path.encode()) + pad(("," + types).encode())
    for t, v in zip(types, args):
        if t == "s":
            b += pad(v.encode())
        elif t == "i":
            b += struct.pack(">i", v)
        elif t == "f":
            b += struct.pack(">f", v)
    return b


def client(port):
    import liblo
    srv = liblo.Server()
    got = []
    srv.add_method(None, None, lambda path, args: got.append((path, args)))
    me = "osc.udp://127.0.0.1:%d/" % srv.port
    target = liblo.Address("127.0.0.1", port)
    srv.send(target, "/nope", "x")
    srv.send(target, "/sl/0/hit", "solo")  # SooperLooper has it, gridloop not
    srv.send(target, "/ping", me, "/pong")
    end = time.monotonic() + 3
    while time.monotonic() < end and len(got) < 3:
        srv.recv(100)
    for g in got:
        print("got", g[0], g[1])
    want = [("/gridloop/error", ["/nope", "unknown path"]),
            ("/gridloop/error", ["/sl/0/hit", "gridloop has no such loop operation"])]
    pong = [g for g in got if g[0] == "/pong"]
    ok = all(w in got for w in want) and pong and pong[0][1][1:] == ["gridloop 0.1.0", 8]
    return 0 if ok else 1


def stats(sock, port):
    sock.sendto(osc("/gridloop/stats", "ss", "osc.udp://127.0.0.1:%d/" %
                    sock.getsockname()[1], "/st"), ("127.0.0.1", port))
    sock.settimeout(3)
    while True:
        data, _ = sock.recvfrom(65536)
        if data.startswith(b"/st\0"):
            return struct.unpack(">7i", data[-28:])


def junk(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    bad = [b"garbage", b"/sl/0/hit\0\0\0,s\0\0reco", b"/" + b"x" * 6000,
           osc("/sl/0/hit", "s", "record")[:-4]]
    for b in bad:
        s.sendto(b, ("127.0.0.1", port))
    time.sleep(0.2)
    n = stats(s, port)
    print("packets %d malformed %d unknown %d refused %d commands %d dropped %d "
          "flood %d" % n)
    return 0


def flood(port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    msg = osc("/flood", "s", "x" * 32)
    sent = 0
    for _ in range(count):
        try:
            s.sendto(msg, ("127.0.0.1", port))
            sent += 1
        except OSError:
            pass
    print("sent %d" % sent)
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "pace":
        pace(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
        sys.exit(0)
    if cmd == "loop":
        sys.exit(loop(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]),
                      float(sys.argv[6])))
    if cmd == "client":
        sys.exit(client(int(sys.argv[2])))
    if cmd == "junk":
        sys.exit(junk(int(sys.argv[2])))
    if cmd == "flood":
        sys.exit(flood(int(sys.argv[2]), int(sys.argv[3])))
    sys.exit(2)
