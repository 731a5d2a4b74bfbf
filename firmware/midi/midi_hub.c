/* midi_hub.c -- the controllers, the clip-state mirror, MIDI clock and the
 * command sink of the sequencer thread, without the sequencer (see
 * midi_hub.h). */
#include "midi_hub.h"

#include <stdio.h>
#include <string.h>

/* ---- commands ----------------------------------------------------------- */

static bool push_command(void *ctx, const struct command *cmd)
{
	struct midi_hub *h = ctx;
	struct command c = *cmd;
	if (!h->time_known || c.frame < 0)
		c.frame = 0; /* no clock yet: at once */
	else if (c.frame > h->frame_limit)
		c.frame = h->frame_limit;
	if (!spsc_push(h->commands, &c)) {
		h->stats.commands_refused++;
		return false;
	}
	h->stats.commands++;
	if (c.type == CMD_METRONOME) {
		/* One click for all: every controller's button shows it. */
		h->metronome = c.value != 0.0f;
		for (int i = 0; i < MIDI_HUB_PORTS; i++)
			h->ports[i].ctl.metronome = h->metronome;
	}
	return true;
}

static struct command_sink sink_of(struct midi_hub *h)
{
	return (struct command_sink){.push = push_command, .ctx = h};
}

/* ---- setup -------------------------------------------------------------- */

void midi_hub_init(struct midi_hub *h, const struct midi_hub_config *cfg,
		   struct spsc *commands)
{
	memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	h->commands = commands;
	h->metronome = cfg->metronome;
	h->overdub_track = h->overdub_scene = -1;
	h->time.rate = cfg->rate;
	midi_clock_out_init(&h->clock_out, cfg->rate);
	h->clock_out.song_position = cfg->song_position;
	if (cfg->tempo > 0) {
		/* The engine reports a tempo only when it changes: the clock
		 * starts from the configured one. */
		struct event tempo = {.type = EV_TEMPO,
				      .value = (int64_t)(cfg->tempo * 1000.0 + 0.5),
				      .aux = (int32_t)cfg->beats_per_bar};
		midi_clock_out_event(&h->clock_out, &tempo);
	}
	midi_clock_in_init(&h->clock_in, &h->time);
}

void midi_hub_set_time(struct midi_hub *h, const struct time_map *time,
		       int64_t engine_now)
{
	h->time_known = time != NULL;
	if (time)
		h->time = *time;
	h->frame_limit = engine_now + h->cfg.period;
	for (int i = 0; i < MIDI_HUB_PORTS; i++)
		h->ports[i].ctl.time = h->time;
	h->clock_in.time = h->time;
}

/* ---- ports -------------------------------------------------------------- */

int midi_hub_profile_for(const struct midi_hub *h, const char *client_name,
			 const char *port_name, bool named_in_config)
{
	int p = profile_match_port(h->cfg.profiles, h->cfg.nprofiles, port_name);
	if (p < 0)
		p = profile_match_port(h->cfg.profiles, h->cfg.nprofiles, client_name);
	if (p < 0 && named_in_config && h->cfg.fallback_profile >= 0 &&
	    h->cfg.fallback_profile < h->cfg.nprofiles)
		p = h->cfg.fallback_profile;
	return p;
}

/* A fresh controller for a slot, showing the engine as it is now. */
static void start_controller(struct midi_hub *h, struct midi_hub_port *pt, int profile)
{
	pt->profile = profile;
	controller_init(&pt->ctl, &h->cfg.profiles[profile], &h->time);
	for (int t = 0; t < GL_TRACKS; t++)
		for (int s = 0; s < GL_SCENES; s++) {
			struct event ev = {.type = EV_CLIP_STATE,
					   .track = (uint8_t)t,
					   .scene = (uint8_t)s,
					   .state = h->clip_state[t][s]};
			controller_engine_event(&pt->ctl, &ev);
		}
	if (h->storage.type == EV_STORAGE) /* the card's state, e.g. a fault */
		controller_engine_event(&pt->ctl, &h->storage);
	pt->ctl.overdub_track = h->overdub_track;
	pt->ctl.overdub_scene = h->overdub_scene;
	pt->ctl.metronome = h->metronome;
	if (h->leaving) /* e.g. identified by an inquiry reply while leaving */
		controller_farewell(&pt->ctl);
}

/* The slot for a port: its own from before, else a free one, else the one
 * gone longest. -1: all connected. */
static int choose_slot(const struct midi_hub *h, const char *name)
{
	int free_slot = -1, oldest = -1;
	for (int i = 0; i < MIDI_HUB_PORTS; i++) {
		const struct midi_hub_port *pt = &h->ports[i];
		if (!pt->used) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (pt->connected)
			continue;
		if (!strcmp(pt->name, name))
			return i;
		if (oldest < 0 || pt->since < h->ports[oldest].since)
			oldest = i;
	}
	return free_slot >= 0 ? free_slot : oldest;
}

int midi_hub_connect(struct midi_hub *h, int client, int port, const char *name,
		     int profile)
{
	if (profile < 0 || profile >= h->cfg.nprofiles)
		return -1;
	int i = choose_slot(h, name);
	if (i < 0)
		return -1;
	struct midi_hub_port *pt = &h->ports[i];
	bool back = pt->used && !strcmp(pt->name, name);
	if (back) {
		/* Its profile (maybe from an inquiry reply), window and selection
		 * as they were; the device lost its LEDs (and its mode) with its
		 * power. */
		pt->ctl.shift = false; /* a held shift was let go with the cable */
		pt->ctl.clear_held = false;
		if (h->leaving)
			controller_farewell(&pt->ctl);
		controller_refresh(&pt->ctl);
	} else {
		start_controller(h, pt, profile);
		snprintf(pt->name, sizeof(pt->name), "%s", name);
	}
	pt->used = pt->connected = true;
	pt->client = client;
	pt->port = port;
	pt->since = ++h->connections;
	h->stats.connects++;
	return i;
}

int midi_hub_find(const struct midi_hub *h, int client, int port)
{
	for (int i = 0; i < MIDI_HUB_PORTS; i++)
		if (h->ports[i].connected && h->ports[i].client == client &&
		    h->ports[i].port == port)
			return i;
	return -1;
}

void midi_hub_disconnect(struct midi_hub *h, int slot)
{
	if (slot < 0 || slot >= MIDI_HUB_PORTS)
		return;
	h->ports[slot].connected = false;
	/* A foot switch held while unplugged never sends its release. */
	memset(&h->ports[slot].ctl.foot, 0, sizeof(h->ports[slot].ctl.foot));
}

const struct profile *midi_hub_profile(const struct midi_hub *h, int slot)
{
	if (slot < 0 || slot >= MIDI_HUB_PORTS || !h->ports[slot].used)
		return NULL;
	return h->ports[slot].ctl.profile;
}

/* ---- input -------------------------------------------------------------- */

/* F0 7E <channel> 06 02 ...: a device-inquiry reply. */
static bool inquiry_reply(const uint8_t *b, size_t len)
{
	return len >= 6 && b[0] == 0xF0 && b[1] == 0x7E && b[3] == 0x06 && b[4] == 0x02;
}

bool midi_hub_input(struct midi_hub *h, int slot, const uint8_t *bytes, size_t len,
		    int64_t us)
{
	if (slot < 0 || slot >= MIDI_HUB_PORTS || !h->ports[slot].connected)
		return false;
	struct midi_hub_port *pt = &h->ports[slot];
	if (inquiry_reply(bytes, len)) {
		int p =
		    profile_match_inquiry(h->cfg.profiles, h->cfg.nprofiles, bytes, len);
		if (p >= 0 && p != pt->profile) {
			start_controller(h, pt, p);
			h->stats.identified++;
			return true;
		}
		return false;
	}
	struct command_sink sink = sink_of(h);
	controller_midi_in(&pt->ctl, bytes, len, us, &sink);
	return false;
}

void midi_hub_clock_in(struct midi_hub *h, const uint8_t *bytes, size_t len, int64_t us)
{
	if (!h->cfg.clock_in)
		return;
	struct command_sink sink = sink_of(h);
	midi_clock_in_bytes(&h->clock_in, bytes, len, us, &sink);
}

bool midi_hub_poll(struct midi_hub *h, int64_t now_us)
{
	struct command_sink sink = sink_of(h);
	bool held = false;
	for (int i = 0; i < MIDI_HUB_PORTS; i++) {
		struct midi_hub_port *pt = &h->ports[i];
		if (!pt->connected)
			continue;
		controller_poll(&pt->ctl, now_us, &sink);
		held |= pt->ctl.foot.down && !pt->ctl.foot.hold_done;
	}
	return held;
}

int64_t midi_hub_next_blink_us(const struct midi_hub *h, int64_t now_us)
{
	const int64_t half = PROFILE_SOFT_BLINK_US / 2;
	for (int i = 0; i < MIDI_HUB_PORTS; i++) {
		const struct midi_hub_port *pt = &h->ports[i];
		if (pt->connected && pt->ctl.profile && pt->ctl.profile->soft_blink)
			return (now_us / half + 1) * half;
	}
	return INT64_MAX;
}

/* ---- engine events and output ------------------------------------------- */

void midi_hub_event(struct midi_hub *h, const struct event *ev)
{
	h->stats.events++;
	if (ev->type == EV_STORAGE)
		h->storage = *ev;
	if (ev->type == EV_CLIP_STATE && ev->track < GL_TRACKS && ev->scene < GL_SCENES &&
	    ev->state < CLIP_STATE_COUNT) {
		h->clip_state[ev->track][ev->scene] = ev->state;
		if (ev->state == CLIP_OVERDUBBING) {
			h->overdub_track = ev->track;
			h->overdub_scene = ev->scene;
		} else if (ev->state == CLIP_EMPTY && h->overdub_track == ev->track &&
			   h->overdub_scene == ev->scene) {
			h->overdub_track = h->overdub_scene = -1;
		}
	}
	for (int i = 0; i < MIDI_HUB_PORTS; i++)
		if (h->ports[i].used)
			controller_engine_event(&h->ports[i].ctl, ev);
	midi_clock_out_event(&h->clock_out, ev);
}

size_t midi_hub_output(struct midi_hub *h, int slot, uint8_t *out, size_t cap)
{
	if (slot < 0 || slot >= MIDI_HUB_PORTS || !h->ports[slot].connected)
		return 0;
	return controller_output(&h->ports[slot].ctl, out, cap);
}

void midi_hub_refresh(struct midi_hub *h, int slot)
{
	if (slot >= 0 && slot < MIDI_HUB_PORTS && h->ports[slot].used)
		controller_refresh(&h->ports[slot].ctl);
}

int64_t midi_hub_clock_reach(const struct midi_hub *h, int64_t horizon, bool *capped)
{
	*capped = false;
	if (!h->cfg.clock_out)
		return horizon;
	return midi_clock_out_reach(&h->clock_out, horizon,
				    (int64_t)h->cfg.rate * MIDI_HUB_CLOCK_AHEAD_MS / 1000,
				    capped);
}

int midi_hub_clock(struct midi_hub *h, int64_t until, struct midi_clock_msg *out, int max)
{
	if (!h->cfg.clock_out || until <= h->clock_listed)
		return 0;
	int64_t backlog = h->cfg.rate / 4;
	if (until - h->clock_listed > backlog) {
		/* Stale ticks would all go out at once, which a slave takes
		 * for a tempo jump: the frames skipped send nothing. */
		h->clock_listed = until - backlog;
		h->stats.clock_backlog_skips++;
	}
	uint32_t n = (uint32_t)(until - h->clock_listed);
	int got = midi_clock_out_period(&h->clock_out, h->clock_listed, n, out, max);
	if (got < max)
		h->clock_listed = until;
	return got;
}

void midi_hub_farewell(struct midi_hub *h)
{
	h->leaving = true;
	for (int i = 0; i < MIDI_HUB_PORTS; i++)
		if (h->ports[i].connected)
			controller_farewell(&h->ports[i].ctl);
}

int midi_hub_inquiry(const struct midi_hub *h, int slot, uint8_t out[6])
{
	return profile_inquiry_request(midi_hub_profile(h, slot), out);
}

bool midi_hub_wants_clock(const struct midi_hub *h, int client, int port)
{
	int slot = midi_hub_find(h, client, port);
	if (slot < 0)
		return true;
	const struct profile *p = midi_hub_profile(h, slot);
	return p && p->clock;
}
