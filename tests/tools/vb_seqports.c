/* vb_seqports.c -- a stand-in USB MIDI device for the virtual board: an ALSA
 * sequencer client with the client and port names a real device has (e.g.
 * "APC mini mk2" with "APC mini mk2 APC mini mk2 Contr" and "... Notes"),
 * so that the tests see which of a device's ports gridloop connects to and
 * what it sends to each (snd-virmidi's names are fixed: "VirMIDI 1-0").
 *
 *   vb_seqports [--log FILE] CLIENT PORT...
 *
 * Creates the client and one duplex port per PORT name (as snd-seq-midi
 * makes them for a USB device: read, write, subscribable both ways), says
 * "ready" on stderr, then counts the events that arrive on each port until
 * SIGTERM or SIGINT. With --log, every event is also appended to FILE as it
 * arrives, one line each, stamped with CLOCK_MONOTONIC when it was read
 * (seconds since the kernel started; the arm64 board's LED figures):
 *   T ready CLIENT-ID PID          at start, once the ports are made
 *   T PORT note CH NOTE VELOCITY   a note-on (an LED: velocity = colour)
 *   T PORT off CH NOTE VELOCITY    a note-off
 *   T PORT cc CH CC VALUE          a control change
 *   T PORT sysex HEX...            a SysEx message (up to 64 bytes shown)
 *   T PORT type N                  anything else but clock ticks
 *   T exit                         at SIGTERM or SIGINT
 * (T: seconds with nine decimals; PORT: the port's number; CH from 0.)
 * Then prints one line per port on stdout:
 *   port N 'NAME': events E, notes K, sysex S, clock C, other O, subscribers R
 * (notes: note-on events, LEDs; clock: MIDI clock ticks; other: the rest, by
 * type in "other types" on stderr; subscribers: the ports that read from it
 * now).
 * Exit status 0; 1 when the sequencer, a port or the log cannot be made;
 * 2 for bad usage.
 */
#include <alsa/asoundlib.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 8

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct port_count {
	int port;
	const char *name;
	long events, notes, sysex, clock, other;
};

/* The log (--log), line-buffered: NULL without one. */
static FILE *log_file;

/* One log line, stamped with CLOCK_MONOTONIC now. */
static __attribute__((format(printf, 1, 2))) void log_event(const char *fmt, ...)
{
	if (!log_file)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(log_file, "%lld.%09ld ", (long long)ts.tv_sec, ts.tv_nsec);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(log_file, fmt, ap);
	va_end(ap);
	fputc('\n', log_file);
}

/* The event ev, arrived on our port `port`, as one log line. */
static void log_seq_event(int port, const snd_seq_event_t *ev)
{
	const snd_seq_ev_note_t *n = &ev->data.note;
	const snd_seq_ev_ctrl_t *c = &ev->data.control;
	switch (ev->type) {
	case SND_SEQ_EVENT_NOTEON:
		log_event("%d note %d %d %d", port, n->channel, n->note, n->velocity);
		break;
	case SND_SEQ_EVENT_NOTEOFF:
		log_event("%d off %d %d %d", port, n->channel, n->note, n->velocity);
		break;
	case SND_SEQ_EVENT_CONTROLLER:
		log_event("%d cc %d %u %d", port, c->channel, c->param, c->value);
		break;
	case SND_SEQ_EVENT_SYSEX: {
		char hex[64 * 3 + 1] = "";
		const unsigned char *b = ev->data.ext.ptr;
		unsigned len = ev->data.ext.len < 64 ? ev->data.ext.len : 64;
		for (unsigned i = 0; i < len; i++) /* "xx " each, the last ' ' cut */
			snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", b[i]);
		if (len)
			hex[3 * len - 1] = '\0';
		log_event("%d sysex %s", port, hex);
		break;
	}
	case SND_SEQ_EVENT_CLOCK:
		break; /* 24 a beat: counted, not logged */
	default:
		log_event("%d type %d", port, ev->type);
		break;
	}
}

/* The number of subscribers reading from a port of ours. */
static int readers(snd_seq_t *seq, int client, int port)
{
	snd_seq_query_subscribe_t *q;
	snd_seq_query_subscribe_alloca(&q);
	snd_seq_addr_t root = {.client = (unsigned char)client,
			       .port = (unsigned char)port};
	snd_seq_query_subscribe_set_root(q, &root);
	snd_seq_query_subscribe_set_type(q, SND_SEQ_QUERY_SUBS_READ);
	snd_seq_query_subscribe_set_index(q, 0);
	int n = 0;
	while (snd_seq_query_port_subscribers(seq, q) >= 0) {
		n++;
		snd_seq_query_subscribe_set_index(
		    q, snd_seq_query_subscribe_get_index(q) + 1);
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *log_path = NULL;
	if (argc > 2 && strcmp(argv[1], "--log") == 0) {
		log_path = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 3 || argc - 2 > MAX_PORTS) {
		fprintf(
		    stderr,
		    "usage: vb_seqports [--log FILE] CLIENT PORT... (up to %d ports)\n",
		    MAX_PORTS);
		return 2;
	}
	if (log_path) {
		log_file = fopen(log_path, "a");
		if (!log_file) {
			fprintf(stderr, "vb_seqports: cannot open %s: %s\n", log_path,
				strerror(errno));
			return 1;
		}
		setvbuf(log_file, NULL, _IOLBF, 0);
	}
	snd_seq_t *seq = NULL;
	int err = snd_seq_open(&seq, "default", SND_SEQ_OPEN_DUPLEX, 0);
	if (err < 0) {
		fprintf(stderr, "vb_seqports: cannot open the sequencer: %s\n",
			snd_strerror(err));
		return 1;
	}
	snd_seq_set_client_name(seq, argv[1]);
	struct port_count ports[MAX_PORTS];
	int nports = argc - 2;
	for (int i = 0; i < nports; i++) {
		ports[i].name = argv[2 + i];
		ports[i].events = ports[i].notes = ports[i].sysex = ports[i].clock = 0;
		ports[i].other = 0;
		ports[i].port = snd_seq_create_simple_port(
		    seq, ports[i].name,
		    SND_SEQ_PORT_CAP_READ | SND_SEQ_PORT_CAP_WRITE |
			SND_SEQ_PORT_CAP_SUBS_READ | SND_SEQ_PORT_CAP_SUBS_WRITE |
			SND_SEQ_PORT_CAP_DUPLEX,
		    SND_SEQ_PORT_TYPE_MIDI_GENERIC | SND_SEQ_PORT_TYPE_HARDWARE |
			SND_SEQ_PORT_TYPE_PORT);
		if (ports[i].port < 0) {
			fprintf(stderr, "vb_seqports: cannot make port '%s': %s\n",
				ports[i].name, snd_strerror(ports[i].port));
			snd_seq_close(seq);
			return 1;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: the blocking read returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fprintf(stderr, "vb_seqports: client %d '%s' ready\n", snd_seq_client_id(seq),
		argv[1]);
	log_event("ready %d %ld", snd_seq_client_id(seq), (long)getpid());
	while (!stop) {
		snd_seq_event_t *ev = NULL;
		int rc = snd_seq_event_input(seq, &ev);
		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		if (rc == -ENOSPC) /* the kernel's buffer overflowed */
			continue;
		if (rc < 0) {
			fprintf(stderr, "vb_seqports: reading: %s\n", snd_strerror(rc));
			break;
		}
		for (int i = 0; i < nports; i++) {
			if (ev->dest.port != ports[i].port)
				continue;
			log_seq_event(ports[i].port, ev);
			ports[i].events++;
			if (ev->type != SND_SEQ_EVENT_NOTEON &&
			    ev->type != SND_SEQ_EVENT_SYSEX &&
			    ev->type != SND_SEQ_EVENT_CLOCK)
				fprintf(stderr, "vb_seqports: port '%s': other type %d\n",
					ports[i].name, ev->type);
			ports[i].notes += ev->type == SND_SEQ_EVENT_NOTEON;
			ports[i].sysex += ev->type == SND_SEQ_EVENT_SYSEX;
			ports[i].clock += ev->type == SND_SEQ_EVENT_CLOCK;
			ports[i].other += ev->type != SND_SEQ_EVENT_NOTEON &&
					  ev->type != SND_SEQ_EVENT_SYSEX &&
					  ev->type != SND_SEQ_EVENT_CLOCK;
		}
	}
	int me = snd_seq_client_id(seq);
	for (int i = 0; i < nports; i++)
		printf("port %d '%s': events %ld, notes %ld, sysex %ld, clock %ld, other "
		       "%ld, "
		       "subscribers %d\n",
		       ports[i].port, ports[i].name, ports[i].events, ports[i].notes,
		       ports[i].sysex, ports[i].clock, ports[i].other,
		       readers(seq, me, ports[i].port));
	snd_seq_close(seq);
	log_event("exit");
	if (log_file)
		fclose(log_file);
	return 0;
}
