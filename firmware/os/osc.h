/* osc.h -- the OSC server: a UDP socket and its thread (gl-osc, SCHED_OTHER),
 * off unless [osc] port is set.
 *
 * It reads datagrams without ever blocking anybody: each goes through the
 * pure handler (osc_handler.h); the commands it makes go into the engine's
 * SOURCE_OSC queue (this thread is its one producer; a full queue drops the
 * command, counted), the replies go out with MSG_DONTWAIT (a reply the
 * kernel will not take is counted, not waited for). State pushes come from
 * the engine's events, which the supervisor passes on through a fan-out of
 * their own (fanout.h), as it does to the sequencer thread and the SD
 * writer. More than max_packets_per_s datagrams in a second: the rest are
 * read and dropped unhandled (counted), so a flood costs this thread a
 * recv() each and nothing else. Nothing here is on the real-time path.
 */
#ifndef GRIDLOOP_OSC_H
#define GRIDLOOP_OSC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "fanout.h"
#include "link.h"
#include "osc_handler.h"

struct osc_server_config {
	struct engine *engine;		 /* its SOURCE_OSC queue */
	struct fanout *events;		 /* the engine's events, from the supervisor */
	const atomic_int_least64_t *now; /* the audio thread's frame counter */
	const char *listen;		 /* address to bind: numeric or a host name */
	uint16_t port;			 /* 0: one the kernel chooses (tests) */
	uint32_t max_packets_per_s;
	/* Ableton Link, or NULL: its peer count (gl_link_peers: an atomic
	 * of Link's own, read on this thread) answers global link_peers. */
	const struct gl_link *link;
	struct osc_handler_config handler; /* self_url is filled in */
};

struct osc_server;

/* Binds the socket (so a port in use fails at start, with why). NULL on
 * failure, with the reason in why. Not started. */
struct osc_server *osc_server_create(const struct osc_server_config *cfg, char *why,
				     size_t whylen);

/* Starts the thread. 0 or -errno. */
int osc_server_start(struct osc_server *s);

/* Stops and joins the thread (no-op when not running). */
void osc_server_stop(struct osc_server *s);

/* Stops it and closes the socket. NULL is fine. */
void osc_server_destroy(struct osc_server *s);

/* Its counters; exact once stopped, a recent copy while running. */
void osc_server_stats(struct osc_server *s, struct osc_stats *out);

/* The UDP port it listens on. */
unsigned osc_server_port(const struct osc_server *s);

/* The URL it answers on (osc.udp://ADDRESS:PORT/). */
const char *osc_server_url(const struct osc_server *s);

#endif
