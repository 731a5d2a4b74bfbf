#!/usr/bin/env python3
"""notify.py -- stands in for systemd's notification socket in
scripts/test-alsa: receives sd_notify() datagrams on SOCKET and writes each
to LOG on a line of its own (newlines inside a message become " | "), until
STOPPING=1 arrives or SECONDS pass. Standard library only.

  notify.py SOCKET LOG SECONDS
"""
import os
import socket
import sys
import time


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    path, log, seconds = argv[1], argv[2], float(argv[3])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path + ".tmp")
    os.rename(path + ".tmp", path)  # it exists only once it listens
    sock.settimeout(0.1)
    end = time.monotonic() + seconds
    with open(log, "w") as out:
        while time.monotonic() < end:
            try:
                msg = sock.recv(4096).decode(errors="replace")
            except socket.timeout:
                continue
            out.write(msg.strip().replace("\n", " | ") + "\n")
            out.flush()
            if "STOPPING=1" in msg:
                break
    os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
