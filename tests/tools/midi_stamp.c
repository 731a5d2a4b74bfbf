/* midi_stamp.c -- the virtual board's MIDI clock listener: reads a raw MIDI
 * device (a VirMIDI card's /dev/snd/midiCxDy, the far end of a sequencer
 * port gridloop sends to) and prints every byte with the CLOCK_MONOTONIC
 * time it arrived, one "microseconds hex" line each, for tests/vm/clock.sh.
 *
 *   midi_stamp DEVICE        (until SIGTERM, or the device goes away)
 *
 * Open before gridloop connects: VirMIDI drops what nobody reads. Runs at
 * SCHED_FIFO 60 when it may, so that its stamps are the kernel's delivery
 * times and not its own scheduling.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: midi_stamp DEVICE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "midi_stamp: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct sched_param sp = {.sched_priority = 60};
	sched_setscheduler(0, SCHED_FIFO, &sp); /* best effort */
	setvbuf(stdout, NULL, _IOLBF, 0);
	unsigned char buf[256];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		long long us = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
		for (ssize_t i = 0; i < n; i++)
			printf("%lld %02x\n", us, buf[i]);
	}
	close(fd);
	return 0;
}
