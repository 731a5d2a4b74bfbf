/* test_controller.c -- a controller driven by each built-in profile: MIDI
 * bytes in -> the exact engine commands (frames from the event timestamps),
 * clip states -> the exact LED bytes, only what changed; banking, shift
 * chords, record arm -> overdub, undo targets, faders; the export and save
 * chords and the SD card's status LED; the foot switch's
 * tap / double tap / hold from timestamped events; and bad MIDI, which is
 * counted and skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "profile_files.h"

#define MAXCMD 64
#define MS     1000 /* microseconds */

/* An LED state as the device's documentation spells it: velocity v on
 * channel ch (-1: the control's own), then, for an animation, v2 on ch2
 * (v2 < 0: one message). */
struct want {
	int v, ch, v2, ch2;
};
#define W1(v)                                                                            \
	{                                                                                \
		(v), -1, -1, 0                                                           \
	}
#define WC(v, ch)                                                                        \
	{                                                                                \
		(v), (ch), -1, 0                                                         \
	}
#define W2(v, v2, ch2)                                                                   \
	{                                                                                \
		(v), -1, (v2), (ch2)                                                     \
	}

/* Each built-in profile and what its controller sends and shows. */
struct model {
	const char *file;
	int rows;
	bool track_channels; /* APC40 mk1: pad channel = track */
	int pad_base;	     /* note of the top-left pad */
	int row_step;	     /* note difference from one row to the next below */
	int scene_base;
	int shift_note;
	struct want led[CLIP_STATE_COUNT];
	struct want scene[BUTTON_LED_COUNT]; /* off, on, blink */
	int stop_note;			     /* clip stop of track 1; per track: */
	bool stop_channels;		     /* channel = track, else note + track */
	int stop_lit;			     /* tracks whose stop LED is driven */
	int arm_note, metronome_note;	     /* lit 0 / 1; -1: no LED */
};

/* Values from Akai's APC40 protocol (Rev 1) and Ableton's APC40, _APC,
 * APC40_MkII, APC_mini and APC_mini_mk2 scripts (see the profiles). */
static const struct model models[] = {
    {"apc40.profile",
     5,
     true,
     53,
     1,
     82,
     98,
     /* empty, record_queued, recording, play_queued, playing,
	overdubbing, stop_queued, stopped */
     {W1(0), W1(4), W1(3), W1(2), W1(1), W1(3), W1(6), W1(5)},
     {W1(0), W1(1), W1(2)},
     52,
     true,
     8,
     64,
     65},
    {"apc40mk2.profile",
     5,
     false,
     32,
     -8,
     82,
     98,
     /* Two-message animations: colour on channel 0, then the colour it
	pulses (8, 10) or blinks (14) to. */
     {W1(0), W2(5, 0, 14), W2(6, 5, 8), W2(21, 0, 14), W2(22, 21, 8), W2(6, 5, 10),
      W2(9, 0, 14), W1(9)},
     {W1(0), W1(21), W2(21, 0, 14)},
     52,
     true,
     8,
     102,
     90},
    {"apcmini.profile",
     8,
     false,
     56,
     -8,
     82,
     98,
     {W1(0), W1(4), W1(3), W1(2), W1(1), W1(3), W1(6), W1(5)},
     {W1(0), W1(1), W1(2)},
     64,
     false,
     7, /* track button 8 is the status LED */
     -1,
     -1},
    {"apcminimk2.profile",
     8,
     false,
     56,
     -8,
     112,
     122,
     /* Channel = effect: 6 solid, 10 pulse (playing, as Ableton), 14 blink. */
     {WC(0, 6), WC(5, 14), WC(5, 6), WC(21, 14), WC(21, 10), WC(5, 10), WC(9, 14),
      WC(9, 6)},
     {W1(0), W1(1), W1(2)},
     100,
     false,
     7,
     -1,
     -1},
};
#define NMODELS (int)(sizeof(models) / sizeof(models[0]))

static struct profile profiles[NMODELS + 1]; /* the models, then the foot switch */

struct rig {
	struct controller c;
	struct command cmd[MAXCMD];
	int n;
	bool refuse;
	struct command_sink sink;
	uint8_t out[8192];
	size_t nout;
};

static bool capture(void *ctx, const struct command *cmd)
{
	struct rig *r = ctx;
	if (r->refuse || r->n == MAXCMD)
		return false;
	r->cmd[r->n++] = *cmd;
	return true;
}

static const struct time_map time48k = {.ref_us = 0, .ref_frame = 0, .rate = 48000};

static struct rig *rig_for(const struct profile *p)
{
	struct rig *r = calloc(1, sizeof(*r));
	controller_init(&r->c, p, &time48k);
	r->sink = (struct command_sink){.push = capture, .ctx = r};
	return r;
}

static void send_bytes(struct rig *r, int64_t us, const uint8_t *b, size_t n)
{
	controller_midi_in(&r->c, b, n, us, &r->sink);
}
#define MIDI(r, us, ...)                                                                 \
	send_bytes((r), (us), (const uint8_t[]){__VA_ARGS__},                            \
		   sizeof((const uint8_t[]){__VA_ARGS__}))

static void set_state(struct rig *r, int track, int scene, enum clip_state s)
{
	struct event ev = {.type = EV_CLIP_STATE,
			   .track = (uint8_t)track,
			   .scene = (uint8_t)scene,
			   .state = (uint8_t)s,
			   .value = s};
	controller_engine_event(&r->c, &ev);
}

/* Everything controller_output has to send now, in small calls. */
static size_t drain(struct rig *r)
{
	r->nout = 0;
	for (;;) {
		size_t n =
		    controller_output(&r->c, r->out + r->nout, CONTROLLER_MIN_OUTPUT);
		if (n == 0)
			return r->nout;
		r->nout += n;
		assert_true(r->nout + CONTROLLER_MIN_OUTPUT <= sizeof(r->out));
	}
}

static void assert_cmd(const struct rig *r, int i, int type, int track, int scene,
		       int64_t frame)
{
	assert_true(i < r->n);
	assert_int_equal(r->cmd[i].type, type);
	assert_int_equal(r->cmd[i].track, track);
	assert_int_equal(r->cmd[i].scene, scene);
	assert_int_equal(r->cmd[i].frame, frame);
}

static void assert_one(struct rig *r, int type, int track, int scene, int64_t frame)
{
	assert_int_equal(r->n, 1);
	assert_cmd(r, 0, type, track, scene, frame);
	r->n = 0;
}

static void assert_none(struct rig *r)
{
	assert_int_equal(r->n, 0);
}

static void assert_out(struct rig *r, const uint8_t *expected, size_t n)
{
	assert_int_equal(drain(r), n);
	assert_memory_equal(r->out, expected, n);
}
#define OUT(r, ...)                                                                      \
	assert_out((r), (const uint8_t[]){__VA_ARGS__},                                  \
		   sizeof((const uint8_t[]){__VA_ARGS__}))

/* A model's pad (x, y): its channel and note. */
static void pad_of(const struct model *m, int x, int y, uint8_t *status, uint8_t *note)
{
	*status = (uint8_t)(0x90 | (m->track_channels ? x : 0));
	*note = (uint8_t)(m->pad_base + y * m->row_step + (m->track_channels ? 0 : x));
}

static void press_pad(struct rig *r, const struct model *m, int x, int y, int64_t us)
{
	uint8_t status, note;
	pad_of(m, x, y, &status, &note);
	MIDI(r, us, status, note, 127, (uint8_t)((status & 0x0F) | 0x80), note, 0);
}

static int group_setup(void **state)
{
	(void)state;
	char err[512], path[128];
	for (int i = 0; i <= NMODELS; i++) {
		snprintf(path, sizeof(path), "board/profiles/%s",
			 i < NMODELS ? models[i].file : "footswitch.profile");
		if (profile_load(&profiles[i], path, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return -1;
		}
	}
	return 0;
}

/* ---- every built-in pad profile ------------------------------------------- */

static void test_presses_map_to_exact_commands(void **state)
{
	(void)state;
	for (int mi = 0; mi < NMODELS; mi++) {
		const struct model *m = &models[mi];
		struct rig *r = rig_for(&profiles[mi]);
		int64_t us = 0;
		for (int y = 0; y < m->rows; y++)
			for (int x = 0; x < 8; x++) {
				us += 10 * MS;
				press_pad(r, m, x, y, us);
				/* Press on the frame it was played; release: nothing. */
				assert_one(r, CMD_PRESS, x, y, us / MS * 48);
			}
		for (int i = 0; i < m->rows; i++) {
			MIDI(r, 5 * MS, 0x90, (uint8_t)(m->scene_base + i), 127);
			assert_one(r, CMD_LAUNCH_SCENE, 0, i, 240);
		}
		/* Faders: CC 7 per channel on the APC40s, CC 48.. on the minis. */
		if (m->track_channels || m->pad_base == 32)
			MIDI(r, 0, 0xB3, 7, 127);
		else
			MIDI(r, 0, 0xB0, 51, 127);
		assert_int_equal(r->n, 1);
		assert_int_equal(r->cmd[0].type, CMD_TRACK_VOLUME);
		assert_int_equal(r->cmd[0].track, 3);
		assert_true(r->cmd[0].value == 1.0f);
		r->n = 0;
		MIDI(r, 0, 0xB0, m->pad_base == 56 ? 56 : 14, 0);
		assert_int_equal(r->n, 1);
		assert_int_equal(r->cmd[0].type, CMD_MASTER_VOLUME);
		assert_true(r->cmd[0].value == 0.0f);
		assert_int_equal(r->c.stats.unmapped, 0);
		free(r);
	}
}

static enum profile_button_led scene_led_for(enum clip_state s)
{
	if (s == CLIP_RECORD_QUEUED || s == CLIP_PLAY_QUEUED || s == CLIP_STOP_QUEUED)
		return BUTTON_BLINK;
	return s == CLIP_EMPTY || s == CLIP_STOPPED ? BUTTON_OFF : BUTTON_ON;
}

/* Ableton's clip stop LED: on while a clip of the track plays, blinking
 * while its stop is queued. */
static enum profile_button_led stop_led_for(enum clip_state s)
{
	if (s == CLIP_STOP_QUEUED)
		return BUTTON_BLINK;
	return s == CLIP_PLAYING || s == CLIP_RECORDING || s == CLIP_OVERDUBBING
		   ? BUTTON_ON
		   : BUTTON_OFF;
}

/* Appends the message(s) of a want on a control (status byte for the
 * control's own channel). */
static size_t put_want(uint8_t *out, uint8_t own_status, uint8_t number, struct want w)
{
	size_t n = 0;
	out[n++] = w.ch >= 0 ? (uint8_t)((own_status & 0xF0) | w.ch) : own_status;
	out[n++] = number;
	out[n++] = (uint8_t)w.v;
	if (w.v2 >= 0) {
		out[n++] = (uint8_t)((own_status & 0xF0) | w.ch2);
		out[n++] = number;
		out[n++] = (uint8_t)w.v2;
	}
	return n;
}

static void stop_of(const struct model *m, int track, uint8_t *status, uint8_t *note)
{
	*status = (uint8_t)(0x90 | (m->stop_channels ? track : 0));
	*note = (uint8_t)(m->stop_note + (m->stop_channels ? 0 : track));
}

static void test_states_give_exact_led_bytes(void **state)
{
	(void)state;
	for (int mi = 0; mi < NMODELS; mi++) {
		const struct model *m = &models[mi];
		const struct profile *p = &profiles[mi];
		struct rig *r = rig_for(p);

		/* Connection: the introduction, then every pad, dark, the
		 * scene buttons, the clip stops, record arm and metronome. */
		uint8_t expected[1024], status, note;
		size_t n = 0;
		memcpy(expected, p->intro, (size_t)p->intro_len);
		n += (size_t)p->intro_len;
		for (int y = 0; y < m->rows; y++)
			for (int x = 0; x < 8; x++) {
				pad_of(m, x, y, &status, &note);
				n += put_want(expected + n, status, note,
					      m->led[CLIP_EMPTY]);
			}
		for (int y = 0; y < m->rows; y++)
			n += put_want(expected + n, 0x90, (uint8_t)(m->scene_base + y),
				      m->scene[BUTTON_OFF]);
		for (int t = 0; t < m->stop_lit; t++) {
			stop_of(m, t, &status, &note);
			n += put_want(expected + n, status, note, (struct want)W1(0));
		}
		if (m->arm_note >= 0)
			n += put_want(expected + n, 0x90, (uint8_t)m->arm_note,
				      (struct want)W1(0));
		if (m->metronome_note >= 0)
			n += put_want(expected + n, 0x90, (uint8_t)m->metronome_note,
				      (struct want)W1(0));
		assert_out(r, expected, n);
		assert_int_equal(drain(r), 0); /* nothing changed since */

		/* Every state on clip (2, 1): the pad's message(s), the scene
		 * button of row 1 and the clip stop of track 3 when theirs
		 * change. */
		enum profile_button_led scene_was = BUTTON_OFF, stop_was = BUTTON_OFF;
		for (int s = 1; s <= CLIP_STATE_COUNT; s++) {
			enum clip_state st = (enum clip_state)(s % CLIP_STATE_COUNT);
			set_state(r, 2, 1, st);
			pad_of(m, 2, 1, &status, &note);
			n = put_want(expected, status, note, m->led[st]);
			if (scene_led_for(st) != scene_was) {
				scene_was = scene_led_for(st);
				n += put_want(expected + n, 0x90,
					      (uint8_t)(m->scene_base + 1),
					      m->scene[scene_was]);
			}
			if (stop_led_for(st) != stop_was) {
				stop_was = stop_led_for(st);
				stop_of(m, 2, &status, &note);
				n += put_want(
				    expected + n, status, note,
				    (struct want)W1((int)stop_was)); /* 0, 1, 2 */
			}
			assert_out(r, expected, n);
			set_state(r, 2, 1, st); /* again: no change, no bytes */
			assert_int_equal(drain(r), 0);
		}
		free(r);
	}
}

static void test_refresh_and_partial_output(void **state)
{
	(void)state;
	struct rig *r = rig_for(&profiles[0]); /* APC40 mk1 */
	size_t full = drain(r);
	/* intro, 40 pads, 5 scenes, 8 clip stops, record arm (MIDI OVERDUB),
	 * metronome: the clip stops and the metronome were dark before. */
	assert_int_equal(full, 12 + 3 * 40 + 3 * 5 + 3 * 8 + 3 + 3);
	uint8_t first[256];
	memcpy(first, r->out, full);
	set_state(r, 7, 4, CLIP_PLAYING);
	controller_refresh(&r->c);
	/* Everything again, with the new state in it. */
	assert_int_equal(drain(r), full);
	assert_memory_equal(r->out, first, 12);
	uint8_t pad[] = {0x97, 57, 1};
	assert_memory_equal(r->out + 12 + 3 * 39, pad, 3);

	/* A buffer too small for the introduction gets nothing; a small
	 * buffer gets whole messages and the rest comes next time. */
	controller_refresh(&r->c);
	uint8_t buf[16];
	assert_int_equal(controller_output(&r->c, buf, 11), 0);
	assert_int_equal(controller_output(&r->c, buf, 16), 15);
	assert_memory_equal(buf, first, 12);
	size_t total = 15, got;
	while ((got = controller_output(&r->c, buf, 7)) > 0) {
		assert_true(got == 6 || (got == 3 && total + got == full));
		total += got;
	}
	assert_int_equal(total, full);
	free(r);
}

/* A clear button reached only with shift, released after shift: the
 * release maps to nothing now, and still ends the clear. */
static void test_clear_released_after_shift(void **state)
{
	(void)state;
	static struct profile p;
	char err[256];
	const char *text = "[controller]\nname = c\nrows = 1\n[map]\n"
			   "pad note 0..7 ch 0 -> x = note, y = 0\n"
			   "shift note 20 ch 0\nshift+clear note 21 ch 0\n"
			   "[leds]\nempty = 0\nrecord_queued = 4\nrecording = 3\n"
			   "play_queued = 2\nplaying = 1\noverdubbing = 3\n"
			   "stop_queued = 6\nstopped = 5\n";
	assert_null(profile_parse(&p, "c", text, strlen(text), err, sizeof(err)));
	struct rig *r = rig_for(&p);
	MIDI(r, 0, 0x90, 20, 127, 0x90, 21, 127, 0x80, 20, 0);
	MIDI(r, 0, 0x90, 3, 127);
	assert_one(r, CMD_CLEAR, 3, 0, 0);
	MIDI(r, 0, 0x80, 21, 0); /* no rule without shift: still the end */
	assert_int_equal(r->c.stats.unmapped, 0);
	MIDI(r, 0, 0x90, 3, 127);
	assert_one(r, CMD_PRESS, 3, 0, 0);
	/* Clear without shift held does nothing: the plain note has no rule. */
	MIDI(r, 0, 0x90, 21, 127, 0x90, 4, 127);
	assert_one(r, CMD_PRESS, 4, 0, 0);
	free(r);
}

/* Every printed button of the APCs that sends a command: the button (on
 * its channel), with or without shift, and the command; -1: swallowed
 * (a shift legend gridloop has no use for: no command, no scene). */
static void test_printed_buttons(void **state)
{
	(void)state;
	static const struct {
		int model;
		bool shift;
		uint8_t status, note;
		int cmd, track;
	} b[] = {
	    /* APC40 mk1 (Akai's protocol, Ableton's APC40 script) */
	    {0, false, 0x93, 52, CMD_STOP_TRACK, 3}, /* CLIP STOP, track 4 */
	    {0, false, 0x90, 81, CMD_STOP_ALL, 0},   /* STOP ALL CLIPS */
	    {0, false, 0x90, 92, CMD_STOP_ALL, 0},   /* STOP */
	    {0, false, 0x90, 99, CMD_TAP_TEMPO, 0},  /* TAP TEMPO */
	    {0, false, 0x90, 65, CMD_METRONOME, 0},  /* METRONOME 0x41 */
	    {0, true, 0x90, 99, CMD_METRONOME, 0},   /* shift + TAP */
	    {0, false, 0x90, 100, CMD_REDO, 0},	     /* NUDGE + */
	    {0, false, 0x90, 101, CMD_UNDO, 0},	     /* NUDGE - */
	    {0, true, 0x90, 80, CMD_REQUEST, 0},     /* shift + MASTER: export */
	    {0, true, 0x90, 91, CMD_REQUEST, 0},     /* shift + PLAY: save */
	    /* APC40 mkII */
	    {1, false, 0x92, 52, CMD_STOP_TRACK, 2},
	    {1, false, 0x90, 81, CMD_STOP_ALL, 0},
	    {1, false, 0x90, 90, CMD_METRONOME, 0},
	    {1, false, 0x90, 99, CMD_TAP_TEMPO, 0},
	    {1, false, 0x90, 100, CMD_UNDO, 0},
	    {1, false, 0x90, 101, CMD_REDO, 0},
	    {1, true, 0x90, 80, CMD_REQUEST, 0},
	    {1, true, 0x90, 91, CMD_REQUEST, 0},
	    /* APC mini mk1: track buttons, their shift legends, scene legends */
	    {2, false, 0x90, 64, CMD_STOP_TRACK, 0},
	    {2, false, 0x90, 71, CMD_STOP_TRACK, 7},
	    {2, true, 0x90, 68, CMD_UNDO, 0},	   /* VOLUME: gridloop's own */
	    {2, true, 0x90, 69, CMD_REDO, 0},	   /* PAN */
	    {2, true, 0x90, 70, CMD_TAP_TEMPO, 0}, /* SEND */
	    {2, true, 0x90, 71, CMD_METRONOME, 0}, /* DEVICE */
	    {2, true, 0x90, 82, CMD_REQUEST, 0},   /* CLIP STOP: export */
	    {2, true, 0x90, 83, CMD_REQUEST, 0},   /* SOLO: save */
	    {2, true, 0x90, 85, CMD_MULTIPLY, 0},  /* MUTE */
	    {2, true, 0x90, 86, CMD_INSERT, 0},	   /* SELECT */
	    {2, true, 0x90, 87, CMD_REPLACE, 0},   /* (blank) */
	    {2, true, 0x90, 89, CMD_STOP_ALL, 0},  /* STOP ALL CLIPS */
	    /* APC mini mk2, Ableton's layout */
	    {3, false, 0x90, 100, CMD_STOP_TRACK, 0},
	    {3, false, 0x90, 107, CMD_STOP_TRACK, 7},
	    {3, true, 0x90, 100, CMD_UNDO, 0},
	    {3, true, 0x90, 101, CMD_REDO, 0},
	    {3, true, 0x90, 102, CMD_TAP_TEMPO, 0},
	    {3, true, 0x90, 103, CMD_METRONOME, 0},
	    {3, true, 0x90, 112, CMD_REQUEST, 0},
	    {3, true, 0x90, 113, CMD_REQUEST, 0},
	    {3, true, 0x90, 114, CMD_MULTIPLY, 0}, /* mute */
	    {3, true, 0x90, 116, CMD_INSERT, 0},
	    {3, true, 0x90, 117, CMD_REPLACE, 0},
	    /* The APC40s' loop-operation buttons (device control), on the
	     * selected clip (track 1 at start), and their shift chords. */
	    {0, false, 0x90, 58, CMD_MULTIPLY, 0},
	    {0, false, 0x90, 59, CMD_INSERT, 0},
	    {0, false, 0x90, 60, CMD_REPLACE, 0},
	    {0, false, 0x90, 61, CMD_SUBSTITUTE, 0},
	    {0, false, 0x90, 62, CMD_REVERSE, 0},
	    {0, false, 0x90, 63, CMD_ONESHOT, 0},
	    {0, true, 0x90, 58, CMD_UNDO_ALL, 0},
	    {0, true, 0x90, 59, CMD_REDO_ALL, 0},
	    {0, true, 0x90, 60, CMD_SPEED, 0},
	    {0, true, 0x90, 61, CMD_SPEED, 0},
	    {0, true, 0x90, 62, CMD_CLIP_MUTE, 0},
	    {0, true, 0x90, 63, CMD_TRIGGER, 0},
	    {1, false, 0x90, 58, CMD_MULTIPLY, 0},
	    {1, false, 0x90, 59, CMD_INSERT, 0},
	    {1, false, 0x90, 60, CMD_REPLACE, 0},
	    {1, false, 0x90, 61, CMD_SUBSTITUTE, 0},
	    {1, false, 0x90, 62, CMD_REVERSE, 0},
	    {1, false, 0x90, 63, CMD_ONESHOT, 0},
	    {1, false, 0x90, 64, CMD_TRIGGER, 0},
	    {1, false, 0x90, 65, CMD_CLIP_MUTE, 0},
	    {1, true, 0x90, 58, CMD_UNDO_ALL, 0},
	    {1, true, 0x90, 59, CMD_REDO_ALL, 0},
	    {1, true, 0x90, 60, CMD_SPEED, 0},
	    {1, true, 0x90, 61, CMD_SPEED, 0},
	    {3, true, 0x90, 119, CMD_STOP_ALL, 0},
	};
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		const struct model *m = &models[b[i].model];
		struct rig *r = rig_for(&profiles[b[i].model]);
		if (b[i].shift)
			MIDI(r, 0, 0x90, (uint8_t)m->shift_note, 127);
		MIDI(r, 0, b[i].status, b[i].note, 127);
		MIDI(r, 0, (uint8_t)(b[i].status - 0x10), b[i].note, 0);
		if (b[i].cmd < 0) {
			assert_none(r);
			assert_int_equal(r->c.stats.unmapped,
					 0); /* taken, not passed on */
		} else {
			assert_int_equal(r->n, 1);
			assert_int_equal(r->cmd[0].type, b[i].cmd);
			assert_int_equal(r->cmd[0].track, b[i].track);
		}
		free(r);
	}
}

/* The Launchpads in programmer mode, byte for byte as Novation's
 * programmer's reference guides give them: notes 11..88, the scene column
 * CC 89..19; palette velocity on channel 0 (solid), a flash as two
 * messages (the colour on channel 0, the other on channel 1), a pulse on
 * channel 2. Presses -> commands for the printed buttons. */
static void test_launchpads(void **state)
{
	(void)state;
	static const struct {
		const char *file;
		int arm_cc, metronome_cc, shift_cc; /* -1: none */
		bool stops;			    /* the Pro's track row: CC 101..108 */
	} lp[] = {
	    {"launchpadminimk3.profile", 95, 96, 98, false},
	    {"launchpadx.profile", 95, 96, 98, false},
	    {"launchpadpromk3.profile", 10, -1, 90, true},
	};
	for (size_t i = 0; i < sizeof(lp) / sizeof(lp[0]); i++) {
		static struct profile p;
		char err[512], path[128];
		snprintf(path, sizeof(path), "board/profiles/%s", lp[i].file);
		if (profile_load(&p, path, err, sizeof(err)))
			fail_msg("%s", err);
		struct rig *r = rig_for(&p);
		uint8_t expected[1024];
		size_t n = 0;
		memcpy(expected, p.intro, (size_t)p.intro_len);
		n += (size_t)p.intro_len;
		assert_int_equal(p.intro_len, 9);
		assert_int_equal(p.intro[7], 0x01); /* programmer mode */
		for (int y = 0; y < 8; y++)
			for (int x = 0; x < 8; x++)
				n += put_want(expected + n, 0x90,
					      (uint8_t)((8 - y) * 10 + 1 + x),
					      (struct want)W1(0));
		for (int y = 0; y < 8; y++)
			n += put_want(expected + n, 0xB0, (uint8_t)((8 - y) * 10 + 9),
				      (struct want)W1(0));
		for (int t = 0; lp[i].stops && t < 8; t++)
			n += put_want(expected + n, 0xB0, (uint8_t)(101 + t),
				      (struct want)W1(0));
		n += put_want(expected + n, 0xB0, (uint8_t)lp[i].arm_cc,
			      (struct want)W1(0));
		if (lp[i].metronome_cc >= 0)
			n += put_want(expected + n, 0xB0, (uint8_t)lp[i].metronome_cc,
				      (struct want)W1(0));
		assert_out(r, expected, n);

		/* Playing on (2, 1) = note 73: pulsing green; scene 2 (CC
		 * 79) green; the Pro's clip stop of track 3 (CC 103) red. */
		set_state(r, 2, 1, CLIP_PLAYING);
		if (lp[i].stops)
			OUT(r, 0x92, 73, 21, 0xB0, 79, 21, 0xB0, 103, 5);
		else
			OUT(r, 0x92, 73, 21, 0xB0, 79, 21);
		/* Queued on (0, 0) = note 81: green flashing against black,
		 * scene 1 (CC 89) too. */
		set_state(r, 0, 0, CLIP_PLAY_QUEUED);
		OUT(r, 0x90, 81, 21, 0x91, 81, 0, 0xB0, 89, 21, 0xB1, 89, 0);
		set_state(r, 0, 0, CLIP_RECORDING);
		if (lp[i].stops) /* and track 1's clip stop lights */
			OUT(r, 0x92, 81, 5, 0xB0, 89, 21, 0xB0, 101, 5);
		else
			OUT(r, 0x92, 81, 5, 0xB0, 89, 21);

		/* Presses: the pad, the scene column (CC 127 down, 0 up). */
		MIDI(r, 0, 0x90, 81, 127, 0x90, 81, 0);
		assert_one(r, CMD_PRESS, 0, 0, 0);
		MIDI(r, 0, 0x90, 18, 127, 0x80, 18, 0);
		assert_one(r, CMD_PRESS, 7, 7, 0);
		MIDI(r, 0, 0xB0, 19, 127, 0xB0, 19, 0);
		assert_one(r, CMD_LAUNCH_SCENE, 0, 7, 0);
		MIDI(r, 0, 0xB0, (uint8_t)lp[i].arm_cc, 127, 0xB0, (uint8_t)lp[i].arm_cc,
		     0);
		assert_true(r->c.armed);
		OUT(r, 0xB0, (uint8_t)lp[i].arm_cc, 5);
		/* Shift + pad selects; shift + scene 1 exports. */
		MIDI(r, 0, 0xB0, (uint8_t)lp[i].shift_cc, 127, 0x90, 55, 127);
		assert_none(r);
		assert_int_equal(r->c.selected_track, 4);
		assert_int_equal(r->c.selected_scene, 3);
		MIDI(r, 0, 0xB0, 89, 127);
		assert_int_equal(r->n, 1);
		assert_int_equal(r->cmd[0].type, CMD_REQUEST);
		r->n = 0;
		MIDI(r, 0, 0xB0, 89, 0);
		/* The deliberate clear: Clear (Pro), shift + scene 7 (CC 29). */
		uint8_t clear_cc = lp[i].stops ? 60 : 29;
		if (lp[i].stops)
			MIDI(r, 0, 0xB0, (uint8_t)lp[i].shift_cc, 0);
		MIDI(r, 0, 0xB0, clear_cc, 127, 0xB0, (uint8_t)lp[i].shift_cc, 0, 0x90,
		     55, 127);
		assert_one(r, CMD_CLEAR, 4, 3, 0);
		MIDI(r, 0, 0xB0, clear_cc, 0, 0x90, 55, 127);
		assert_one(r, CMD_PRESS, 4, 3, 0);
		/* Leaving: dark, then Live mode. */
		controller_farewell(&r->c);
		drain(r);
		assert_true(r->nout >= 9);
		assert_memory_equal(r->out + r->nout - 9, p.outro, 9);
		assert_int_equal(p.outro[7], 0x00);
		free(r);
	}
}

/* ---- the window onto the grid --------------------------------------------- */

static void test_banking(void **state)
{
	(void)state;
	const struct model *m = &models[0];
	struct rig *r = rig_for(&profiles[0]);
	drain(r);
	set_state(r, 0, 5, CLIP_PLAYING); /* below the window: no pad shows it */
	OUT(r, 0x90, 52, 1);		  /* but track 1's clip stop lights */

	MIDI(r, 0, 0x90, 95, 127, 0x80, 95, 0); /* bank down */
	assert_none(r);
	assert_int_equal(r->c.bank, 1);
	/* Only what changed: pad (0, 4) now shows scene 5, and its row's
	 * scene button lights. */
	OUT(r, 0x90, 57, 1, 0x90, 86, 1);
	press_pad(r, m, 0, 4, 0);
	assert_one(r, CMD_PRESS, 0, 5, 0);
	MIDI(r, 0, 0x90, 82, 127);
	assert_one(r, CMD_LAUNCH_SCENE, 0, 1, 0);

	for (int i = 0; i < 10; i++)
		MIDI(r, 0, 0x90, 95, 127);
	assert_int_equal(r->c.bank, 5); /* clamped: scenes 5..9 shown */
	press_pad(r, m, 3, 4, 0);
	assert_one(r, CMD_PRESS, 3, 9, 0);
	MIDI(r, 0, 0x90, 86, 127);
	assert_one(r, CMD_LAUNCH_SCENE, 0, 9, 0);
	OUT(r, 0x90, 53, 1, 0x90, 57, 0, 0x90, 82, 1, 0x90, 86, 0);

	/* Shift + bank: a window at a time, clamped. */
	MIDI(r, 0, 0x90, 98, 127, 0x90, 94, 127);
	assert_int_equal(r->c.bank, 0);
	MIDI(r, 0, 0x90, 95, 127);
	assert_int_equal(r->c.bank, 5);
	MIDI(r, 0, 0x90, 94, 127, 0x90, 94, 127, 0x80, 98, 0);
	assert_int_equal(r->c.bank, 0);
	MIDI(r, 0, 0x90, 94, 127);
	assert_int_equal(r->c.bank, 0);
	assert_none(r);
	free(r);

	/* The APC mini: 8 rows, banked with shift + track buttons 1 and 2. */
	r = rig_for(&profiles[2]);
	MIDI(r, 0, 0x90, 65, 127); /* no shift: clip stop on track 2 */
	assert_one(r, CMD_STOP_TRACK, 1, 0, 0);
	MIDI(r, 0, 0x90, 98, 127, 0x90, 65, 127, 0x80, 98, 0);
	assert_int_equal(r->c.bank, 1);
	MIDI(r, 0, 0x90, 98, 127, 0x90, 65, 127, 0x90, 65, 127, 0x80, 98, 0);
	assert_int_equal(r->c.bank, 2); /* 8 of 10 rows: at most 2 down */
	press_pad(r, &models[2], 0, 7, 0);
	assert_one(r, CMD_PRESS, 0, 9, 0);
	MIDI(r, 0, 0x90, 98, 127, 0x90, 64, 127, 0x80, 98, 0);
	assert_int_equal(r->c.bank, 1);
	free(r);
}

static void test_outside_pads_are_off(void **state)
{
	(void)state;
	/* A 12-row controller shows scenes 0..9 and two rows beyond the grid. */
	static struct profile big;
	char err[256];
	const char *text = "[controller]\nname = big\nrows = 12\n[map]\n"
			   "pad note 0..11 ch 0..7 -> x = ch, y = note\n"
			   "[leds]\nempty = 0\nrecord_queued = 4\nrecording = 3\n"
			   "play_queued = 2\nplaying = 1\noverdubbing = 3\n"
			   "stop_queued = 6\nstopped = 5\noutside = 7\n";
	assert_null(profile_parse(&big, "big", text, strlen(text), err, sizeof(err)));
	struct rig *r = rig_for(&big);
	assert_int_equal(drain(r), 3 * 8 * 12);
	assert_int_equal(r->out[3 * 8 * 10 + 2], 7);
	assert_int_equal(r->out[3 * 8 * 12 - 1], 7);
	MIDI(r, 0, 0x90, 10, 127);
	assert_none(r);
	assert_int_equal(r->c.stats.outside, 1);
	free(r);
}

/* ---- shift, record arm, undo ------------------------------------------------ */

static void test_shift_chords(void **state)
{
	(void)state;
	const struct model *m = &models[0];
	struct rig *r = rig_for(&profiles[0]);
	MIDI(r, 0, 0x90, 98, 127); /* shift down */
	/* Shift + pad selects, as in Ableton: it cleared the clip before, a
	 * take lost to one chord. */
	press_pad(r, m, 4, 2, 1000 * MS);
	assert_none(r);
	assert_int_equal(r->c.selected_track, 4);
	assert_int_equal(r->c.selected_scene, 2);
	/* The deliberate clear: shift + STOP ALL CLIPS held, then the pad,
	 * as often as the button is held, whatever shift does meanwhile. */
	MIDI(r, 0, 0x90, 81, 127);
	assert_none(r);
	press_pad(r, m, 4, 2, 1000 * MS);
	assert_one(r, CMD_CLEAR, 4, 2, 48000);
	MIDI(r, 0, 0x90, 98, 0); /* shift up first */
	press_pad(r, m, 5, 1, 0);
	assert_one(r, CMD_CLEAR, 5, 1, 0);
	MIDI(r, 0, 0x80, 81, 0); /* the clear button up: over */
	assert_none(r);
	press_pad(r, m, 5, 1, 0);
	assert_one(r, CMD_PRESS, 5, 1, 0);
	MIDI(r, 0, 0x90, 81, 127); /* without shift: stop all, no clear */
	assert_one(r, CMD_STOP_ALL, 0, 0, 0);
	press_pad(r, m, 5, 1, 0);
	assert_one(r, CMD_PRESS, 5, 1, 0);
	MIDI(r, 0, 0x80, 81, 0, 0x90, 98, 127);
	MIDI(r, 0, 0x90, 99, 127); /* shift + tap = metronome */
	assert_int_equal(r->n, 1);
	assert_int_equal(r->cmd[0].type, CMD_METRONOME);
	assert_true(r->cmd[0].value == 1.0f);
	r->n = 0;
	MIDI(r, 0, 0x90, 98, 0); /* shift up (note on, velocity 0) */
	press_pad(r, m, 4, 2, 0);
	assert_one(r, CMD_PRESS, 4, 2, 0);
	MIDI(r, 0, 0x90, 99, 127);
	assert_one(r, CMD_TAP_TEMPO, 0, 0, 0);
	free(r);

	/* APC mini: the shift layer first, the plain control without shift. */
	r = rig_for(&profiles[2]);
	MIDI(r, 0, 0x90, 98, 127, 0x90, 89, 127);
	assert_one(r, CMD_STOP_ALL, 0, 0, 0);
	MIDI(r, 0, 0x90, 70, 127);
	assert_one(r, CMD_TAP_TEMPO, 0, 0, 0);
	MIDI(r, 0, 0x80, 98, 0, 0x90, 89, 127);
	assert_one(r, CMD_LAUNCH_SCENE, 0, 7, 0);
	MIDI(r, 0, 0x90, 70, 127);
	assert_one(r, CMD_STOP_TRACK, 6, 0, 0);
	/* Shift + MUTE, SELECT, blank: multiply, insert, replace (not a
	 * launch); shift + scene 7 held + pad clears. */
	static const uint8_t op_of[3] = {CMD_MULTIPLY, CMD_INSERT, CMD_REPLACE};
	for (uint8_t note = 85; note <= 87; note++) {
		MIDI(r, 0, 0x90, 98, 127, 0x90, note, 127, 0x80, note, 0, 0x80, 98, 0);
		assert_int_equal(r->n, 1);
		assert_int_equal(r->cmd[0].type, op_of[note - 85]);
		r->n = 0;
	}
	MIDI(r, 0, 0x90, 98, 127, 0x90, 88, 127, 0x80, 98, 0);
	press_pad(r, &models[2], 2, 3, 0);
	assert_one(r, CMD_CLEAR, 2, 3, 0);
	MIDI(r, 0, 0x80, 88, 0);
	press_pad(r, &models[2], 2, 3, 0);
	assert_one(r, CMD_PRESS, 2, 3, 0);
	free(r);

	/* The mini mk2, as Ableton lays it out: shift + track 5..8 = up,
	 * down, left, right; shift + scene 4 = record arm (scene 3, mute, is
	 * swallowed). */
	r = rig_for(&profiles[3]);
	MIDI(r, 0, 0x90, 122, 127, 0x90, 105, 127);
	assert_int_equal(r->c.bank, 1);
	MIDI(r, 0, 0x90, 104, 127);
	assert_int_equal(r->c.bank, 0);
	MIDI(r, 0, 0x90, 107, 127);
	assert_int_equal(r->c.selected_track, 1);
	MIDI(r, 0, 0x90, 106, 127);
	assert_int_equal(r->c.selected_track, 0);
	MIDI(r, 0, 0x90, 114, 127);
	assert_one(r, CMD_MULTIPLY, 0, 0, 0);
	assert_false(r->c.armed);
	MIDI(r, 0, 0x90, 115, 127);
	assert_true(r->c.armed);
	MIDI(r, 0, 0x90, 100, 127);
	assert_one(r, CMD_UNDO, 0, 0, 0);
	MIDI(r, 0, 0x90, 119, 127);
	assert_one(r, CMD_STOP_ALL, 0, 0, 0);
	MIDI(r, 0, 0x90, 118, 127, 0x80, 122, 0);
	press_pad(r, &models[3], 7, 0, 0);
	assert_one(r, CMD_CLEAR, 7, 0, 0);
	free(r);
}

static void test_record_arm_turns_next_press_into_overdub(void **state)
{
	(void)state;
	const struct model *m = &models[0];
	struct rig *r = rig_for(&profiles[0]);
	drain(r);
	set_state(r, 1, 2, CLIP_PLAYING);
	drain(r);
	MIDI(r, 0, 0x90, 93, 127, 0x80, 93, 0); /* rec */
	assert_true(r->c.armed);
	/* Shown on MIDI OVERDUB (0x40): REC has no LED in Akai's table (the
	 * old 0x90 93 went nowhere). */
	OUT(r, 0x90, 64, 1);
	press_pad(r, m, 0, 0, 0); /* an empty clip: records as always */
	assert_one(r, CMD_PRESS, 0, 0, 0);
	assert_true(r->c.armed);
	press_pad(r, m, 1, 2, 500 * MS);
	assert_one(r, CMD_OVERDUB, 1, 2, 24000);
	assert_false(r->c.armed);
	OUT(r, 0x90, 64, 0);
	set_state(r, 1, 2, CLIP_OVERDUBBING);
	press_pad(r, m, 1, 2, 0); /* ends the overdub: the engine's press */
	assert_one(r, CMD_PRESS, 1, 2, 0);
	set_state(r, 1, 2, CLIP_PLAYING);
	press_pad(r, m, 1, 2, 0); /* not armed: stop */
	assert_one(r, CMD_PRESS, 1, 2, 0);
	/* Arming twice disarms. */
	MIDI(r, 0, 0x90, 93, 127, 0x90, 93, 127);
	press_pad(r, m, 1, 2, 0);
	assert_one(r, CMD_PRESS, 1, 2, 0);
	free(r);

	/* The other ways to arm: a playing clip's next press overdubs. */
	static const struct {
		int model, x, y;
		uint8_t arm[9]; /* the MIDI bytes that arm */
		size_t arm_len;
	} arms[] = {
	    /* The APC mini: shift + scene 3. */
	    {2, 5, 7, {0x90, 98, 127, 0x90, 84, 127, 0x80, 98, 0}, 9},
	    /* The APC40 mkII: session rec. */
	    {1, 0, 4, {0x90, 102, 127}, 3},
	};
	for (size_t i = 0; i < sizeof(arms) / sizeof(arms[0]); i++) {
		r = rig_for(&profiles[arms[i].model]);
		set_state(r, arms[i].x, arms[i].y, CLIP_PLAYING);
		send_bytes(r, 0, arms[i].arm, arms[i].arm_len);
		press_pad(r, &models[arms[i].model], arms[i].x, arms[i].y, 0);
		assert_one(r, CMD_OVERDUB, arms[i].x, arms[i].y, 0);
		free(r);
	}
}

static void test_undo_redo_targets(void **state)
{
	(void)state;
	const struct model *m = &models[0];
	struct rig *r = rig_for(&profiles[0]);
	press_pad(r, m, 3, 1, 0);
	r->n = 0;
	MIDI(r, 0, 0x90, 101, 127); /* nudge -: undo the selected clip */
	assert_one(r, CMD_UNDO, 3, 1, 0);
	set_state(r, 5, 2, CLIP_OVERDUBBING);
	set_state(r, 5, 2, CLIP_PLAYING);
	MIDI(r, 0, 0x90, 101, 127); /* the last overdubbed clip */
	assert_one(r, CMD_UNDO, 5, 2, 0);
	MIDI(r, 0, 0x90, 100, 127);
	assert_one(r, CMD_REDO, 5, 2, 0);
	set_state(r, 5, 2, CLIP_EMPTY); /* cleared: back to the selection */
	MIDI(r, 0, 0x90, 101, 127);
	assert_one(r, CMD_UNDO, 3, 1, 0);
	free(r);
}

static void test_metronome_and_selection(void **state)
{
	(void)state;
	struct rig *r = rig_for(&profiles[1]); /* APC40 mkII */
	drain(r);
	MIDI(r, 0, 0x90, 90, 127);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->cmd[0].type, CMD_METRONOME);
	assert_true(r->cmd[0].value == 1.0f);
	OUT(r, 0x90, 90, 1);
	r->n = 0;
	MIDI(r, 0, 0x90, 90, 127);
	assert_true(r->cmd[0].value == 0.0f);
	OUT(r, 0x90, 90, 0);
	r->n = 0;
	/* Track select, left/right. */
	MIDI(r, 0, 0x95, 51, 127);
	assert_int_equal(r->c.selected_track, 5);
	MIDI(r, 0, 0x90, 96, 127, 0x90, 96, 127, 0x90, 96, 127);
	assert_int_equal(r->c.selected_track, 0); /* wraps */
	MIDI(r, 0, 0x90, 97, 127);
	assert_int_equal(r->c.selected_track, 7);
	MIDI(r, 0, 0x92, 52, 127);
	assert_one(r, CMD_STOP_TRACK, 2, 0, 0);
	MIDI(r, 0, 0x90, 81, 127);
	assert_one(r, CMD_STOP_ALL, 0, 0, 0);
	free(r);

	/* The mk1's second foot jack steps the selected scene and the window
	 * follows it. */
	r = rig_for(&profiles[0]);
	for (int i = 0; i < 6; i++)
		MIDI(r, 0, 0xB0, 67, 127, 0xB0, 67, 0);
	assert_int_equal(r->c.selected_scene, 6);
	assert_int_equal(r->c.bank, 2);
	MIDI(r, 0, 0xB0, 64, 127); /* its foot switch acts on the selection */
	assert_one(r, CMD_PRESS, 0, 6, 0);
	free(r);
}

/* ---- export, save and the SD card's status LED ------------------------------ */

/* Per pad profile (same order as models[]): the export and save chords
 * (shift + a button), what the unshifted button does, and the status LED. */
static const struct {
	int export_note, save_note;
	int plain_export, plain_save; /* the scene they launch without shift, or -1 */
	int status_note;
} storage_models[NMODELS] = {
    {80, 91, -1, -1, 80},  /* APC40 mk1: MASTER, PLAY; the MASTER LED */
    {80, 91, -1, -1, 80},  /* APC40 mkII: the same */
    {82, 83, 0, 1, 71},	   /* APC mini: scene 1, 2; track button 8 */
    {112, 113, 0, 1, 107}, /* APC mini mk2: scene 1, 2; track button 8 */
};

/* One-colour buttons: 0 off, 1 on, 2 blink. */
static const uint8_t storage_values[PROFILE_STORAGE_STATES] = {
    [STORAGE_IDLE] = 0,	     [STORAGE_RESTORING] = 1, [STORAGE_SAVING] = 1,
    [STORAGE_EXPORTING] = 2, [STORAGE_EXPORTED] = 1,  [STORAGE_EXPORT_FAILED] = 2,
    [STORAGE_FAULT] = 2,
};

/* The APC40s' MASTER LED is only off / on (Akai's table): what blinks
 * elsewhere is on there, blinked by gridloop (the phase at time 0: on). */
static uint8_t storage_value(int mi, int st)
{
	bool apc40 = storage_models[mi].status_note == 80;
	return apc40 && storage_values[st] == 2 ? 1 : storage_values[st];
}

static void set_storage(struct rig *r, int64_t status)
{
	struct event ev = {.type = EV_STORAGE, .value = status};
	controller_engine_event(&r->c, &ev);
}

static void assert_request(struct rig *r, int request, int64_t frame)
{
	assert_int_equal(r->n, 1);
	assert_cmd(r, 0, CMD_REQUEST, 0, 0, frame);
	assert_true(r->cmd[0].value == (float)request);
	r->n = 0;
}

/* Shift + the export button asks for one export, shift + the save button
 * for one save, at the press's frame; without shift those buttons do what
 * they did. */
static void test_export_and_save_chords(void **state)
{
	(void)state;
	for (int mi = 0; mi < NMODELS; mi++) {
		const struct model *m = &models[mi];
		uint8_t ex = (uint8_t)storage_models[mi].export_note;
		uint8_t sv = (uint8_t)storage_models[mi].save_note;
		struct rig *r = rig_for(&profiles[mi]);
		MIDI(r, 0, 0x90, (uint8_t)m->shift_note, 127);
		MIDI(r, 100 * MS, 0x90, ex, 127, 0x80, ex, 0);
		assert_request(r, REQUEST_EXPORT, 100 * 48);
		MIDI(r, 200 * MS, 0x90, sv, 127, 0x80, sv, 0);
		assert_request(r, REQUEST_SAVE, 200 * 48);
		MIDI(r, 300 * MS, 0x80, (uint8_t)m->shift_note, 0);
		assert_none(r);

		uint32_t unmapped = r->c.stats.unmapped;
		MIDI(r, 0, 0x90, ex, 127, 0x80, ex, 0);
		if (storage_models[mi].plain_export >= 0)
			assert_one(r, CMD_LAUNCH_SCENE, 0,
				   storage_models[mi].plain_export, 0);
		MIDI(r, 0, 0x90, sv, 127, 0x80, sv, 0);
		if (storage_models[mi].plain_save >= 0)
			assert_one(r, CMD_LAUNCH_SCENE, 0, storage_models[mi].plain_save,
				   0);
		assert_none(r);
		/* The APC40s' MASTER and PLAY mean nothing without shift. */
		if (storage_models[mi].plain_export < 0)
			assert_int_equal(r->c.stats.unmapped, unmapped + 4);
		free(r);
	}
	/* The foot switch has no chord: nothing of it sends a request. */
	struct rig *r = rig_for(&profiles[NMODELS]);
	for (int cc = 0; cc < 128; cc++)
		MIDI(r, 0, 0xB0, (uint8_t)cc, 127, 0xB0, (uint8_t)cc, 0);
	for (int i = 0; i < r->n; i++)
		assert_int_not_equal(r->cmd[i].type, CMD_REQUEST);
	free(r);
}

/* Each storage status gives its LED message on the status LED, and only a
 * change of value sends anything. */
static void test_storage_status_led(void **state)
{
	(void)state;
	for (int mi = 0; mi < NMODELS; mi++) {
		struct rig *r = rig_for(&profiles[mi]);
		uint8_t note = (uint8_t)storage_models[mi].status_note;
		drain(r);
		uint8_t shown = 0;
		for (int i = 1; i <= PROFILE_STORAGE_STATES; i++) {
			int st = i % PROFILE_STORAGE_STATES; /* ends with idle */
			set_storage(r, st);
			if (storage_value(mi, st) == shown) {
				assert_int_equal(drain(r), 0);
				continue;
			}
			shown = storage_value(mi, st);
			OUT(r, 0x90, note, shown);
			set_storage(r, st); /* again: no bytes */
			assert_int_equal(drain(r), 0);
		}
		/* Values beyond the enum, and other events, change nothing. */
		set_storage(r, STORAGE_FAULT);
		OUT(r, 0x90, note, storage_value(mi, STORAGE_FAULT));
		set_storage(r, PROFILE_STORAGE_STATES);
		set_storage(r, -1);
		assert_int_equal(r->c.storage, STORAGE_FAULT);
		struct event bar = {.type = EV_BAR, .value = STORAGE_IDLE};
		controller_engine_event(&r->c, &bar);
		assert_int_equal(drain(r), 0);
		/* Clips and status go their own ways. */
		set_state(r, 0, 0, CLIP_RECORDING);
		assert_true(drain(r) > 0);
		assert_int_equal(r->c.storage, STORAGE_FAULT);
		free(r);
	}
	/* No status LED on the foot switch: nothing goes out. */
	struct rig *r = rig_for(&profiles[NMODELS]);
	drain(r);
	set_storage(r, STORAGE_FAULT);
	assert_int_equal(drain(r), 0);
	free(r);
}

/* After a (re)connection the status LED comes back with everything else
 * when it is lit, and sends nothing when it is dark (the device came up
 * dark), so a connection with the card idle sends what it always did. */
static void test_status_led_after_reconnect(void **state)
{
	(void)state;
	struct rig *r = rig_for(&profiles[0]); /* APC40 mk1 */
	size_t idle = drain(r);
	assert_int_equal(idle, 12 + 3 * 40 + 3 * 5 + 3 * 8 + 3 + 3); /* no status byte */
	set_storage(r, STORAGE_EXPORTING);
	OUT(r, 0x90, 80, 1); /* the on half of gridloop's blink */
	controller_refresh(&r->c);
	assert_int_equal(drain(r), idle + 3);
	static const uint8_t blink[] = {0x90, 80, 1};
	assert_memory_equal(r->out + idle, blink, 3); /* last, after the buttons */
	set_storage(r, STORAGE_IDLE);
	OUT(r, 0x90, 80, 0);
	controller_refresh(&r->c);
	assert_int_equal(drain(r), idle);
	for (size_t i = 0; i + 3 <= idle; i += 3)
		assert_false(r->out[i] == 0x90 && r->out[i + 1] == 80);

	/* The minis: lit after a refresh; the small buffer still gets it. */
	for (int mi = 2; mi < NMODELS; mi++) {
		uint8_t note = (uint8_t)storage_models[mi].status_note;
		struct rig *m = rig_for(&profiles[mi]);
		size_t full = drain(m);
		set_storage(m, STORAGE_FAULT);
		drain(m);
		controller_refresh(&m->c);
		uint8_t buf[8];
		size_t total = 0, got, last = 0;
		while ((got = controller_output(&m->c, buf, 3)) > 0) {
			assert_int_equal(got, 3);
			total += got;
			last = buf[1] == note ? total : last;
		}
		assert_int_equal(total, full + 3);
		assert_int_equal(last, total);
		assert_int_equal(buf[2], 2);
		free(m);
	}
	free(r);
}

/* The APC40s' MASTER LED cannot blink (Akai: 0 off, 1..127 on): gridloop
 * blinks it by controller_poll's time, half a second on, half off, and
 * only while a blinking status lasts. */
static void test_status_led_blinks_by_gridloop(void **state)
{
	(void)state;
	for (int mi = 0; mi < 2; mi++) {
		struct rig *r = rig_for(&profiles[mi]);
		drain(r);
		set_storage(r, STORAGE_EXPORTING);
		OUT(r, 0x90, 80, 1);
		controller_poll(&r->c, 499 * MS, &r->sink);
		assert_int_equal(drain(r), 0);
		controller_poll(&r->c, 500 * MS, &r->sink);
		OUT(r, 0x90, 80, 0);
		controller_poll(&r->c, 999 * MS, &r->sink);
		assert_int_equal(drain(r), 0);
		controller_poll(&r->c, 1000 * MS, &r->sink);
		OUT(r, 0x90, 80, 1);
		controller_poll(&r->c, 1600 * MS, &r->sink);
		OUT(r, 0x90, 80, 0);
		set_storage(r, STORAGE_EXPORTED); /* steady on, whatever the time */
		OUT(r, 0x90, 80, 1);
		controller_poll(&r->c, 2600 * MS, &r->sink);
		assert_int_equal(drain(r), 0);
		set_storage(r, STORAGE_FAULT);
		OUT(r, 0x90, 80, 0); /* 2.6 s: the dark half */
		/* A clock that runs backwards (a bad timestamp) still gives a
		   phase, no crash. */
		controller_poll(&r->c, -750 * MS, &r->sink);
		OUT(r, 0x90, 80, 1);
		assert_none(r);
		free(r);
	}
}

/* ---- leaving: every LED dark, then the outro ---------------------------------- */

static void test_farewell_leaves_leds_dark_and_generic_mode(void **state)
{
	(void)state;
	for (int mi = 0; mi < NMODELS; mi++) {
		const struct model *m = &models[mi];
		const struct profile *p = &profiles[mi];
		struct rig *r = rig_for(p);
		drain(r);
		set_state(r, 1, 1, CLIP_PLAYING);
		set_state(r, 3, 0, CLIP_PLAY_QUEUED);
		set_storage(r, STORAGE_FAULT);
		r->c.armed = true;
		drain(r);
		controller_farewell(&r->c);
		uint8_t expected[1024], status, note;
		size_t n = 0;
		for (int y = 0; y < m->rows; y++)
			for (int x = 0; x < 8; x++) {
				pad_of(m, x, y, &status, &note);
				/* Velocity 0 on the pad's own channel: dark, and
				   the end of an animation. */
				struct want dark = W1(0);
				bool lit = (x == 1 && y == 1) || (x == 3 && y == 0);
				if (!lit && m->led[CLIP_EMPTY].ch < 0)
					continue; /* dark already */
				n += put_want(expected + n, status, note, dark);
			}
		n += put_want(expected + n, 0x90, (uint8_t)m->scene_base,
			      (struct want)W1(0));
		n += put_want(expected + n, 0x90, (uint8_t)(m->scene_base + 1),
			      (struct want)W1(0));
		stop_of(m, 1, &status, &note);
		n += put_want(expected + n, status, note, (struct want)W1(0));
		if (m->arm_note >= 0)
			n += put_want(expected + n, 0x90, (uint8_t)m->arm_note,
				      (struct want)W1(0));
		n += put_want(expected + n, 0x90, (uint8_t)storage_models[mi].status_note,
			      (struct want)W1(0));
		memcpy(expected + n, p->outro, (size_t)p->outro_len);
		n += (size_t)p->outro_len;
		assert_out(r, expected, n);
		/* Nothing after: not a change, not a refresh (a reconnection
		   while leaving), not the blink. */
		set_state(r, 0, 0, CLIP_RECORDING);
		controller_poll(&r->c, 500 * MS, &r->sink);
		assert_int_equal(drain(r), 0);
		controller_refresh(&r->c);
		size_t again = drain(r);
		assert_true(again >= (size_t)p->outro_len);
		assert_memory_equal(r->out + again - (size_t)p->outro_len, p->outro,
				    (size_t)p->outro_len);
		for (size_t i = 0; i + 3 <= again - (size_t)p->outro_len; i += 3)
			assert_int_equal(r->out[i + 2], 0);
		free(r);
	}
}

/* ---- the foot switch ---------------------------------------------------------- */

static struct rig *foot_rig(void)
{
	return rig_for(&profiles[NMODELS]);
}

static void down(struct rig *r, int64_t ms)
{
	MIDI(r, ms * MS, 0xB0, 64, 127);
}

static void up(struct rig *r, int64_t ms)
{
	MIDI(r, ms * MS, 0xB0, 64, 0);
}

/* The second switch of a two-button pedal (foot2, CC 68): a tap toggles a
 * multiply on the selected clip, at the press's frame; a hold undoes, at
 * hold_ms (by controller_poll, or on a late release); a program change
 * multiplies at once. */
static void test_foot2_multiply_and_undo(void **state)
{
	(void)state;
	struct rig *r = foot_rig();
	MIDI(r, 1000 * MS, 0xB0, 68, 127);
	assert_none(r);
	MIDI(r, 1200 * MS, 0xB0, 68, 0);
	assert_one(r, CMD_MULTIPLY, 0, 0, 1000 * 48);
	MIDI(r, 2000 * MS, 0xB0, 68, 127);
	controller_poll(&r->c, 2999 * MS, &r->sink);
	assert_none(r);
	controller_poll(&r->c, 3000 * MS, &r->sink);
	assert_one(r, CMD_UNDO, 0, 0, 3000 * 48);
	MIDI(r, 3500 * MS, 0xB0, 68, 0);
	assert_none(r);
	/* A release after hold_ms that no poll saw: the undo, at hold_ms. */
	MIDI(r, 5000 * MS, 0xB0, 68, 127, 0xB0, 66, 127); /* and next track */
	MIDI(r, 6500 * MS, 0xB0, 68, 0);
	assert_one(r, CMD_UNDO, 0, 0, 6000 * 48);
	MIDI(r, 7000 * MS, 0xC0, 4);
	assert_one(r, CMD_MULTIPLY, 1, 0, 7000 * 48);
	free(r);
}

/* The speed and clip mute buttons toggle from what they last set for the
 * clip, forgotten when it empties. */
static void test_speed_and_mute_toggles(void **state)
{
	(void)state;
	struct rig *r = rig_for(&profiles[0]);
	MIDI(r, 0, 0x90, 98, 127, 0x90, 60, 127, 0x80, 60, 0);
	assert_int_equal(r->n, 1);
	assert_true(r->cmd[0].type == CMD_SPEED && r->cmd[0].value == 0.5f);
	r->n = 0;
	MIDI(r, 0, 0x90, 60, 127, 0x80, 60, 0);
	assert_true(r->n == 1 && r->cmd[0].value == 1.0f);
	r->n = 0;
	MIDI(r, 0, 0x90, 61, 127, 0x80, 61, 0);
	assert_true(r->n == 1 && r->cmd[0].value == 2.0f);
	r->n = 0;
	MIDI(r, 0, 0x90, 62, 127, 0x80, 62, 0);
	assert_true(r->n == 1 && r->cmd[0].type == CMD_CLIP_MUTE && r->cmd[0].value == 1);
	r->n = 0;
	set_state(r, 0, 0, CLIP_EMPTY);
	MIDI(r, 0, 0x90, 61, 127, 0x80, 61, 0, 0x90, 62, 127, 0x80, 62, 0);
	assert_true(r->n == 2 && r->cmd[0].value == 2.0f && r->cmd[1].value == 1);
	free(r);
}

static void test_foot_tap_cycle(void **state)
{
	(void)state;
	struct rig *r = foot_rig();
	/* empty: record at once, on the press's frame */
	down(r, 1000);
	assert_one(r, CMD_PRESS, 0, 0, 48000);
	up(r, 1100);
	assert_none(r);
	set_state(r, 0, 0, CLIP_RECORDING);
	/* recording: play */
	down(r, 3000);
	assert_one(r, CMD_PRESS, 0, 0, 144000);
	up(r, 3090);
	set_state(r, 0, 0, CLIP_PLAYING);
	/* playing: overdub, on the release (a hold would be undo) */
	down(r, 5000);
	assert_none(r);
	up(r, 5120);
	assert_one(r, CMD_OVERDUB, 0, 0, 5120 * 48);
	set_state(r, 0, 0, CLIP_OVERDUBBING);
	/* overdubbing: play (ends the pass) */
	down(r, 7000);
	assert_one(r, CMD_PRESS, 0, 0, 7000 * 48);
	up(r, 7100);
	set_state(r, 0, 0, CLIP_PLAYING);
	/* and again overdub */
	down(r, 9000);
	up(r, 9050);
	assert_one(r, CMD_OVERDUB, 0, 0, 9050 * 48);
	/* a stopped clip plays */
	set_state(r, 0, 0, CLIP_STOPPED);
	down(r, 11000);
	assert_one(r, CMD_PRESS, 0, 0, 11000 * 48);
	up(r, 11100);
	free(r);
}

static void test_foot_double_tap_stops(void **state)
{
	(void)state;
	/* On a playing clip: the first tap's overdub is undone, then stop. */
	struct rig *r = foot_rig();
	set_state(r, 0, 0, CLIP_PLAYING);
	down(r, 0);
	up(r, 80);
	assert_one(r, CMD_OVERDUB, 0, 0, 80 * 48);
	down(r, 250);
	assert_int_equal(r->n, 2);
	assert_cmd(r, 0, CMD_UNDO, 0, 0, 250 * 48);
	assert_cmd(r, 1, CMD_STOP_CLIP, 0, 0, 250 * 48);
	r->n = 0;
	up(r, 330);
	controller_poll(&r->c, 2000 * MS, &r->sink); /* a second tap never holds */
	assert_none(r);
	free(r);

	/* On an empty clip: the take the first tap began is thrown away. */
	r = foot_rig();
	down(r, 0);
	up(r, 60);
	assert_one(r, CMD_PRESS, 0, 0, 0);
	set_state(r, 0, 0, CLIP_RECORD_QUEUED);
	down(r, 300); /* the window is 300 ms, inclusive */
	assert_one(r, CMD_CLEAR, 0, 0, 300 * 48);
	up(r, 350);
	free(r);

	/* While recording: the take ends (kept) and stops; while
	 * overdubbing: the pass ends (kept) and the clip stops. */
	static const enum clip_state ending[] = {CLIP_RECORDING, CLIP_OVERDUBBING};
	for (size_t i = 0; i < sizeof(ending) / sizeof(ending[0]); i++) {
		r = foot_rig();
		set_state(r, 0, 0, ending[i]);
		down(r, 0);
		up(r, 60);
		down(r, 200);
		assert_int_equal(r->n, 2);
		assert_cmd(r, 0, CMD_PRESS, 0, 0, 0);
		assert_cmd(r, 1, CMD_STOP_CLIP, 0, 0, 200 * 48);
		free(r);
	}

	/* A second tap after the window is a new first tap. */
	r = foot_rig();
	set_state(r, 0, 0, CLIP_RECORDING);
	down(r, 0);
	up(r, 60);
	r->n = 0;
	set_state(r, 0, 0, CLIP_PLAY_QUEUED);
	down(r, 301);
	assert_one(r, CMD_PRESS, 0, 0, 301 * 48);
	free(r);
}

static void test_foot_hold(void **state)
{
	(void)state;
	/* Held on a playing clip: undo the last pass, no new overdub. The
	 * poll acts while the switch is down, at the frame 1 s after the press. */
	struct rig *r = foot_rig();
	set_state(r, 0, 0, CLIP_PLAYING);
	down(r, 2000);
	controller_poll(&r->c, 2999 * MS, &r->sink);
	assert_none(r);
	controller_poll(&r->c, 3000 * MS, &r->sink);
	assert_one(r, CMD_UNDO, 0, 0, 3000 * 48);
	controller_poll(&r->c, 3500 * MS, &r->sink);
	up(r, 3600);
	assert_none(r);
	free(r);

	/* Without a poll the release tells: stamped 1 s after the press. */
	r = foot_rig();
	set_state(r, 0, 0, CLIP_PLAYING);
	down(r, 0);
	up(r, 1500);
	assert_one(r, CMD_UNDO, 0, 0, 48000);
	free(r);

	/* Held on a stopped clip: its play was queued at once, then clear
	 * (and the release does nothing more). Held to end an overdub: the
	 * pass is ended, then undone. */
	static const struct {
		enum clip_state state;
		int held; /* what the hold sends, 1 s after the press */
		bool release_checked;
	} holds[] = {
	    {CLIP_STOPPED, CMD_CLEAR, true},
	    {CLIP_OVERDUBBING, CMD_UNDO, false},
	};
	for (size_t i = 0; i < sizeof(holds) / sizeof(holds[0]); i++) {
		r = foot_rig();
		set_state(r, 0, 0, holds[i].state);
		down(r, 0);
		assert_one(r, CMD_PRESS, 0, 0, 0);
		controller_poll(&r->c, 1000 * MS, &r->sink);
		assert_one(r, holds[i].held, 0, 0, 48000);
		if (holds[i].release_checked) {
			up(r, 1200);
			assert_none(r);
		}
		free(r);
	}

	/* Held while a take starts: just the take. */
	r = foot_rig();
	down(r, 0);
	assert_one(r, CMD_PRESS, 0, 0, 0);
	controller_poll(&r->c, 5000 * MS, &r->sink);
	up(r, 5000);
	assert_none(r);
	/* A tap after a hold is a first tap, whatever the time. */
	set_state(r, 0, 0, CLIP_RECORDING);
	down(r, 5100);
	assert_one(r, CMD_PRESS, 0, 0, 5100 * 48);
	free(r);
}

static void test_foot_target_and_program_changes(void **state)
{
	(void)state;
	struct rig *r = foot_rig();
	MIDI(r, 0, 0xB5, 66, 127, 0xB5, 66, 0); /* next track, any channel */
	MIDI(r, 0, 0xB5, 67, 127, 0xB5, 67, 0); /* next scene */
	down(r, 0);
	assert_one(r, CMD_PRESS, 1, 1, 0);
	up(r, 50);
	MIDI(r, 0, 0xB0, 65, 127, 0xB0, 65, 127); /* previous track twice */
	assert_int_equal(r->c.selected_track, 7);
	/* A new target is a new first tap even inside the window. */
	down(r, 100);
	assert_one(r, CMD_PRESS, 7, 1, 100 * 48);
	up(r, 150);
	free(r);

	/* Program changes: no release, so the overdub starts at once and
	 * two within the window still stop. */
	r = foot_rig();
	set_state(r, 0, 0, CLIP_PLAYING);
	MIDI(r, 0, 0xC3, 0);
	assert_one(r, CMD_OVERDUB, 0, 0, 0);
	MIDI(r, 200 * MS, 0xC3, 0);
	assert_int_equal(r->n, 2);
	assert_cmd(r, 0, CMD_UNDO, 0, 0, 200 * 48);
	assert_cmd(r, 1, CMD_STOP_CLIP, 0, 0, 200 * 48);
	r->n = 0;
	controller_poll(&r->c, 5000 * MS, &r->sink);
	assert_none(r);
	MIDI(r, 0, 0xC0, 1, 0xC0, 3);
	assert_int_equal(r->c.selected_track, 1);
	assert_int_equal(r->c.selected_scene, 1);
	/* A press repeated without a release is one press. */
	set_state(r, 1, 1, CLIP_STOPPED);
	down(r, 9000);
	down(r, 9100);
	assert_one(r, CMD_PRESS, 1, 1, 9000 * 48);
	free(r);
}

/* ---- time and bad MIDI -------------------------------------------------------- */

static void test_frames_follow_the_time_map(void **state)
{
	(void)state;
	struct rig *r = rig_for(&profiles[0]);
	r->c.time =
	    (struct time_map){.ref_us = 5000000, .ref_frame = 1000, .rate = 44100};
	MIDI(r, 5000000 + 10 * MS, 0x90, 53, 127);
	assert_one(r, CMD_PRESS, 0, 0, 1000 + 441);
	MIDI(r, 5000000 - 10 * MS, 0x90, 53, 127); /* before the reference */
	assert_one(r, CMD_PRESS, 0, 0, 1000 - 441);
	free(r);
}

static void test_bad_midi_is_counted_and_skipped(void **state)
{
	(void)state;
	struct rig *r = rig_for(&profiles[0]);
	const struct controller_stats *st = &r->c.stats;

	MIDI(r, 0, 0x90, 53, 0x91, 53, 127); /* truncated by a new status */
	assert_int_equal(st->truncated, 1);
	assert_one(r, CMD_PRESS, 1, 0, 0);

	MIDI(r, 0, 0x90, 53, 127, 54, 127, 53, 0); /* running status */
	assert_int_equal(r->n, 2);
	assert_cmd(r, 1, CMD_PRESS, 0, 1, 0);
	r->n = 0;

	MIDI(r, 0, 0x90, 0xF8, 55, 0xFE, 127, 0xF8, 56, 127); /* real-time inside */
	assert_int_equal(st->realtime, 3);
	assert_int_equal(r->n, 2);
	r->n = 0;

	MIDI(r, 0, 0x90); /* split over calls */
	MIDI(r, 0, 57);
	assert_none(r);
	MIDI(r, 0, 127);
	assert_one(r, CMD_PRESS, 0, 4, 0);

	controller_init(&r->c, &profiles[0], &time48k);
	MIDI(r, 0, 0x35, 0x40); /* stray data */
	assert_int_equal(st->stray_data, 2);
	MIDI(r, 0, 0xF7);
	assert_int_equal(st->stray_end, 1);
	MIDI(r, 0, 0x90, 10, 127, 0xA0, 53, 10, 0xE0, 0, 64, 0xD0, 5);
	assert_int_equal(st->unmapped, 4); /* unknown note, aftertouch, bend */
	MIDI(r, 0, 0xF2, 1, 2, 0x35, 0xF6, 0xF1, 3, 0xF4);
	assert_int_equal(st->system, 4);
	assert_int_equal(st->stray_data, 3); /* system common ends running status */
	assert_none(r);

	/* A SysEx flood, split over calls, then an unterminated one. */
	static uint8_t flood[100000];
	memset(flood, 0x11, sizeof(flood));
	flood[0] = 0xF0;
	send_bytes(r, 0, flood, sizeof(flood));
	send_bytes(r, 0, flood + 1, sizeof(flood) - 1);
	MIDI(r, 0, 0xF7);
	assert_int_equal(st->sysex, 1);
	MIDI(r, 0, 0xF0, 0x47, 0x01, 0x90, 53, 127);
	assert_int_equal(st->sysex_unterminated, 1);
	assert_one(r, CMD_PRESS, 0, 0, 0);
	MIDI(r, 0, 0xF0, 0x01, 0xF7, 54, 127); /* SysEx cancels running status */
	assert_none(r);
	assert_int_equal(st->sysex, 2);

	/* A full queue refuses; the controller counts it and goes on. */
	r->refuse = true;
	MIDI(r, 0, 0x90, 53, 127);
	assert_int_equal(st->commands_refused, 1);
	r->refuse = false;
	MIDI(r, 0, 0x90, 53, 127);
	assert_int_equal(st->commands, 2);
	/* Events out of range change nothing. */
	struct event bad = {.type = EV_CLIP_STATE, .track = 8, .scene = 0, .state = 4};
	controller_engine_event(&r->c, &bad);
	bad = (struct event){.type = EV_CLIP_STATE, .track = 0, .scene = 0, .state = 9};
	controller_engine_event(&r->c, &bad);
	assert_int_equal(r->c.clip_state[0][0], CLIP_EMPTY);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_presses_map_to_exact_commands),
	    cmocka_unit_test(test_states_give_exact_led_bytes),
	    cmocka_unit_test(test_refresh_and_partial_output),
	    cmocka_unit_test(test_banking),
	    cmocka_unit_test(test_outside_pads_are_off),
	    cmocka_unit_test(test_shift_chords),
	    cmocka_unit_test(test_launchpads),
	    cmocka_unit_test(test_printed_buttons),
	    cmocka_unit_test(test_clear_released_after_shift),
	    cmocka_unit_test(test_status_led_blinks_by_gridloop),
	    cmocka_unit_test(test_farewell_leaves_leds_dark_and_generic_mode),
	    cmocka_unit_test(test_record_arm_turns_next_press_into_overdub),
	    cmocka_unit_test(test_undo_redo_targets),
	    cmocka_unit_test(test_metronome_and_selection),
	    cmocka_unit_test(test_export_and_save_chords),
	    cmocka_unit_test(test_storage_status_led),
	    cmocka_unit_test(test_status_led_after_reconnect),
	    cmocka_unit_test(test_foot_tap_cycle),
	    cmocka_unit_test(test_foot_double_tap_stops),
	    cmocka_unit_test(test_foot_hold),
	    cmocka_unit_test(test_foot2_multiply_and_undo),
	    cmocka_unit_test(test_speed_and_mute_toggles),
	    cmocka_unit_test(test_foot_target_and_program_changes),
	    cmocka_unit_test(test_frames_follow_the_time_map),
	    cmocka_unit_test(test_bad_midi_is_counted_and_skipped),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
