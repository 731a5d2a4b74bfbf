/* controller.c -- a pad controller or foot switch driven by a profile: MIDI
 * bytes to engine commands, clip states to LED messages (see controller.h;
 * the pad and foot switch tables are in docs/manual.md). */
#include "controller.h"

#include <string.h>

#define LED_UNKNOWN UINT64_MAX

/* ---- setup ------------------------------------------------------------------ */

static uint64_t led_word(const struct controller *c, const struct profile_control *ctl,
			 struct profile_led led);

/* What the status LED must show now. */
static uint64_t status_led(const struct controller *c)
{
	const struct profile *p = c->profile;
	return led_word(c, &p->status_out, p->storage_led[c->storage]);
}

void controller_refresh(struct controller *c)
{
	const struct profile *p = c->profile;
	c->intro_pending = p->intro_len > 0 && !c->farewell;
	memset(c->pad_sent, 0xFF, sizeof(c->pad_sent));
	memset(c->scene_sent, 0xFF, sizeof(c->scene_sent));
	memset(c->stop_sent, 0xFF, sizeof(c->stop_sent));
	c->arm_sent = c->metronome_sent = LED_UNKNOWN;
	/* A device comes up with its LEDs dark: a dark status LED (the card
	 * idle, nearly always) needs no message, so a (re)connection sends
	 * what it sent before status LEDs existed. */
	const struct profile_led *st = &p->storage_led[c->storage];
	bool dark = st->velocity == 0 && !st->two;
	c->status_sent = dark ? status_led(c) : LED_UNKNOWN;
	if (c->farewell)
		c->outro_pending = p->outro_len > 0;
}

void controller_farewell(struct controller *c)
{
	c->farewell = true;
	c->intro_pending = false;
	c->outro_pending = c->profile->outro_len > 0;
}

void controller_init(struct controller *c, const struct profile *p,
		     const struct time_map *time)
{
	memset(c, 0, sizeof(*c));
	c->profile = p;
	c->time = *time;
	c->overdub_track = c->overdub_scene = -1;
	controller_refresh(c);
}

/* ---- engine commands -------------------------------------------------------- */

static void send(struct controller *c, const struct command_sink *sink,
		 enum command_type type, int track, int scene, float value, int64_t frame)
{
	struct command cmd = {.frame = frame,
			      .value = value,
			      .type = (uint8_t)type,
			      .track = (uint8_t)track,
			      .scene = (uint8_t)scene};
	if (sink && sink->push && sink->push(sink->ctx, &cmd))
		c->stats.commands++;
	else
		c->stats.commands_refused++;
}

static int max_bank(const struct controller *c)
{
	int rows = c->profile->rows;
	return rows >= GL_SCENES ? 0 : GL_SCENES - rows;
}

static void move_bank(struct controller *c, int by)
{
	int b = c->bank + by;
	c->bank = b < 0 ? 0 : b > max_bank(c) ? max_bank(c) : b;
}

/* Keeps the selected scene in the window, so a foot switch user who steps
 * through scenes sees the clip the switch acts on. */
static void show_selected_scene(struct controller *c)
{
	int rows = c->profile->rows;
	if (rows == 0)
		return;
	if (c->selected_scene < c->bank)
		move_bank(c, c->selected_scene - c->bank);
	else if (c->selected_scene >= c->bank + rows)
		move_bank(c, c->selected_scene - (c->bank + rows - 1));
}

/* ---- the foot switch -------------------------------------------------------- */

static void foot_hold(struct controller *c, int64_t frame,
		      const struct command_sink *sink)
{
	struct controller_foot *f = &c->foot;
	f->hold_done = true;
	f->tap_open = false;
	f->overdub_waiting = false;
	switch (f->before) {
	case CLIP_PLAYING:     /* the tap's overdub never started: undo the last */
	case CLIP_OVERDUBBING: /* the press ended the pass: undo it */
		send(c, sink, CMD_UNDO, f->track, f->scene, 0, frame);
		break;
	case CLIP_STOPPED:
		send(c, sink, CMD_CLEAR, f->track, f->scene, 0, frame);
		break;
	default: /* a take being made or starting: a hold adds nothing */
		break;
	}
}

static void foot_press(struct controller *c, bool has_release, int64_t us, int64_t frame,
		       const struct command_sink *sink)
{
	struct controller_foot *f = &c->foot;
	if (f->down)
		return; /* pressed again without a release: one press */
	int track = c->selected_track, scene = c->selected_scene;
	int64_t since = us - f->tap_us;
	if (f->tap_open && since >= 0 &&
	    since <= (int64_t)c->profile->double_tap_ms * 1000 && f->track == track &&
	    f->scene == scene) {
		/* Double tap: stop. What the first tap started is taken back
		 * first: a take it began is discarded, an overdub pass it began
		 * is undone. */
		f->tap_open = false;
		f->down = has_release;
		f->down_us = us;
		f->hold_done = true;
		if (f->before == CLIP_EMPTY || f->before == CLIP_RECORD_QUEUED) {
			send(c, sink, CMD_CLEAR, track, scene, 0, frame);
			return;
		}
		if (f->overdub_started)
			send(c, sink, CMD_UNDO, track, scene, 0, frame);
		send(c, sink, CMD_STOP_CLIP, track, scene, 0, frame);
		return;
	}
	*f = (struct controller_foot){.down = has_release,
				      .down_us = us,
				      .hold_done = !has_release,
				      .tap_open = true,
				      .tap_us = us,
				      .before = c->clip_state[track][scene],
				      .track = (uint8_t)track,
				      .scene = (uint8_t)scene};
	if (f->before == CLIP_PLAYING) {
		if (has_release) {
			/* Could still become a hold (undo the last pass), and
			 * starting a pass now would lose that undo: wait for the
			 * release. */
			f->overdub_waiting = true;
		} else {
			send(c, sink, CMD_OVERDUB, track, scene, 0, frame);
			f->overdub_started = true;
		}
		return;
	}
	/* Every other step acts at once, on the frame it was played. */
	send(c, sink, CMD_PRESS, track, scene, 0, frame);
}

static void foot_release(struct controller *c, int64_t us, int64_t frame,
			 const struct command_sink *sink)
{
	struct controller_foot *f = &c->foot;
	if (!f->down)
		return;
	f->down = false;
	if (f->hold_done)
		return;
	int64_t hold_us = (int64_t)c->profile->hold_ms * 1000;
	if (us - f->down_us >= hold_us) {
		foot_hold(c, time_map_frame(&c->time, f->down_us + hold_us), sink);
		return;
	}
	f->hold_done = true;
	if (f->overdub_waiting) {
		f->overdub_waiting = false;
		f->overdub_started = true;
		send(c, sink, CMD_OVERDUB, f->track, f->scene, 0, frame);
	}
}

/* The second switch: a tap (released before hold_ms) toggles a multiply
 * on the selected clip, a hold undoes its last level. A switch without a
 * release (a program change) multiplies at once. */
static void foot2_press(struct controller *c, bool has_release, int64_t us, int64_t frame,
			const struct command_sink *sink)
{
	struct controller_foot2 *f = &c->foot2;
	if (f->down)
		return;
	f->track = (uint8_t)c->selected_track;
	f->scene = (uint8_t)c->selected_scene;
	if (!has_release) {
		send(c, sink, CMD_MULTIPLY, f->track, f->scene, 0, frame);
		return;
	}
	f->down = true;
	f->hold_done = false;
	f->down_us = us;
}

static void foot2_release(struct controller *c, int64_t us, int64_t frame,
			  const struct command_sink *sink)
{
	struct controller_foot2 *f = &c->foot2;
	if (!f->down)
		return;
	f->down = false;
	if (f->hold_done)
		return;
	int64_t hold_us = (int64_t)c->profile->hold_ms * 1000;
	if (us - f->down_us >= hold_us)
		send(c, sink, CMD_UNDO, f->track, f->scene, 0,
		     time_map_frame(&c->time, f->down_us + hold_us));
	else /* the tap's frame: when it was pressed */
		send(c, sink, CMD_MULTIPLY, f->track, f->scene, 0,
		     time_map_frame(&c->time, f->down_us));
	(void)frame;
}

void controller_poll(struct controller *c, int64_t now_us,
		     const struct command_sink *sink)
{
	struct controller_foot *f = &c->foot;
	int64_t hold_us = (int64_t)c->profile->hold_ms * 1000;
	c->now_us = now_us;
	if (f->down && !f->hold_done && now_us - f->down_us >= hold_us)
		foot_hold(c, time_map_frame(&c->time, f->down_us + hold_us), sink);
	struct controller_foot2 *f2 = &c->foot2;
	if (f2->down && !f2->hold_done && now_us - f2->down_us >= hold_us) {
		f2->hold_done = true;
		send(c, sink, CMD_UNDO, f2->track, f2->scene, 0,
		     time_map_frame(&c->time, f2->down_us + hold_us));
	}
}

/* The loop-operation buttons: the command for the selected clip (undo_all
 * and redo_all: the last overdubbed one, as undo and redo). */
static void loop_op(struct controller *c, enum profile_action a, int64_t frame,
		    const struct command_sink *sink)
{
	int t = c->selected_track, s = c->selected_scene;
	if (t < 0 || t >= GL_TRACKS || s < 0 || s >= GL_SCENES)
		return;
	/* The ops that are one command on the selected clip, nothing more. */
	static const struct {
		enum profile_action action;
		enum command_type cmd;
	} plain[] = {{ACT_MULTIPLY, CMD_MULTIPLY}, {ACT_INSERT, CMD_INSERT},
		     {ACT_REPLACE, CMD_REPLACE},   {ACT_SUBSTITUTE, CMD_SUBSTITUTE},
		     {ACT_REVERSE, CMD_REVERSE},   {ACT_ONESHOT, CMD_ONESHOT},
		     {ACT_TRIGGER, CMD_TRIGGER}};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (plain[i].action == a) {
			send(c, sink, plain[i].cmd, t, s, 0, frame);
			return;
		}
	switch (a) {
	case ACT_UNDO_ALL:
	case ACT_REDO_ALL: {
		bool last = c->overdub_track >= 0;
		send(c, sink, a == ACT_UNDO_ALL ? CMD_UNDO_ALL : CMD_REDO_ALL,
		     last ? c->overdub_track : t, last ? c->overdub_scene : s, 0, frame);
		break;
	}
	case ACT_HALF_SPEED:
	case ACT_DOUBLE_SPEED: {
		uint8_t want = a == ACT_HALF_SPEED ? 1 : 4;
		uint8_t now = c->speed[t][s] == want ? 2 : want;
		c->speed[t][s] = now;
		send(c, sink, CMD_SPEED, t, s, (float)now / 2.0f, frame);
		break;
	}
	case ACT_MUTE_CLIP:
		c->clip_muted[t][s] = !c->clip_muted[t][s];
		send(c, sink, CMD_CLIP_MUTE, t, s, c->clip_muted[t][s] ? 1.0f : 0.0f,
		     frame);
		break;
	default:
		break;
	}
}

/* ---- controls ---------------------------------------------------------------- */

static int expr_value(const struct profile_expr *e, int channel, int number)
{
	int v = e->term == TERM_CHANNEL ? channel : e->term == TERM_NUMBER ? number : 0;
	return v + e->offset;
}

static const struct profile_rule *find_rule(const struct profile *p, bool shift,
					    uint8_t kind, int channel, int number)
{
	for (int i = 0; i < p->nrules; i++) {
		const struct profile_rule *r = &p->rules[i];
		if (r->shift == shift && r->kind == kind && number >= r->first &&
		    number <= r->last && channel >= r->first_ch && channel <= r->last_ch)
			return r;
	}
	return NULL;
}

static bool clip_active(uint8_t s)
{
	return s != CLIP_EMPTY && s != CLIP_STOPPED;
}

static void press(struct controller *c, const struct profile_rule *r, int x, int y,
		  int64_t us, int64_t frame, const struct command_sink *sink)
{
	int scene = c->bank + y;
	bool in_grid = x >= 0 && x < GL_TRACKS && scene >= 0 && scene < GL_SCENES;
	switch ((enum profile_action)r->action) {
	case ACT_PAD:
		if (!in_grid) {
			c->stats.outside++;
			break;
		}
		c->selected_track = x;
		c->selected_scene = scene;
		/* Shift + pad selects (as in Ableton): a clear takes the held
		   clear button, a chord no hand makes by accident. */
		if (c->clear_held) {
			send(c, sink, CMD_CLEAR, x, scene, 0, frame);
		} else if (c->shift) {
			/* selected above, nothing else */
		} else if (c->armed && c->clip_state[x][scene] == CLIP_PLAYING) {
			c->armed = false;
			send(c, sink, CMD_OVERDUB, x, scene, 0, frame);
		} else {
			send(c, sink, CMD_PRESS, x, scene, 0, frame);
		}
		break;
	case ACT_SCENE:
		if (scene < 0 || scene >= GL_SCENES) {
			c->stats.outside++;
			break;
		}
		c->selected_scene = scene;
		send(c, sink, CMD_LAUNCH_SCENE, 0, scene, 0, frame);
		break;
	case ACT_STOP_CLIP:
		if (!in_grid) {
			c->stats.outside++;
			break;
		}
		send(c, sink, CMD_STOP_CLIP, x, scene, 0, frame);
		break;
	case ACT_STOP_TRACK:
		send(c, sink, CMD_STOP_TRACK, x, 0, 0, frame);
		break;
	case ACT_STOP_ALL:
		send(c, sink, CMD_STOP_ALL, 0, 0, 0, frame);
		break;
	case ACT_BANK_UP:
	case ACT_BANK_DOWN: {
		/* Shift pages, unless shift is how this bank button is reached. */
		int step = c->shift && !r->shift ? c->profile->rows : 1;
		move_bank(c, r->action == ACT_BANK_UP ? -step : step);
		break;
	}
	case ACT_SHIFT:
		c->shift = true;
		break;
	case ACT_CLEAR: /* held until that control is released (message()) */
		c->clear_held = true;
		break;
	case ACT_RECORD_ARM:
		c->armed = !c->armed;
		break;
	case ACT_TAP_TEMPO:
		send(c, sink, CMD_TAP_TEMPO, 0, 0, 0, frame);
		break;
	case ACT_METRONOME:
		c->metronome = !c->metronome;
		send(c, sink, CMD_METRONOME, 0, 0, c->metronome ? 1.0f : 0.0f, frame);
		break;
	case ACT_UNDO:
	case ACT_REDO: {
		bool last = c->overdub_track >= 0;
		send(c, sink, r->action == ACT_UNDO ? CMD_UNDO : CMD_REDO,
		     last ? c->overdub_track : c->selected_track,
		     last ? c->overdub_scene : c->selected_scene, 0, frame);
		break;
	}
	case ACT_FOOT:
		foot_press(c, r->kind != KIND_PROGRAM, us, frame, sink);
		break;
	case ACT_SELECT_TRACK:
		c->selected_track = x;
		break;
	case ACT_NEXT_TRACK:
		c->selected_track = (c->selected_track + 1) % GL_TRACKS;
		break;
	case ACT_PREV_TRACK:
		c->selected_track = (c->selected_track + GL_TRACKS - 1) % GL_TRACKS;
		break;
	case ACT_NEXT_SCENE:
		c->selected_scene = (c->selected_scene + 1) % GL_SCENES;
		show_selected_scene(c);
		break;
	case ACT_PREV_SCENE:
		c->selected_scene = (c->selected_scene + GL_SCENES - 1) % GL_SCENES;
		show_selected_scene(c);
		break;
	case ACT_EXPORT:
		send(c, sink, CMD_REQUEST, 0, 0, REQUEST_EXPORT, frame);
		break;
	case ACT_SAVE:
		send(c, sink, CMD_REQUEST, 0, 0, REQUEST_SAVE, frame);
		break;
	case ACT_MULTIPLY:
	case ACT_INSERT:
	case ACT_REPLACE:
	case ACT_SUBSTITUTE:
	case ACT_REVERSE:
	case ACT_ONESHOT:
	case ACT_TRIGGER:
	case ACT_UNDO_ALL:
	case ACT_REDO_ALL:
	case ACT_HALF_SPEED:
	case ACT_DOUBLE_SPEED:
	case ACT_MUTE_CLIP:
		loop_op(c, (enum profile_action)r->action, frame, sink);
		break;
	case ACT_FOOT2:
		foot2_press(c, r->kind != KIND_PROGRAM, us, frame, sink);
		break;
	case ACT_NONE:
	case ACT_VOLUME: /* faders: handled with their value */
	case ACT_MASTER:
	case ACT_COUNT:
		break;
	}
}

/* A whole channel message. */
static void message(struct controller *c, uint8_t status, uint8_t d1, uint8_t d2,
		    int64_t us, const struct command_sink *sink)
{
	c->stats.messages++;
	uint8_t kind;
	bool pressed;
	switch (status & 0xF0) {
	case 0x80:
		kind = KIND_NOTE;
		pressed = false;
		break;
	case 0x90: /* velocity 0 is a release */
		kind = KIND_NOTE;
		pressed = d2 > 0;
		break;
	case 0xB0: /* switches send 127 down, 0 up */
		kind = KIND_CC;
		pressed = d2 >= 64;
		break;
	case 0xC0: /* a program change is a press with no release */
		kind = KIND_PROGRAM;
		pressed = true;
		break;
	default: /* aftertouch, pitch bend: nothing here uses them */
		c->stats.unmapped++;
		return;
	}
	int channel = status & 0x0F;
	/* The clear button's release ends the clear, whatever rule (or none)
	   the release would find now that shift may be up. */
	if (!pressed && c->clear_held && c->clear_kind == kind &&
	    c->clear_channel == channel && c->clear_number == d1) {
		c->clear_held = false;
		return;
	}
	const struct profile_rule *r = NULL;
	if (c->shift)
		r = find_rule(c->profile, true, kind, channel, d1);
	if (!r)
		r = find_rule(c->profile, false, kind, channel, d1);
	if (!r) {
		c->stats.unmapped++;
		return;
	}
	int64_t frame = time_map_frame(&c->time, us);
	if (pressed && r->action == ACT_CLEAR) {
		c->clear_kind = kind;
		c->clear_channel = (uint8_t)channel;
		c->clear_number = d1;
	}
	int x = expr_value(&r->x, channel, d1), y = expr_value(&r->y, channel, d1);
	if (r->action == ACT_VOLUME) {
		if (x >= 0 && x < GL_TRACKS)
			send(c, sink, CMD_TRACK_VOLUME, x, 0, (float)d2 / 127.0f, frame);
	} else if (r->action == ACT_MASTER) {
		send(c, sink, CMD_MASTER_VOLUME, 0, 0, (float)d2 / 127.0f, frame);
	} else if (pressed) {
		press(c, r, x, y, us, frame, sink);
	} else if (r->action == ACT_SHIFT) {
		c->shift = false;
	} else if (r->action == ACT_FOOT) {
		foot_release(c, us, frame, sink);
	} else if (r->action == ACT_FOOT2) {
		foot2_release(c, us, frame, sink);
	}
}

/* Data bytes after a status byte. */
static uint8_t data_length(uint8_t status)
{
	switch (status & 0xF0) {
	case 0xC0:
	case 0xD0:
		return 1;
	case 0xF0:
		return status == 0xF2 ? 2 : (status == 0xF1 || status == 0xF3) ? 1 : 0;
	default:
		return 2;
	}
}

void controller_midi_in(struct controller *c, const uint8_t *bytes, size_t len,
			int64_t us, const struct command_sink *sink)
{
	struct controller_stats *st = &c->stats;
	for (size_t i = 0; i < len; i++) {
		uint8_t b = bytes[i];
		if (b >= 0xF8) { /* real-time bytes may sit anywhere */
			st->realtime++;
			continue;
		}
		if (c->in_sysex) {
			if (b == 0xF7) {
				c->in_sysex = false;
				st->sysex++;
				continue;
			}
			if (b < 0x80)
				continue;
			c->in_sysex = false; /* a status byte ends it, and counts */
			st->sysex_unterminated++;
		}
		if (b & 0x80) {
			if (c->need) {
				st->truncated++;
				c->need = 0;
			}
			if (b == 0xF0) {
				c->in_sysex = true;
				c->running_status = 0;
			} else if (b == 0xF7) {
				st->stray_end++;
			} else if (b > 0xF0) {
				/* System common: cancels running status. */
				c->running_status = 0;
				c->status = b;
				c->have = 0;
				c->need = data_length(b);
				if (c->need == 0)
					st->system++;
			} else {
				c->running_status = c->status = b;
				c->have = 0;
				c->need = data_length(b);
			}
			continue;
		}
		if (!c->need) {
			if (!c->running_status) {
				st->stray_data++;
				continue;
			}
			c->status = c->running_status;
			c->have = 0;
			c->need = data_length(c->status);
		}
		c->data[c->have++] = b;
		if (c->have < c->need)
			continue;
		uint8_t n = c->need;
		c->need = 0;
		if (c->status >= 0xF0)
			st->system++;
		else
			message(c, c->status, c->data[0], n == 2 ? c->data[1] : 0, us,
				sink);
	}
}

/* ---- engine events and LEDs -------------------------------------------------- */

void controller_engine_event(struct controller *c, const struct event *ev)
{
	if (ev->type == EV_STORAGE) {
		if (ev->value >= 0 && ev->value < PROFILE_STORAGE_STATES)
			c->storage = (uint8_t)ev->value;
		return;
	}
	if (ev->type != EV_CLIP_STATE || ev->track >= GL_TRACKS ||
	    ev->scene >= GL_SCENES || ev->state >= CLIP_STATE_COUNT)
		return;
	c->clip_state[ev->track][ev->scene] = ev->state;
	if (ev->state == CLIP_EMPTY || ev->state == CLIP_RECORDING) {
		/* A new take plays at speed 1, unmuted. */
		c->speed[ev->track][ev->scene] = 0;
		c->clip_muted[ev->track][ev->scene] = false;
	}
	if (ev->state == CLIP_OVERDUBBING) {
		c->overdub_track = ev->track;
		c->overdub_scene = ev->scene;
	} else if (ev->state == CLIP_EMPTY && c->overdub_track == ev->track &&
		   c->overdub_scene == ev->scene) {
		c->overdub_track = c->overdub_scene = -1; /* cleared: nothing to undo */
	}
}

/* One message: status << 16 | number << 8 | velocity. */
static uint64_t led_message(const struct profile_control *ctl, uint8_t velocity,
			    int8_t channel)
{
	uint64_t status = (ctl->kind == KIND_NOTE ? 0x90u : 0xB0u) |
			  (uint64_t)(channel >= 0 ? channel : ctl->channel);
	return status << 16 | (uint64_t)ctl->number << 8 | velocity;
}

/* What an LED shows as one word: the first message << 24 | the second,
 * bit 48 set when there is a second. Dark after controller_farewell and in
 * the dark half of a `blink` LED's cycle. */
static uint64_t led_word(const struct controller *c, const struct profile_control *ctl,
			 struct profile_led led)
{
	bool dark_phase =
	    led.blink && (c->now_us % PROFILE_SOFT_BLINK_US + PROFILE_SOFT_BLINK_US) %
				 PROFILE_SOFT_BLINK_US >=
			     PROFILE_SOFT_BLINK_US / 2;
	if (c->farewell || dark_phase)
		return led_message(ctl, 0, -1) << 24;
	uint64_t w = led_message(ctl, led.velocity, led.channel) << 24;
	if (led.two)
		w |= 1ull << 48 | led_message(ctl, led.velocity2, led.channel2);
	return w;
}

static uint64_t pad_led(const struct controller *c, int x, int y)
{
	const struct profile *p = c->profile;
	int scene = c->bank + y;
	if (x >= GL_TRACKS || scene >= GL_SCENES)
		return led_word(c, &p->pad_out[y][x], p->outside_led);
	return led_word(c, &p->pad_out[y][x], p->state_led[c->clip_state[x][scene]]);
}

static bool queued(uint8_t s)
{
	return s == CLIP_RECORD_QUEUED || s == CLIP_PLAY_QUEUED || s == CLIP_STOP_QUEUED;
}

/* A scene button blinks while a clip of its row is queued, is lit while one
 * plays (or records), and is dark otherwise. */
static enum profile_button_led scene_led(const struct controller *c, int scene)
{
	if (scene >= GL_SCENES)
		return BUTTON_OFF;
	bool active = false;
	for (int t = 0; t < GL_TRACKS; t++) {
		uint8_t s = c->clip_state[t][scene];
		if (queued(s))
			return BUTTON_BLINK;
		active |= clip_active(s);
	}
	return active ? BUTTON_ON : BUTTON_OFF;
}

/* A clip stop button, as Ableton lights it: blinking while a stop is
 * queued on its track, lit while a clip of the track plays, records or
 * overdubs, dark otherwise. */
static enum profile_button_led stop_led(const struct controller *c, int track)
{
	bool playing = false;
	for (int s = 0; s < GL_SCENES; s++) {
		uint8_t st = c->clip_state[track][s];
		if (st == CLIP_STOP_QUEUED)
			return BUTTON_BLINK;
		playing |=
		    st == CLIP_PLAYING || st == CLIP_RECORDING || st == CLIP_OVERDUBBING;
	}
	return playing ? BUTTON_ON : BUTTON_OFF;
}

struct writer {
	uint8_t *out;
	size_t cap, n;
};

static void put_message(struct writer *w, uint64_t msg)
{
	w->out[w->n++] = (uint8_t)(msg >> 16);
	w->out[w->n++] = (uint8_t)(msg >> 8);
	w->out[w->n++] = (uint8_t)msg;
}

/* Sends an LED's messages if they differ from what was sent; false when
 * the buffer is full. */
static bool update(struct writer *w, uint64_t *sent, uint64_t word)
{
	if (*sent == word)
		return true;
	bool two = word >> 48 & 1;
	if (w->cap - w->n < (two ? 6u : 3u))
		return false;
	put_message(w, word >> 24 & 0xFFFFFF);
	if (two)
		put_message(w, word & 0xFFFFFF);
	*sent = word;
	return true;
}

static bool group_update(struct controller *c, struct writer *w, uint64_t *sent,
			 const struct profile_control *ctl, enum profile_group g,
			 enum profile_button_led v)
{
	const struct profile *p = c->profile;
	if (!ctl->present || !p->group_lit[g])
		return true;
	return update(w, sent, led_word(c, ctl, p->group_led[g][v]));
}

size_t controller_output(struct controller *c, uint8_t *out, size_t cap)
{
	const struct profile *p = c->profile;
	struct writer w = {.out = out, .cap = cap};
	if (c->intro_pending) {
		if (cap < (size_t)p->intro_len)
			return 0;
		memcpy(out, p->intro, (size_t)p->intro_len);
		w.n = (size_t)p->intro_len;
		c->intro_pending = false;
	}
	int rows = p->rows < PROFILE_MAX_ROWS ? p->rows : PROFILE_MAX_ROWS;
	for (int y = 0; y < rows; y++)
		for (int x = 0; x < PROFILE_COLUMNS; x++)
			if (p->pad_out[y][x].present &&
			    !update(&w, &c->pad_sent[y][x], pad_led(c, x, y)))
				return w.n;
	for (int y = 0; y < rows; y++)
		if (!group_update(c, &w, &c->scene_sent[y], &p->scene_out[y], GROUP_SCENE,
				  scene_led(c, c->bank + y)))
			return w.n;
	for (int x = 0; x < PROFILE_COLUMNS; x++)
		if (!group_update(c, &w, &c->stop_sent[x], &p->stop_out[x], GROUP_STOP,
				  stop_led(c, x)))
			return w.n;
	if (!group_update(c, &w, &c->arm_sent, &p->record_arm_out, GROUP_RECORD_ARM,
			  c->armed ? BUTTON_ON : BUTTON_OFF) ||
	    !group_update(c, &w, &c->metronome_sent, &p->metronome_out, GROUP_METRONOME,
			  c->metronome ? BUTTON_ON : BUTTON_OFF))
		return w.n;
	/* The status LED comes last: it has its own values, with or without
	   button LEDs. */
	if (p->status_out.present && !update(&w, &c->status_sent, status_led(c)))
		return w.n;
	if (c->outro_pending && cap - w.n >= (size_t)p->outro_len) {
		memcpy(out + w.n, p->outro, (size_t)p->outro_len);
		w.n += (size_t)p->outro_len;
		c->outro_pending = false;
	}
	return w.n;
}
