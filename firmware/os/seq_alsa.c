/* seq_alsa.c -- the ALSA sequencer client and its thread: connections,
 * hotplug, MIDI in and out, LEDs and MIDI clock (see seq_alsa.h). What to
 * do with the MIDI is midi_hub.c's; this file is the OS side. */
#include "seq_alsa.h"

#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alsa_log.h"
#include "mono_clock.h"
#include "thread.h"

#define REPORTS	       64
#define REPORT_TEXT    240
#define CLOCK_SOURCES  4
#define CODEC_BYTES    256 /* the longest SysEx encoded at once (intro: 64) */
#define INPUT_BYTES    512 /* the longest SysEx event read (an inquiry reply: 15) */
#define OUTPUT_BYTES   256 /* LED bytes per controller_output() call */
#define OUTPUT_BUFFER  (64 * 1024) /* alsa-lib's: a whole LED refresh of every port */
#define OUTPUT_POOL    1000	   /* kernel events in flight (scheduled clock too) */
#define HOLD_POLL_MS   5	   /* a foot switch held: look again this soon */
#define IDLE_POLL_MS   1000	   /* the longest sleep (a resync is due each second) */
#define CLOCK_DESTS    16	   /* subscribers of our port given clock */
#define LEAVE_ATTEMPTS 50	   /* at exit: sending the dark LEDs, at most ... */
#define LEAVE_WAIT_MS  4	   /* ... this far apart (0.2 s in all) */
#define RESYNC_US      1000000	   /* queue time <-> CLOCK_MONOTONIC, again */
#define CLOCK_BATCH    16
#define DRAIN_ATTEMPTS 64

struct seq_report {
	char text[REPORT_TEXT];
};

struct addr {
	int client, port;
};

struct seq_alsa {
	struct seq_alsa_config cfg;
	struct spsc reports; /* this thread -> the supervisor */
	pthread_t thread;
	bool started;
	atomic_bool stop;

	/* Owned by the thread. */
	struct midi_hub hub;
	snd_seq_t *seq;
	int my_client, my_port, queue;
	snd_midi_event_t *decoder, *encoder;
	int64_t next_open_us;
	int last_open_error;
	struct time_map time; /* the stream's clock, as last read */
	bool time_known;
	int64_t queue_offset_us; /* CLOCK_MONOTONIC us = queue real time + this */
	bool queue_ok;
	int64_t next_resync_us;
	int64_t asked_at; /* of the audio thread: a wake-up past this frame */
	bool output_pending;
	bool refresh[MIDI_HUB_PORTS];	      /* LEDs lost on the way: send all again */
	struct addr clock_dests[CLOCK_DESTS]; /* subscribers that get clock */
	int nclock_dests;
	bool clock_dests_stale;		  /* subscriptions or controllers changed */
	bool clock_named[MIDI_HUB_PORTS]; /* the config's clock_out_port: clock whatever
					     the profile */
	struct addr clock_sources[CLOCK_SOURCES];
	int nclock_sources;
	uint32_t sent, clock_messages, input_lost, output_lost;
	uint32_t woke_events, woke_midi, woke_timeout; /* wait_for_work's ends */
	bool said_input_lost;

	/* Read by seq_alsa_get_stats() from other threads. */
	atomic_bool st_open, st_realtime, st_queue_stamps;
	atomic_int st_controllers;
	atomic_uint st_commands, st_refused, st_events, st_sent, st_clock, st_input_lost,
	    st_output_lost, st_woke_events, st_woke_midi, st_woke_timeout;
};

static int64_t mono_us(void)
{
	return mono_ns() / 1000;
}

static __attribute__((format(printf, 2, 3))) void report(struct seq_alsa *s,
							 const char *fmt, ...)
{
	struct seq_report r;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r.text, sizeof(r.text), fmt, ap);
	va_end(ap);
	spsc_push(&s->reports, &r); /* full: dropped, never waits */
	wake_signal(s->cfg.supervisor_wake);
}

/* ---- events <-> bytes ----------------------------------------------------- */

int seq_alsa_codec_new(snd_midi_event_t **codec)
{
	int err = snd_midi_event_new(CODEC_BYTES, codec);
	if (err < 0)
		return err;
	/* Running status would leave a status byte out when the event before,
	 * from whatever port, had the same one. */
	snd_midi_event_no_status(*codec, 1);
	return 0;
}

size_t seq_alsa_event_bytes(snd_midi_event_t *codec, const snd_seq_event_t *ev,
			    uint8_t *out, size_t cap)
{
	long n = snd_midi_event_decode(codec, out, (long)cap, ev);
	return n > 0 ? (size_t)n : 0; /* -ENOENT: no MIDI; -ENOMEM: too long */
}

int seq_alsa_bytes_events(snd_midi_event_t *codec, const uint8_t *bytes, size_t len,
			  int (*emit)(void *ctx, snd_seq_event_t *ev), void *ctx)
{
	snd_midi_event_reset_encode(codec);
	int count = 0;
	while (len > 0) {
		snd_seq_event_t ev;
		snd_seq_ev_clear(&ev);
		long used = snd_midi_event_encode(codec, bytes, (long)len, &ev);
		if (used <= 0)
			return -EINVAL;
		bytes += used;
		len -= (size_t)used;
		if (ev.type == SND_SEQ_EVENT_NONE)
			continue; /* not a whole message yet */
		int rc = emit(ctx, &ev);
		if (rc < 0)
			return rc;
		count++;
	}
	return count;
}

/* ---- sending -------------------------------------------------------------- */

struct sending {
	struct seq_alsa *s;
	const struct addr *to; /* NULL: every subscriber */
	bool scheduled;	       /* at queue real time `at`, else at once */
	snd_seq_real_time_t at;
};

static int send_event(void *ctx, snd_seq_event_t *ev)
{
	struct sending *x = ctx;
	struct seq_alsa *s = x->s;
	snd_seq_ev_set_source(ev, s->my_port);
	if (x->to)
		snd_seq_ev_set_dest(ev, x->to->client, x->to->port);
	else
		snd_seq_ev_set_subs(ev);
	if (x->scheduled)
		snd_seq_ev_schedule_real(ev, s->queue, 0, &x->at);
	else
		snd_seq_ev_set_direct(ev);
	int err = snd_seq_event_output(s->seq, ev);
	if (err < 0)
		return err; /* -EAGAIN: alsa-lib's buffer and the kernel's are full */
	s->output_pending = true;
	s->sent++;
	return 0;
}

static bool send_bytes(struct seq_alsa *s, const struct addr *to, const uint8_t *bytes,
		       size_t len)
{
	struct sending x = {.s = s, .to = to};
	return seq_alsa_bytes_events(s->encoder, bytes, len, send_event, &x) >= 0;
}

/* Hands alsa-lib's buffer to the kernel. An event the kernel refuses (its
 * destination just went away) would block every one after it: it is taken
 * out and counted. */
static void flush(struct seq_alsa *s)
{
	if (!s->output_pending)
		return;
	for (int i = 0; i < DRAIN_ATTEMPTS; i++) {
		int rc = snd_seq_drain_output(s->seq);
		if (rc == 0) {
			s->output_pending = false;
			return;
		}
		if (rc > 0 || rc == -EAGAIN)
			return; /* the kernel is full: poll for POLLOUT */
		snd_seq_event_t *bad;
		if (snd_seq_extract_output(s->seq, &bad) < 0)
			return;
		s->output_lost++;
	}
}

/* The device inquiry as the slot's profile spells it (Akai's APC40
 * document: channel byte 00; others 7F, all devices). */
static void send_inquiry(struct seq_alsa *s, int slot, const struct addr *to)
{
	uint8_t inquiry[6];
	int n = midi_hub_inquiry(&s->hub, slot, inquiry);
	if (!send_bytes(s, to, inquiry, (size_t)n))
		s->output_lost++;
}

/* A controller is subscribed from our port whether or not it wants clock:
 * a kernel MIDI port opens its device only for a subscriber (snd-seq-midi,
 * snd-virmidi), and LEDs are sent to the port directly. */
static void subscribe_controller(struct seq_alsa *s, int client, int port)
{
	snd_seq_connect_to(s->seq, s->my_port, client, port);
}

/* Whether clock goes to a subscriber of our port: every one except a
 * controller whose profile does not want it (clock = no; the APC40 mkII
 * and the APC mini mk2, whose LED animations follow it, as Ableton marks
 * their ports, and the Launchpads say yes), unless [sync] clock_out_port
 * names it. */
static bool wants_clock(const struct seq_alsa *s, int client, int port)
{
	int slot = midi_hub_find(&s->hub, client, port);
	return (slot >= 0 && s->clock_named[slot]) ||
	       midi_hub_wants_clock(&s->hub, client, port);
}

/* The subscribers of our port that get clock (wants_clock), read again
 * when the subscriptions or the controllers changed. */
static void list_clock_dests(struct seq_alsa *s)
{
	s->nclock_dests = 0;
	s->clock_dests_stale = false;
	snd_seq_query_subscribe_t *q;
	snd_seq_query_subscribe_alloca(&q);
	snd_seq_addr_t root = {.client = (unsigned char)s->my_client,
			       .port = (unsigned char)s->my_port};
	snd_seq_query_subscribe_set_root(q, &root);
	snd_seq_query_subscribe_set_type(q, SND_SEQ_QUERY_SUBS_READ);
	snd_seq_query_subscribe_set_index(q, 0);
	while (s->nclock_dests < CLOCK_DESTS &&
	       snd_seq_query_port_subscribers(s->seq, q) >= 0) {
		const snd_seq_addr_t *a = snd_seq_query_subscribe_get_addr(q);
		if (wants_clock(s, a->client, a->port))
			s->clock_dests[s->nclock_dests++] =
			    (struct addr){a->client, a->port};
		snd_seq_query_subscribe_set_index(
		    q, snd_seq_query_subscribe_get_index(q) + 1);
	}
}

static void send_leds(struct seq_alsa *s)
{
	uint8_t out[OUTPUT_BYTES];
	for (int i = 0; i < MIDI_HUB_PORTS; i++) {
		const struct midi_hub_port *pt = &s->hub.ports[i];
		if (!pt->connected)
			continue;
		if (s->refresh[i]) {
			midi_hub_refresh(&s->hub, i);
			s->refresh[i] = false;
		}
		struct addr to = {pt->client, pt->port};
		size_t n;
		while ((n = midi_hub_output(&s->hub, i, out, sizeof(out))) > 0) {
			if (!send_bytes(s, &to, out, n)) {
				/* The controller believes these were sent. */
				s->refresh[i] = true;
				s->output_lost++;
				break;
			}
		}
	}
}

/* Clock messages up to the horizon, each scheduled at the time its frame
 * is heard. Listed without a sequencer too, so that the listing stays
 * current. */
static void send_clock(struct seq_alsa *s, int64_t horizon)
{
	struct midi_clock_msg msg[CLOCK_BATCH];
	int n;
	do {
		n = midi_hub_clock(&s->hub, horizon, msg, CLOCK_BATCH);
		if (n > 0 && s->seq && s->clock_dests_stale)
			list_clock_dests(s);
		for (int i = 0; i < n * s->nclock_dests && s->seq && s->time_known; i++) {
			struct sending x = {.s = s,
					    .to = &s->clock_dests[i % s->nclock_dests]};
			const struct midi_clock_msg *m = &msg[i / s->nclock_dests];
			if (s->queue_ok) {
				int64_t us = time_map_us(&s->time, m->frame) +
					     (int64_t)s->cfg.output_delay_frames *
						 1000000 / s->hub.cfg.rate -
					     s->queue_offset_us;
				if (us < 0)
					us = 0; /* before the queue started: now */
				x.scheduled = true;
				x.at.tv_sec = (unsigned)(us / 1000000);
				x.at.tv_nsec = (unsigned)(us % 1000000) * 1000;
			}
			if (seq_alsa_bytes_events(s->encoder, m->bytes, m->len,
						  send_event, &x) < 0)
				s->output_lost++;
			else if (i % s->nclock_dests == 0)
				s->clock_messages++; /* messages, not copies */
		}
	} while (n == CLOCK_BATCH);
}

/* ---- the queue's clock ------------------------------------------------------ */

/* Queue real time -> CLOCK_MONOTONIC: the queue's time read between two
 * clock readings; the tightest of three brackets wins. */
static void resync_queue(struct seq_alsa *s, int64_t now)
{
	snd_seq_queue_status_t *st;
	snd_seq_queue_status_alloca(&st);
	int64_t best_gap = INT64_MAX;
	for (int i = 0; i < 3; i++) {
		int64_t t1 = mono_us();
		if (snd_seq_get_queue_status(s->seq, s->queue, st) < 0) {
			s->queue_ok = false;
			return;
		}
		int64_t t2 = mono_us();
		const snd_seq_real_time_t *rt = snd_seq_queue_status_get_real_time(st);
		int64_t q = (int64_t)rt->tv_sec * 1000000 + rt->tv_nsec / 1000;
		if (t2 - t1 < best_gap) {
			best_gap = t2 - t1;
			s->queue_offset_us = t1 + (t2 - t1) / 2 - q;
		}
	}
	s->queue_ok = true;
	s->next_resync_us = now + RESYNC_US;
}

static int64_t event_time(struct seq_alsa *s, const snd_seq_event_t *ev, int64_t now)
{
	if (!s->queue_ok || ev->queue != s->queue ||
	    (ev->flags & SND_SEQ_TIME_STAMP_MASK) != SND_SEQ_TIME_STAMP_REAL)
		return now;
	int64_t us = s->queue_offset_us + (int64_t)ev->time.time.tv_sec * 1000000 +
		     ev->time.time.tv_nsec / 1000;
	return us > now ? now : us; /* an offset a little off: never the future */
}

/* ---- ports ---------------------------------------------------------------- */

static bool matches(const char *pattern, const char *client_name, const char *port_name)
{
	return !fnmatch(pattern, port_name, FNM_CASEFOLD) ||
	       !fnmatch(pattern, client_name, FNM_CASEFOLD);
}

static bool is_clock_source(const struct seq_alsa *s, const snd_seq_addr_t *a)
{
	if (!s->cfg.clock_in_port)
		return true; /* any port that sends clock */
	for (int i = 0; i < s->nclock_sources; i++)
		if (s->clock_sources[i].client == a->client &&
		    s->clock_sources[i].port == a->port)
			return true;
	return false;
}

static void connect_clock(struct seq_alsa *s, int client, int port, const char *name,
			  bool can_read, bool can_write, const char *cname,
			  const char *pname)
{
	snd_seq_addr_t a = {.client = (unsigned char)client, .port = (unsigned char)port};
	if (s->cfg.hub.clock_in && s->cfg.clock_in_port && can_read &&
	    matches(s->cfg.clock_in_port, cname, pname) && !is_clock_source(s, &a) &&
	    s->nclock_sources < CLOCK_SOURCES) {
		int err = snd_seq_connect_from(s->seq, s->my_port, client, port);
		if (err < 0 && err != -EBUSY) {
			report(s, "cannot follow MIDI clock from '%s' (%d:%d): %s", name,
			       client, port, snd_strerror(err));
		} else {
			s->clock_sources[s->nclock_sources++] =
			    (struct addr){client, port};
			report(s, "MIDI clock in from '%s' (%d:%d)", name, client, port);
		}
	}
	if (s->cfg.hub.clock_out && s->cfg.clock_out_port && can_write &&
	    matches(s->cfg.clock_out_port, cname, pname)) {
		int err = snd_seq_connect_to(s->seq, s->my_port, client, port);
		if (err < 0 && err != -EBUSY)
			report(s, "cannot send MIDI clock to '%s' (%d:%d): %s", name,
			       client, port, snd_strerror(err));
		else
			report(s, "MIDI clock out to '%s' (%d:%d)", name, client, port);
	}
}

static bool named_in_config(const struct seq_alsa *s, const char *cname,
			    const char *pname)
{
	for (int i = 0; i < s->cfg.nports; i++)
		if (matches(s->cfg.ports[i], cname, pname))
			return true;
	return false;
}

/* A port that exists (at start, or announced): connect to it if it is a
 * controller or a clock port. */
static void consider_port(struct seq_alsa *s, int client, int port, const char *cname,
			  const char *pname, unsigned caps)
{
	if (client == s->my_client || client == SND_SEQ_CLIENT_SYSTEM ||
	    midi_hub_find(&s->hub, client, port) >= 0)
		return;
	const unsigned rd = SND_SEQ_PORT_CAP_READ | SND_SEQ_PORT_CAP_SUBS_READ;
	const unsigned wr = SND_SEQ_PORT_CAP_WRITE | SND_SEQ_PORT_CAP_SUBS_WRITE;
	bool can_read = (caps & rd) == rd, can_write = (caps & wr) == wr;
	char name[MIDI_HUB_NAME];
	snprintf(name, sizeof(name), "%s:%s", cname, pname);
	connect_clock(s, client, port, name, can_read, can_write, cname, pname);
	if (!can_read)
		return;

	bool named = named_in_config(s, cname, pname);
	int profile = midi_hub_profile_for(&s->hub, cname, pname, named);
	if (profile < 0) {
		if (named)
			report(s,
			       "port '%s' (%d:%d) is named in [controller] ports, but no "
			       "profile fits it (none matches its name, and port_profile "
			       "is not loaded)",
			       name, client, port);
		return;
	}
	int err = snd_seq_connect_from(s->seq, s->my_port, client, port);
	if (err < 0 && err != -EBUSY) {
		report(s, "cannot connect to controller '%s' (%d:%d): %s", name, client,
		       port, snd_strerror(err));
		return;
	}
	bool back = false;
	for (int i = 0; i < MIDI_HUB_PORTS; i++)
		back |= s->hub.ports[i].used && !s->hub.ports[i].connected &&
			!strcmp(s->hub.ports[i].name, name);
	int slot = midi_hub_connect(&s->hub, client, port, name, profile);
	if (slot < 0) {
		report(s,
		       "controller '%s' (%d:%d) ignored: %d controllers are connected "
		       "already",
		       name, client, port, MIDI_HUB_PORTS);
		snd_seq_disconnect_from(s->seq, s->my_port, client, port);
		if (can_write)
			snd_seq_disconnect_to(s->seq, s->my_port, client, port);
		return;
	}
	s->refresh[slot] = false;
	s->clock_named[slot] = s->cfg.hub.clock_out && s->cfg.clock_out_port &&
			       matches(s->cfg.clock_out_port, cname, pname);
	struct addr to = {client, port};
	if (can_write) {
		subscribe_controller(s, client, port);
		send_inquiry(s, slot, &to);
	}
	s->clock_dests_stale = true;
	report(s, "controller %s: '%s' on %s (%d:%d)%s", back ? "back" : "connected",
	       midi_hub_profile(&s->hub, slot)->name, name, client, port,
	       back ? ": LEDs restored" : "");
}

static void look_at_port(struct seq_alsa *s, int client, int port)
{
	snd_seq_client_info_t *ci;
	snd_seq_port_info_t *pi;
	snd_seq_client_info_alloca(&ci);
	snd_seq_port_info_alloca(&pi);
	if (snd_seq_get_any_client_info(s->seq, client, ci) < 0 ||
	    snd_seq_get_any_port_info(s->seq, client, port, pi) < 0)
		return; /* gone again already */
	consider_port(s, client, port, snd_seq_client_info_get_name(ci),
		      snd_seq_port_info_get_name(pi),
		      snd_seq_port_info_get_capability(pi));
}

static void scan_ports(struct seq_alsa *s)
{
	snd_seq_client_info_t *ci;
	snd_seq_port_info_t *pi;
	snd_seq_client_info_alloca(&ci);
	snd_seq_port_info_alloca(&pi);
	snd_seq_client_info_set_client(ci, -1);
	while (snd_seq_query_next_client(s->seq, ci) >= 0) {
		int client = snd_seq_client_info_get_client(ci);
		snd_seq_port_info_set_client(pi, client);
		snd_seq_port_info_set_port(pi, -1);
		while (snd_seq_query_next_port(s->seq, pi) >= 0)
			consider_port(s, client, snd_seq_port_info_get_port(pi),
				      snd_seq_client_info_get_name(ci),
				      snd_seq_port_info_get_name(pi),
				      snd_seq_port_info_get_capability(pi));
	}
}

static void port_gone(struct seq_alsa *s, int client, int port)
{
	int slot = midi_hub_find(&s->hub, client, port);
	if (slot >= 0) {
		midi_hub_disconnect(&s->hub, slot);
		report(s,
		       "controller unplugged: '%s' (%s, %d:%d); running on without it, "
		       "its LEDs come back when it is plugged in again",
		       midi_hub_profile(&s->hub, slot)->name, s->hub.ports[slot].name,
		       client, port);
	}
	for (int i = 0; i < s->nclock_sources; i++)
		if (s->clock_sources[i].client == client &&
		    (port < 0 || s->clock_sources[i].port == port)) {
			report(s, "MIDI clock in: its port %d:%d went away",
			       s->clock_sources[i].client, s->clock_sources[i].port);
			s->clock_sources[i--] = s->clock_sources[--s->nclock_sources];
		}
}

static void announcement(struct seq_alsa *s, const snd_seq_event_t *ev)
{
	const snd_seq_addr_t *a = &ev->data.addr;
	switch (ev->type) {
	case SND_SEQ_EVENT_PORT_START:
	case SND_SEQ_EVENT_PORT_CHANGE: /* renamed: it may match now */
		look_at_port(s, a->client, a->port);
		break;
	case SND_SEQ_EVENT_PORT_EXIT:
		port_gone(s, a->client, a->port);
		s->clock_dests_stale = true;
		break;
	case SND_SEQ_EVENT_PORT_SUBSCRIBED: /* aconnect gridloop:0 ... */
	case SND_SEQ_EVENT_PORT_UNSUBSCRIBED:
		s->clock_dests_stale = true;
		break;
	case SND_SEQ_EVENT_CLIENT_EXIT:
		for (int i = 0; i < MIDI_HUB_PORTS; i++)
			if (s->hub.ports[i].connected &&
			    s->hub.ports[i].client == a->client)
				port_gone(s, a->client, s->hub.ports[i].port);
		port_gone(s, a->client, -1);
		s->clock_dests_stale = true;
		break;
	default:
		break;
	}
}

/* ---- opening and losing the sequencer ------------------------------------ */

static void close_seq(struct seq_alsa *s)
{
	if (!s->seq)
		return;
	snd_seq_close(s->seq);
	s->seq = NULL;
	s->queue_ok = false;
	s->output_pending = false;
	s->nclock_sources = 0;
	for (int i = 0; i < MIDI_HUB_PORTS; i++)
		if (s->hub.ports[i].connected)
			midi_hub_disconnect(&s->hub, i);
}

static int make_port(struct seq_alsa *s)
{
	snd_seq_port_info_t *pi;
	snd_seq_port_info_alloca(&pi);
	snd_seq_port_info_set_name(pi, SEQ_ALSA_CLIENT);
	snd_seq_port_info_set_capability(
	    pi, SND_SEQ_PORT_CAP_READ | SND_SEQ_PORT_CAP_SUBS_READ |
		    SND_SEQ_PORT_CAP_WRITE | SND_SEQ_PORT_CAP_SUBS_WRITE |
		    SND_SEQ_PORT_CAP_DUPLEX);
	snd_seq_port_info_set_type(pi, SND_SEQ_PORT_TYPE_MIDI_GENERIC |
					   SND_SEQ_PORT_TYPE_APPLICATION);
	/* The kernel stamps every event reaching the port with the queue's
	 * real time: its arrival, not when this thread reads it. */
	snd_seq_port_info_set_timestamping(pi, 1);
	snd_seq_port_info_set_timestamp_real(pi, 1);
	snd_seq_port_info_set_timestamp_queue(pi, s->queue);
	int err = snd_seq_create_port(s->seq, pi);
	if (err < 0)
		return err;
	s->my_port = snd_seq_port_info_get_port(pi);
	return 0;
}

static void open_seq(struct seq_alsa *s, int64_t now)
{
	s->next_open_us = now + (int64_t)s->cfg.retry_ms * 1000;
	alsa_log_clear();
	int err =
	    snd_seq_open(&s->seq, s->cfg.device, SND_SEQ_OPEN_DUPLEX, SND_SEQ_NONBLOCK);
	const char *step = "open";
	if (err >= 0) {
		snd_seq_set_client_name(s->seq, SEQ_ALSA_CLIENT);
		snd_seq_set_output_buffer_size(s->seq, OUTPUT_BUFFER);
		snd_seq_set_client_pool_output(s->seq, OUTPUT_POOL);
		/* The kernel wakes a poller of this descriptor each time a
		 * scheduled event (a clock tick) leaves the pool while at least
		 * `room` cells are free (half the pool by default), POLLOUT
		 * asked for or not: 48 wake-ups a second of a thread that then
		 * sleeps again. With room = the whole pool that is only when the
		 * pool runs empty (and POLLOUT, asked for when the pool was
		 * full, then says so). */
		snd_seq_set_client_pool_output_room(s->seq, OUTPUT_POOL);
		s->my_client = snd_seq_client_id(s->seq);
		s->clock_dests_stale = true;
		step = "queue";
		s->queue = snd_seq_alloc_named_queue(s->seq, SEQ_ALSA_CLIENT);
		err = s->queue;
	}
	if (err >= 0) {
		step = "port";
		err = make_port(s);
	}
	if (err >= 0) {
		step = "queue start";
		err = snd_seq_start_queue(s->seq, s->queue, NULL);
		if (err >= 0)
			err = snd_seq_drain_output(s->seq);
	}
	if (err >= 0) {
		step = "announcements";
		err = snd_seq_connect_from(s->seq, s->my_port, SND_SEQ_CLIENT_SYSTEM,
					   SND_SEQ_PORT_SYSTEM_ANNOUNCE);
	}
	if (err < 0) {
		if (s->seq) {
			snd_seq_close(s->seq);
			s->seq = NULL;
		}
		if (err != s->last_open_error) {
			/* alsa-lib's own words name the device file when there is
			 * one ("open /dev/snd/seq failed: ..."). */
			const char *said = alsa_log_last();
			char why[200];
			if (said[0])
				snprintf(why, sizeof(why), "%s", said);
			else
				snprintf(why, sizeof(why), "%s: %s", step,
					 snd_strerror(err));
			report(
			    s,
			    "no ALSA sequencer ('%s': %s): running without controllers "
			    "and MIDI clock; looking for it every %g s",
			    s->cfg.device, why, s->cfg.retry_ms / 1000.0);
			s->last_open_error = err;
		}
		return;
	}
	s->last_open_error = 0;
	resync_queue(s, now);
	report(s,
	       "ALSA sequencer: client %d '%s', port %d; MIDI in stamped by %s; "
	       "looking for controllers",
	       s->my_client, SEQ_ALSA_CLIENT, s->my_port,
	       s->queue_ok ? "the sequencer queue" : "the time of receipt");
	scan_ports(s);
}

static void seq_lost(struct seq_alsa *s, int err)
{
	report(s,
	       "ALSA sequencer lost (%s): running without controllers; looking for it "
	       "every %g s",
	       snd_strerror(err), s->cfg.retry_ms / 1000.0);
	close_seq(s);
	s->last_open_error = err;
}

/* ---- input ----------------------------------------------------------------- */

static void midi_event(struct seq_alsa *s, const snd_seq_event_t *ev, int64_t us)
{
	uint8_t bytes[INPUT_BYTES];
	size_t n = seq_alsa_event_bytes(s->decoder, ev, bytes, sizeof(bytes));
	if (n == 0)
		return;
	int slot = midi_hub_find(&s->hub, ev->source.client, ev->source.port);
	if (slot >= 0 && midi_hub_input(&s->hub, slot, bytes, n, us)) {
		s->clock_dests_stale = true; /* the new profile may want clock, or not */
		report(s,
		       "controller on %s (%d:%d) identified by its inquiry reply: '%s'",
		       s->hub.ports[slot].name, ev->source.client, ev->source.port,
		       midi_hub_profile(&s->hub, slot)->name);
	}
	if (s->cfg.hub.clock_in && is_clock_source(s, &ev->source))
		midi_hub_clock_in(&s->hub, bytes, n, us);
}

static void read_input(struct seq_alsa *s)
{
	for (;;) {
		snd_seq_event_t *ev;
		int rc = snd_seq_event_input(s->seq, &ev);
		if (rc == -EAGAIN)
			return;
		if (rc == -ENOSPC) {
			/* The kernel's buffer overflowed: events were lost. */
			s->input_lost++;
			if (!s->said_input_lost)
				report(
				    s,
				    "MIDI input overflowed: events were lost (said once; "
				    "counted in the statistics)");
			s->said_input_lost = true;
			continue;
		}
		if (rc < 0) {
			seq_lost(s, rc);
			return;
		}
		int64_t now = mono_us();
		if (ev->source.client == SND_SEQ_CLIENT_SYSTEM)
			announcement(s, ev);
		else
			midi_event(s, ev, event_time(s, ev, now));
		if (!s->seq)
			return;
	}
}

/* ---- the thread ----------------------------------------------------------- */

static void read_clock(struct seq_alsa *s)
{
	int64_t ns, frame;
	int64_t now =
	    atomic_load_explicit(audio_thread_now(s->cfg.audio), memory_order_acquire);
	s->time_known = audio_thread_clock(s->cfg.audio, &ns, &frame);
	if (s->time_known)
		s->time = (struct time_map){
		    .ref_us = ns / 1000, .ref_frame = frame, .rate = s->hub.cfg.rate};
	midi_hub_set_time(&s->hub, s->time_known ? &s->time : NULL, now);
}

static void publish_stats(struct seq_alsa *s)
{
	int n = 0;
	for (int i = 0; i < MIDI_HUB_PORTS; i++)
		n += s->hub.ports[i].connected;
	atomic_store_explicit(&s->st_open, s->seq != NULL, memory_order_relaxed);
	atomic_store_explicit(&s->st_queue_stamps, s->queue_ok, memory_order_relaxed);
	atomic_store_explicit(&s->st_controllers, n, memory_order_relaxed);
	atomic_store_explicit(&s->st_commands, s->hub.stats.commands,
			      memory_order_relaxed);
	atomic_store_explicit(&s->st_refused, s->hub.stats.commands_refused,
			      memory_order_relaxed);
	atomic_store_explicit(&s->st_events, s->hub.stats.events, memory_order_relaxed);
	atomic_store_explicit(&s->st_sent, s->sent, memory_order_relaxed);
	atomic_store_explicit(&s->st_clock, s->clock_messages, memory_order_relaxed);
	atomic_store_explicit(&s->st_input_lost, s->input_lost, memory_order_relaxed);
	atomic_store_explicit(&s->st_output_lost, s->output_lost, memory_order_relaxed);
	atomic_store_explicit(&s->st_woke_events, s->woke_events, memory_order_relaxed);
	atomic_store_explicit(&s->st_woke_midi, s->woke_midi, memory_order_relaxed);
	atomic_store_explicit(&s->st_woke_timeout, s->woke_timeout, memory_order_relaxed);
}

/* Sleeps until the supervisor passes events on, MIDI comes in, the kernel
 * takes output again, or a timeout (held foot switch, sequencer retry). */
static void wait_for_work(struct seq_alsa *s, bool holding)
{
	struct pollfd fds[8];
	int n = 0;
	fds[n++] = (struct pollfd){.fd = fanout_fd(s->cfg.events), .events = POLLIN};
	int timeout = holding ? HOLD_POLL_MS : IDLE_POLL_MS;
	if (s->seq) {
		if (snd_seq_event_input_pending(s->seq, 0) > 0)
			return; /* already in alsa-lib's buffer: the fd says nothing */
		short events = POLLIN | (s->output_pending ? POLLOUT : 0);
		int k = snd_seq_poll_descriptors(s->seq, fds + n, 7, events);
		n += k > 0 ? k : 0;
	}
	/* The next thing timed: the queue's resync, or the sequencer looked
	 * for again, or the next half-cycle of an LED gridloop blinks itself. */
	int64_t now = mono_us();
	int64_t next = s->seq ? s->next_resync_us : s->next_open_us;
	int64_t blink = midi_hub_next_blink_us(&s->hub, now);
	if (blink < next)
		next = blink;
	int64_t until = (next - now) / 1000 + 1;
	if (until < timeout)
		timeout = until > 0 ? (int)until : 0;
	int got = poll(fds, (nfds_t)n, timeout);
	if (got == 0)
		s->woke_timeout++;
	else if (got > 0 && (fds[0].revents & POLLIN))
		s->woke_events++;
	else if (got > 0)
		s->woke_midi++;
}

/* At exit (SIGTERM, systemctl stop, a fatal error: every way out stops
 * this thread): every controller's LEDs dark and its outro (the APC40s back
 * in Generic mode, a Launchpad out of programmer mode), drained before the
 * sequencer closes, so each controller is left as it was found. Bounded:
 * a controller that does not read is given up after LEAVE_ATTEMPTS. */
static void leave_controllers(struct seq_alsa *s)
{
	if (!s->seq)
		return;
	midi_hub_farewell(&s->hub);
	for (int i = 0; i < LEAVE_ATTEMPTS; i++) {
		send_leds(s);
		flush(s);
		bool due = s->output_pending;
		for (int k = 0; k < MIDI_HUB_PORTS; k++)
			due |= s->hub.ports[k].connected && s->refresh[k];
		if (!due)
			return;
		poll(NULL, 0, LEAVE_WAIT_MS);
	}
}

/* While MIDI clock goes out it ticks (24 per beat, on after a stop too:
 * slaves keep the tempo), and ticks are listed only up to the horizon, so
 * the horizon must pass each tick's frame soon after the audio thread did:
 * ask it to wake the supervisor after the period that passes the next
 * tick (midi_clock_out_next_tick()). A tick then goes out
 * within one period and two wake-ups of its frame, and there are no
 * wake-ups while nothing ticks (no tempo, clock in, no sequencer). With
 * the transport at rest the ticks are listed ahead (midi_hub_clock_reach)
 * and the kernel's queue sends each at its time: a wake-up every
 * 3/4 x MIDI_HUB_CLOCK_AHEAD_MS, and at each downbeat. */
static void ask_for_horizon(struct seq_alsa *s, int64_t horizon, int64_t reach,
			    bool capped)
{
	int64_t at = GL_NEVER; /* = INT64_MAX, as midi_clock_out_next_tick's "none" */
	/* No wake-ups for ticks nobody receives (the list of receivers is
	 * made again at the next listing once a subscription changed). */
	if (s->hub.cfg.clock_out && s->seq &&
	    (s->nclock_dests > 0 || s->clock_dests_stale)) {
		at = midi_clock_out_wake_frame(&s->hub.clock_out, horizon, reach, capped);
	}
	if (s->cfg.audio && (at != GL_NEVER || s->asked_at != GL_NEVER))
		audio_thread_wake_at(s->cfg.audio, at);
	s->asked_at = at;
}

static void *seq_main(void *arg)
{
	struct seq_alsa *s = arg;
	int policy;
	struct sched_param sp;
	bool fifo = pthread_getschedparam(pthread_self(), &policy, &sp) == 0 &&
		    policy == SCHED_FIFO;
	atomic_store(&s->st_realtime, fifo);
	if (s->cfg.priority > 0 && !fifo)
		report(s,
		       "sequencer thread: SCHED_FIFO priority %d refused (EPERM): MIDI "
		       "runs at normal priority, pads may lag under load",
		       s->cfg.priority);
	while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
		fanout_clear(s->cfg.events); /* before draining: no wake-up is lost */
		int64_t now = mono_us();
		if (!s->seq && now >= s->next_open_us)
			open_seq(s, now);
		read_clock(s);
		/* The horizon before the events: every event below it is then
		 * among those taken (fanout.h). */
		int64_t horizon = fanout_horizon(s->cfg.events);
		struct event ev;
		while (fanout_pop(s->cfg.events, &ev))
			midi_hub_event(&s->hub, &ev);
		if (s->seq)
			read_input(s);
		bool holding = midi_hub_poll(&s->hub, mono_us());
		if (s->seq) {
			if (mono_us() >= s->next_resync_us) {
				resync_queue(s, mono_us());
				s->clock_dests_stale =
				    true; /* now and then, to be sure */
			}
			send_leds(s);
		}
		send_clock(s, horizon);
		/* Ahead only where the kernel holds each tick to its time. */
		bool capped = false;
		int64_t reach = s->seq && s->queue_ok && s->time_known
				    ? midi_hub_clock_reach(&s->hub, horizon, &capped)
				    : horizon;
		if (reach > horizon)
			send_clock(s, reach);
		ask_for_horizon(s, horizon, reach, capped);
		if (s->seq)
			flush(s);
		publish_stats(s);
		wait_for_work(s, holding);
	}
	leave_controllers(s);
	close_seq(s);
	publish_stats(s);
	return NULL;
}

/* ---- the other threads' side ------------------------------------------------ */

struct seq_alsa *seq_alsa_create(const struct seq_alsa_config *cfg)
{
	struct seq_alsa *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = *cfg;
	if (!s->cfg.device)
		s->cfg.device = "default";
	if (s->cfg.retry_ms == 0)
		s->cfg.retry_ms = 5000;
	if (spsc_init(&s->reports, REPORTS, sizeof(struct seq_report)) ||
	    seq_alsa_codec_new(&s->decoder) < 0 || seq_alsa_codec_new(&s->encoder) < 0) {
		seq_alsa_destroy(s);
		return NULL;
	}
	midi_hub_init(&s->hub, &s->cfg.hub, s->cfg.commands);
	s->asked_at = GL_NEVER;
	atomic_init(&s->stop, false);
	/* Its messages fold into ours instead of going to stderr. */
	alsa_log_install();
	return s;
}

/* errno, as pthread_create gives it (EPERM: SCHED_FIFO refused). */
static int spawn(struct seq_alsa *s, bool realtime)
{
	struct thread_spec spec = {.name = "gl-seq",
				   .priority = realtime ? s->cfg.priority : 0};
	return -thread_start(&s->thread, &spec, seq_main, s);
}

int seq_alsa_start(struct seq_alsa *s)
{
	atomic_store(&s->stop, false);
	int rc = s->cfg.priority > 0 ? spawn(s, true) : EPERM;
	if (rc == EPERM) /* the thread says so itself */
		rc = spawn(s, false);
	if (rc)
		return -rc;
	s->started = true;
	return 0;
}

void seq_alsa_stop(struct seq_alsa *s)
{
	if (!s->started)
		return;
	atomic_store_explicit(&s->stop, true, memory_order_release);
	fanout_wake(s->cfg.events);
	pthread_join(s->thread, NULL);
	s->started = false;
}

void seq_alsa_destroy(struct seq_alsa *s)
{
	if (!s)
		return;
	seq_alsa_stop(s);
	if (s->decoder)
		snd_midi_event_free(s->decoder);
	if (s->encoder)
		snd_midi_event_free(s->encoder);
	spsc_free(&s->reports);
	free(s);
}

bool seq_alsa_pop_report(struct seq_alsa *s, char *text, size_t len)
{
	struct seq_report r;
	if (!spsc_pop(&s->reports, &r))
		return false;
	snprintf(text, len, "%s", r.text);
	return true;
}

void seq_alsa_get_stats(const struct seq_alsa *s, struct seq_alsa_stats *st)
{
	*st = (struct seq_alsa_stats){
	    .open = atomic_load_explicit(&s->st_open, memory_order_relaxed),
	    .realtime = atomic_load_explicit(&s->st_realtime, memory_order_relaxed),
	    .queue_stamps =
		atomic_load_explicit(&s->st_queue_stamps, memory_order_relaxed),
	    .controllers = atomic_load_explicit(&s->st_controllers, memory_order_relaxed),
	    .commands = atomic_load_explicit(&s->st_commands, memory_order_relaxed),
	    .commands_refused =
		atomic_load_explicit(&s->st_refused, memory_order_relaxed),
	    .events = atomic_load_explicit(&s->st_events, memory_order_relaxed),
	    .events_dropped = fanout_dropped(s->cfg.events),
	    .sent = atomic_load_explicit(&s->st_sent, memory_order_relaxed),
	    .clock_messages = atomic_load_explicit(&s->st_clock, memory_order_relaxed),
	    .input_lost = atomic_load_explicit(&s->st_input_lost, memory_order_relaxed),
	    .output_lost = atomic_load_explicit(&s->st_output_lost, memory_order_relaxed),
	    .woke_events = atomic_load_explicit(&s->st_woke_events, memory_order_relaxed),
	    .woke_midi = atomic_load_explicit(&s->st_woke_midi, memory_order_relaxed),
	    .woke_timeout =
		atomic_load_explicit(&s->st_woke_timeout, memory_order_relaxed),
	};
}
