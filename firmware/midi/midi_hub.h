/* midi_hub.h -- everything the sequencer thread decides, without the
 * sequencer: one struct controller per connected port, the clip-state
 * mirror that a controller plugged in later starts from, MIDI clock out and
 * in, and the command sink into the engine's SOURCE_CONTROLLER queue.
 *
 * Pure like controller.c and midi_clock.c: seq_alsa.c tells it which ports
 * came and went, hands it timestamped MIDI bytes and the engine's events,
 * and sends what it hands back (LED bytes per port, clock messages on their
 * engine frames). No ALSA, no threads, no allocation: a struct midi_hub is
 * plain data, and the tests drive it without a kernel.
 *
 * Ports live in slots. A controller that goes away keeps its slot (and its
 * window, shift, selection) until the slot is needed by another one; when a
 * port of the same name comes back it gets the slot again and every LED is
 * sent again. Slots keep following the engine's events while disconnected.
 */
#ifndef GRIDLOOP_MIDI_HUB_H
#define GRIDLOOP_MIDI_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controller.h"
#include "engine.h"
#include "midi_clock.h"
#include "profile.h"
#include "spsc.h"

#define MIDI_HUB_PORTS 8   /* controllers known at once */
#define MIDI_HUB_NAME  128 /* "client name:port name" */

struct midi_hub_config {
	const struct profile *profiles; /* must outlive the hub */
	int nprofiles;
	int fallback_profile; /* for ports the config names that no pattern
				 identifies; -1: none */
	uint32_t rate;
	uint32_t period;	/* commands are never stamped further ahead */
	double tempo;		/* the engine's at start; 0: none yet */
	uint32_t beats_per_bar; /* the engine's at start */
	bool metronome;		/* the engine's at start */
	bool clock_out;		/* list MIDI clock from the engine's beats */
	bool song_position;	/* start with Song Position + Continue */
	bool clock_in;		/* follow MIDI clock in */
};

struct midi_hub_port {
	bool used;	/* holds a controller, connected or not */
	bool connected; /* at client:port */
	int client, port;
	char name[MIDI_HUB_NAME];
	int profile;	/* index into the profiles */
	uint64_t since; /* when it was last connected (a count), for reuse */
	struct controller ctl;
};

struct midi_hub_stats {
	uint32_t events;	      /* engine events seen */
	uint32_t commands;	      /* commands queued for the engine */
	uint32_t commands_refused;    /* ... that found the queue full */
	uint32_t connects;	      /* ports connected (again) */
	uint32_t identified;	      /* profiles changed by an inquiry reply */
	uint32_t clock_backlog_skips; /* clock listing fell far behind: skipped */
};

struct midi_hub {
	struct midi_hub_config cfg;
	struct spsc *commands; /* the engine's SOURCE_CONTROLLER queue */
	struct time_map time;  /* event time (CLOCK_MONOTONIC us) -> engine frame */
	bool time_known;
	int64_t frame_limit; /* no command stamped later than this */
	bool metronome;
	/* The mirror: what a controller connected later is shown. */
	uint8_t clip_state[GL_TRACKS][GL_SCENES];
	int overdub_track, overdub_scene; /* last clip to go into overdub; -1: none */
	struct event storage; /* the last EV_STORAGE (value 0, idle, before any) */
	struct midi_hub_port ports[MIDI_HUB_PORTS];
	uint64_t connections;
	struct midi_clock_out clock_out;
	struct midi_clock_in clock_in;
	int64_t clock_listed; /* clock messages below this frame are listed */
	bool leaving;	      /* midi_hub_farewell: every controller, even one coming
				 now, goes dark */
	struct midi_hub_stats stats;
};

/* commands: where the controllers' commands go; the caller's thread must be
 * its only producer. */
void midi_hub_init(struct midi_hub *h, const struct midi_hub_config *cfg,
		   struct spsc *commands);

/* The stream's clock (time: event time in CLOCK_MONOTONIC microseconds to
 * engine frames), and the frame the engine has reached. NULL: not known
 * (no audio yet): commands then act at once. Commands are stamped no later
 * than engine_now + one period, so a stale map (a device lost) never makes
 * a press wait. */
void midi_hub_set_time(struct midi_hub *h, const struct time_map *time,
		       int64_t engine_now);

/* The profile for a port: the most specific profile pattern matching its
 * port or client name; else, when the config names the port, the fallback
 * profile. -1: not a controller. */
int midi_hub_profile_for(const struct midi_hub *h, const char *client_name,
			 const char *port_name, bool named_in_config);

/* A port arrived at client:port (name: "client name:port name") with a
 * profile. Returns its slot, or -1 when every slot holds a connected
 * controller. A port that comes back gets the slot it had, with the profile
 * it had (maybe from an inquiry reply) and its window and selection. Either
 * way the introduction and every LED are due. */
int midi_hub_connect(struct midi_hub *h, int client, int port, const char *name,
		     int profile);

/* The slot connected at client:port, or -1. */
int midi_hub_find(const struct midi_hub *h, int client, int port);

/* The port went away: its slot keeps its state for a return. */
void midi_hub_disconnect(struct midi_hub *h, int slot);

/* MIDI bytes from a connected slot, received at us. A device-inquiry reply
 * naming another profile switches the slot to it (true: the caller may say
 * so); everything else goes to the controller. */
bool midi_hub_input(struct midi_hub *h, int slot, const uint8_t *bytes, size_t len,
		    int64_t us);

/* MIDI clock in (real-time bytes among bytes, received at us), when the
 * config follows an external clock. */
void midi_hub_clock_in(struct midi_hub *h, const uint8_t *bytes, size_t len, int64_t us);

/* Every engine event, in order. */
void midi_hub_event(struct midi_hub *h, const struct event *ev);

/* The current time, for held foot switches; true while one is held (then
 * call again within a few ms). */
bool midi_hub_poll(struct midi_hub *h, int64_t now_us);

/* The next time midi_hub_poll() must run for LEDs that gridloop blinks
 * itself (a `blink` LED of a connected controller's profile changes at each
 * half of PROFILE_SOFT_BLINK_US): the next half-cycle boundary after now_us,
 * or INT64_MAX when no connected profile has such an LED. */
int64_t midi_hub_next_blink_us(const struct midi_hub *h, int64_t now_us);

/* LED (and introduction) bytes due to a connected slot; call while it
 * returns more than 0. cap >= CONTROLLER_MIN_OUTPUT. */
size_t midi_hub_output(struct midi_hub *h, int slot, uint8_t *out, size_t cap);

/* Every LED of a slot is due again (e.g. sending failed). */
void midi_hub_refresh(struct midi_hub *h, int slot);

/* MIDI clock messages with frames below until (the fan-out's horizon: the
 * beats are known up to there), in order, up to max (>= 2); call while it
 * returns max. A listing more than a quarter second behind skips ahead
 * rather than send a burst of stale ticks. */
int midi_hub_clock(struct midi_hub *h, int64_t until, struct midi_clock_msg *out,
		   int max);

/* Clock listed ahead of the events while the transport rests (no clip
 * active): this far, so that the sequencer thread wakes about seven times
 * a second for it instead of at every tick (48 a second at 120 BPM). */
#define MIDI_HUB_CLOCK_AHEAD_MS 200

/* Where to list the clock up to now, given the horizon: the horizon, or
 * up to MIDI_HUB_CLOCK_AHEAD_MS past it (midi_clock_out_reach; *capped:
 * the next downbeat is the limit). The horizon when clock out is off. */
int64_t midi_hub_clock_reach(const struct midi_hub *h, int64_t horizon, bool *capped);

/* gridloop is leaving: every connected controller's LEDs go dark and its
 * outro follows (controller_farewell), through midi_hub_output as usual. */
void midi_hub_farewell(struct midi_hub *h);

/* The device-inquiry request for a slot, with the channel byte its
 * profile's documentation gives (profile_inquiry_request) into out[6].
 * Returns 6. */
int midi_hub_inquiry(const struct midi_hub *h, int slot, uint8_t out[6]);

/* Whether MIDI clock goes to a subscriber at client:port of gridloop's
 * port: not to a connected controller whose profile says clock = no (the
 * APC40 mk1, the APC mini mk1: Ableton marks no clock port on them), to
 * everything else. */
bool midi_hub_wants_clock(const struct midi_hub *h, int client, int port);

/* The profile of a slot. */
const struct profile *midi_hub_profile(const struct midi_hub *h, int slot);

#endif
