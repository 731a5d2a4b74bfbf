/* osc_handler.h -- gridloop's OSC protocol, as a pure function: packet bytes
 * and engine events in, engine commands and reply packets out. No sockets,
 * threads, clocks or allocation: the OSC server (osc.h) owns those, so this
 * part can be unit-tested and fuzzed on raw bytes.
 *
 * Two namespaces (docs/manual.md, "Remote control over OSC"):
 *
 *   SooperLooper's (its file OSC): /ping, /sl/#/hit|down|up|forceup s:cmd,
 *   /sl/#/set|get, global /set|/get, /sl/#/register_update and
 *   register_auto_update and their unregister twins (also global),
 *   /save_session. SooperLooper's loop # is gridloop's track #; its clip is
 *   the track's current clip (the one last recorded, launched or playing).
 *
 *   gridloop's own: /gridloop/clip i:T i:S s:action, /gridloop/scene i:S,
 *   /gridloop/stop_all, /gridloop/register|unregister s:url s:path (pushed
 *   state of all 80 slots), /gridloop/stats s:url s:path.
 *
 * What a SooperLooper client asks for and gridloop has not gets a clear
 * error reply, "/gridloop/error s:path s:why", to the message's return URL
 * when it has one, else to its sender.
 */
#ifndef GRIDLOOP_OSC_HANDLER_H
#define GRIDLOOP_OSC_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "gl_limits.h"
#include "grid.h"

#define OSC_ARGS_MAX	 16    /* arguments of one message; more is malformed */
#define OSC_OUT_COMMANDS 64    /* engine commands one call may make */
#define OSC_OUT_REPLIES	 512   /* reply packets one call may make */
#define OSC_OUT_BYTES	 65536 /* their bytes */
#define OSC_BUNDLE_DEPTH 4     /* bundles in bundles; deeper is malformed */
#define OSC_VERSION	 "gridloop 0.1.0"

/* ---- The wire format --------------------------------------------------- */

/* One decoded argument. Numbers keep their type tag; strings and blobs
 * point into the packet. */
struct osc_arg {
	char type; /* i f s S h d c T F N I b m t r */
	int64_t i; /* i h c m r t, T = 1, F = 0 */
	double f;  /* f d */
	const char *s;
	size_t blob_len; /* b: its bytes, at s */
};

struct osc_msg {
	const char *path;
	const char *types; /* without the leading ',' */
	int argc;
	struct osc_arg argv[OSC_ARGS_MAX];
};

/* Decodes one OSC message (not a bundle) of len bytes. Strings point into
 * data. 0, or -1 when it is malformed (no '/' path, a string without its
 * terminator, a truncated argument, an unknown type tag, more than
 * OSC_ARGS_MAX arguments, a length that is not a multiple of 4). */
int osc_decode(const uint8_t *data, size_t len, struct osc_msg *m);

/* Encodes a message: types is its type tags ("isf": int32_t, const char *,
 * double), then the values. The length, or 0 when it does not fit in cap
 * or a type is not i, f or s. */
size_t osc_encode(uint8_t *out, size_t cap, const char *path, const char *types, ...);

/* Splits a return URL "osc.udp://HOST:PORT/..." (HOST a name, an IPv4
 * address or [an IPv6 one]; PORT 1..65535) into host and port. false when
 * it is not one, or a part does not fit. */
bool osc_url_split(const char *url, char *host, size_t hostlen, char *port,
		   size_t portlen);

/* ---- The handler ---------------------------------------------------------- */

struct osc_handler_config {
	uint32_t rate; /* engine frames per second */
	double tempo;  /* as configured (0: set by the first loop) */
	uint32_t beats_per_bar;
	enum quantise quantise;
	bool clock_external; /* [sync] clock = external */
	bool can_save;	     /* a session directory is set */
	bool link;	     /* [sync] link = yes: link_peers */
	bool link_leads;     /* with clock_external and link: leader = link (MIDI
				clock in not followed: sync_source internal) */
	char self_url[GL_OSC_STRING_MAX]; /* the server's own, for /ping */
};

/* Counters: each packet is counted once in packets, then in at most one of
 * the failure counts. */
struct osc_stats {
	uint64_t packets;	   /* datagrams taken */
	uint64_t malformed;	   /* not OSC (or too long): ignored */
	uint64_t unknown;	   /* an OSC path gridloop does not know */
	uint64_t refused;	   /* known, but wrong arguments or not in gridloop */
	uint64_t commands;	   /* engine commands made */
	uint64_t commands_dropped; /* the engine's queue was full (osc.c) */
	uint64_t replies;	   /* reply packets made */
	uint64_t replies_dropped;  /* no room in one call's output */
	uint64_t flood_dropped;	   /* over [osc] max_packets_per_s: unread (osc.c) */
	uint64_t send_failed;	   /* a reply that could not be sent (osc.c) */
};

/* What one call asks the server to do: commands for the engine, replies to
 * send. A reply's url points at a registration's or the packet's own
 * string, valid until the next call; NULL means "to the sender". */
struct osc_reply {
	const char *url;
	uint32_t off, len; /* in bytes[] */
};

struct osc_out {
	struct command command[OSC_OUT_COMMANDS];
	int ncommands;
	struct osc_reply reply[OSC_OUT_REPLIES];
	int nreplies;
	uint32_t used;
	uint8_t bytes[OSC_OUT_BYTES];
};

enum osc_reg_kind {
	OSC_REG_UPDATE = 1, /* register_update: pushed when it changes */
	OSC_REG_AUTO,	    /* register_auto_update: checked every interval */
	OSC_REG_GRID,	    /* /gridloop/register: every slot's state */
};

#define OSC_LOOP_GLOBAL (-2) /* a registration of a global control */

struct osc_reg {
	uint8_t kind; /* enum osc_reg_kind; 0: free */
	int8_t loop;  /* 0..7, -1 all, OSC_LOOP_GLOBAL */
	char ctrl[32];
	char url[GL_OSC_STRING_MAX];
	char path[GL_OSC_STRING_MAX];
	int interval_ms;
	int64_t due_ms;
	float last[GL_TRACKS];	/* the values last sent ([0] for a global) */
	uint8_t sent[GL_SLOTS]; /* bit per loop, or per slot for OSC_REG_GRID */
	uint8_t grid_last[GL_SLOTS];
	int64_t grid_len[GL_SLOTS]; /* the lengths last sent */
};

struct osc_slot {
	uint8_t state, prev; /* enum clip_state */
	uint8_t pass;	     /* enum clip_pass, while overdubbing */
	int64_t length;	     /* frames, once recorded */
	int64_t play_from;   /* engine frame its current pass started */
};

struct osc_handler {
	struct osc_handler_config cfg;
	struct osc_slot slot[GL_TRACKS][GL_SCENES];
	int cur_scene[GL_TRACKS]; /* SooperLooper's loop t is this clip */
	bool muted[GL_TRACKS];
	float volume[GL_TRACKS];
	float master;
	double tempo;
	uint32_t beats_per_bar;
	int quantise;	   /* enum quantise */
	int selected;	   /* selected_loop_num: -1 all, 0..7 */
	size_t link_peers; /* Link's peer count: the caller sets it (cfg.link) */
	int64_t now;	   /* engine frame, as last told */
	int64_t now_ms;	   /* as last told */
	struct osc_reg reg[GL_OSC_CLIENTS_MAX];
	struct osc_stats stats;
};

/* Starts with every slot empty and the configured settings. */
void osc_handler_init(struct osc_handler *h, const struct osc_handler_config *cfg);

/* One datagram of len bytes (a message or a bundle) from a client, at
 * now_ms (any monotonic milliseconds) and engine frame now. truncated: the
 * datagram was longer than what was read (malformed). out is reset first. */
void osc_handler_packet(struct osc_handler *h, const uint8_t *data, size_t len,
			bool truncated, int64_t now_ms, int64_t now, struct osc_out *out);

/* One engine event (from the fan-out): updates the handler's view. */
void osc_handler_event(struct osc_handler *h, const struct event *ev);

/* Pushes what registered clients should hear of now: the controls that
 * changed since they last heard, auto updates whose interval is due, and
 * the slots of grid clients. out is reset first. What does not fit is sent
 * on a later call. */
void osc_handler_tick(struct osc_handler *h, int64_t now_ms, int64_t now,
		      struct osc_out *out);

/* SooperLooper's state code of a loop (its "state" control). */
int osc_sl_state(const struct osc_handler *h, int track);

#endif
