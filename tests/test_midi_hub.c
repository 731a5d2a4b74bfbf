/* test_midi_hub.c -- the sequencer thread's decisions without a sequencer
 * (firmware/midi/midi_hub.c), with the real profiles of board/profiles: which
 * port is which controller, the introduction and every LED on connection,
 * presses to commands stamped through the time map (never later than the
 * next period), engine events to LED changes, unplug and replug (same
 * slot, LEDs restored), a controller plugged in late starting from the
 * mirror, an inquiry reply switching profiles, several controllers at once,
 * the shared metronome, MIDI clock out up to the horizon, clock in, and a
 * held foot switch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "midi_hub.h"
#include "profile_files.h"

#define MAX_PROFILES 16
#define RATE	     48000
#define PERIOD	     128
#define S	     1000000 /* microseconds */

static struct profile profiles[MAX_PROFILES];
static int nprofiles;

static void complain(void *ctx, const char *message)
{
	(void)ctx;
	fail_msg("%s", message);
}

static int load(void **state)
{
	(void)state;
	nprofiles =
	    profile_load_dir("board/profiles", profiles, MAX_PROFILES, complain, NULL);
	assert_true(nprofiles >= 5);
	return 0;
}

static int profile_named(const char *name)
{
	for (int i = 0; i < nprofiles; i++)
		if (!strcmp(profiles[i].name, name))
			return i;
	fail_msg("no profile '%s'", name);
	return -1;
}

struct rig {
	struct midi_hub hub;
	struct spsc commands;
	uint8_t out[4096];
	size_t nout;
};

static struct rig *rig_with(struct midi_hub_config cfg)
{
	struct rig *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	assert_int_equal(spsc_init(&r->commands, 64, sizeof(struct command)), 0);
	cfg.profiles = profiles;
	cfg.nprofiles = nprofiles;
	cfg.rate = RATE;
	cfg.period = PERIOD;
	midi_hub_init(&r->hub, &cfg, &r->commands);
	/* The stream's clock: frame 48000 was read at 1 s; the engine has
	 * done one more period. */
	struct time_map t = {.ref_us = 1 * S, .ref_frame = 48000, .rate = RATE};
	midi_hub_set_time(&r->hub, &t, 48000 + PERIOD);
	return r;
}

static struct rig *rig(void)
{
	return rig_with((struct midi_hub_config){
	    .fallback_profile = profile_named("APC40 mk1"), .beats_per_bar = 4});
}

static void rig_free(struct rig *r)
{
	spsc_free(&r->commands);
	free(r);
}

/* Everything due to a slot, in r->out. */
static size_t output(struct rig *r, int slot)
{
	r->nout = 0;
	size_t n;
	while ((n = midi_hub_output(&r->hub, slot, r->out + r->nout,
				    sizeof(r->out) - r->nout)) > 0)
		r->nout += n;
	return r->nout;
}

static bool sent(const struct rig *r, const uint8_t *msg, size_t len)
{
	for (size_t i = 0; i + len <= r->nout; i++)
		if (!memcmp(r->out + i, msg, len))
			return true;
	return false;
}

#define SENT(r, ...)                                                                     \
	sent(r, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static void input(struct rig *r, int slot, int64_t us, const uint8_t *b, size_t n)
{
	midi_hub_input(&r->hub, slot, b, n, us);
}

#define INPUT(r, slot, us, ...)                                                          \
	input(r, slot, us, (const uint8_t[]){__VA_ARGS__},                               \
	      sizeof((const uint8_t[]){__VA_ARGS__}))

static struct command next_command(struct rig *r)
{
	struct command c;
	if (!spsc_pop(&r->commands, &c))
		fail_msg("no command");
	return c;
}

static void state_event(struct rig *r, int track, int scene, enum clip_state s)
{
	struct event ev = {.type = EV_CLIP_STATE,
			   .frame = 48000,
			   .track = (uint8_t)track,
			   .scene = (uint8_t)scene,
			   .state = (uint8_t)s};
	midi_hub_event(&r->hub, &ev);
}

static const uint8_t apc40_intro[] = {0xF0, 0x47, 0x7F, 0x73, 0x60, 0x00,
				      0x04, 0x41, 0x01, 0x00, 0x00, 0xF7};

static void test_which_port_is_which(void **state)
{
	(void)state;
	struct rig *r = rig();
	struct midi_hub *h = &r->hub;
	assert_int_equal(
	    midi_hub_profile_for(h, "Akai APC40", "Akai APC40 MIDI 1", false),
	    profile_named("APC40 mk1"));
	/* The most specific pattern wins. */
	assert_int_equal(
	    midi_hub_profile_for(h, "APC40 mkII", "APC40 mkII MIDI 1", false),
	    profile_named("APC40 mkII"));
	/* Client name alone is enough. */
	assert_int_equal(midi_hub_profile_for(h, "APC MINI", "MIDI 1", false),
			 profile_named("APC mini"));
	assert_int_equal(
	    midi_hub_profile_for(h, "Midi Through", "Midi Through Port-0", false), -1);
	/* Named in the config: the fallback profile. */
	assert_int_equal(
	    midi_hub_profile_for(h, "Virtual Raw MIDI 1-0", "VirMIDI 1-0", true),
	    profile_named("APC40 mk1"));
	rig_free(r);
}

/* Connection: the introduction SysEx first, then every LED; then nothing
 * until something changes. */
static void test_connect_sends_intro_and_every_led(void **state)
{
	(void)state;
	struct rig *r = rig();
	int slot = midi_hub_connect(&r->hub, 20, 0, "Akai APC40:Akai APC40 MIDI 1",
				    profile_named("APC40 mk1"));
	assert_int_equal(slot, 0);
	assert_int_equal(midi_hub_find(&r->hub, 20, 0), 0);
	assert_int_equal(midi_hub_find(&r->hub, 20, 1), -1);
	output(r, slot);
	assert_memory_equal(r->out, apc40_intro, sizeof(apc40_intro));
	/* 40 pads, 5 scene buttons, 8 clip stops, record arm, metronome:
	 * each a 3-byte note-on (the clip stops and metronome are new). */
	assert_int_equal(r->nout, sizeof(apc40_intro) + 3 * (40 + 5 + 8 + 1 + 1));
	assert_true(SENT(r, 0x97, 0x39, 0x00)); /* track 8, row 5: empty, dark */
	assert_int_equal(output(r, slot), 0);
	rig_free(r);
}

/* A press becomes a command stamped through the time map; a stamp past the
 * next period (a stale map) is pulled in; no map yet: at once. */
static void test_press_to_command(void **state)
{
	(void)state;
	struct rig *r = rig();
	int slot =
	    midi_hub_connect(&r->hub, 20, 0, "APC40:APC40", profile_named("APC40 mk1"));
	INPUT(r, slot, 1 * S + 2000, 0x92, 0x36, 0x7F); /* track 2, row 1 */
	struct command c = next_command(r);
	assert_int_equal(c.type, CMD_PRESS);
	assert_int_equal(c.track, 2);
	assert_int_equal(c.scene, 1);
	assert_true(c.frame == 48000 + 96); /* 2 ms after frame 48000 */

	INPUT(r, slot, 10 * S, 0x90, 0x35, 0x7F);
	c = next_command(r);
	assert_true(c.frame == 48000 + 2 * PERIOD);

	midi_hub_set_time(&r->hub, NULL, 0);
	INPUT(r, slot, 10 * S, 0x90, 0x35, 0x7F);
	c = next_command(r);
	assert_true(c.frame == 0);
	assert_int_equal(r->hub.stats.commands, 3);

	/* A full queue refuses, and it is counted. */
	for (int i = 0; i < 70; i++)
		INPUT(r, slot, 10 * S, 0x90, 0x35, 0x7F);
	assert_int_equal(r->hub.stats.commands, 3 + 64);
	assert_int_equal(r->hub.stats.commands_refused, 70 - 64);
	rig_free(r);
}

/* Engine events change exactly the LEDs they concern, on every controller
 * at once. */
static void test_events_to_leds_on_every_controller(void **state)
{
	(void)state;
	struct rig *r = rig();
	int a =
	    midi_hub_connect(&r->hub, 20, 0, "APC40:APC40", profile_named("APC40 mk1"));
	int b = midi_hub_connect(&r->hub, 24, 0, "APC MINI:APC MINI MIDI 1",
				 profile_named("APC mini"));
	assert_true(a >= 0 && b >= 0 && a != b);
	output(r, a);
	output(r, b);
	state_event(r, 1, 0, CLIP_RECORDING);
	output(r, a);
	/* Pad: track 1 = channel 1, note 53, red (3); scene 1 lit (1). */
	assert_true(SENT(r, 0x91, 0x35, 0x03));
	assert_true(SENT(r, 0x90, 0x52, 0x01));
	assert_true(SENT(r, 0x91, 0x34, 0x01)); /* track 1's clip stop: on */
	assert_int_equal(r->nout, 9);
	output(r, b);
	/* The mini's top row is notes 56..63. */
	assert_true(SENT(r, 0x90, 0x39, 0x03));
	rig_free(r);
}

/* Unplugged and back (a new client number, the same name): the same slot,
 * its window as it was, the introduction and every LED again, showing what
 * happened meanwhile. */
static void test_unplug_and_back(void **state)
{
	(void)state;
	struct rig *r = rig();
	const char *name = "Akai APC40:Akai APC40 MIDI 1";
	int slot = midi_hub_connect(&r->hub, 20, 0, name, profile_named("APC40 mk1"));
	INPUT(r, slot, 1 * S, 0x90, 0x5F, 0x7F); /* bank down: rows show scenes 1..5 */
	output(r, slot);
	midi_hub_disconnect(&r->hub, slot);
	assert_int_equal(midi_hub_find(&r->hub, 20, 0), -1);
	assert_int_equal(midi_hub_output(&r->hub, slot, r->out, sizeof(r->out)), 0);
	state_event(r, 3, 1, CLIP_PLAYING);

	assert_int_equal(
	    midi_hub_connect(&r->hub, 28, 0, name, profile_named("APC40 mk1")), slot);
	assert_int_equal(midi_hub_find(&r->hub, 28, 0), slot);
	output(r, slot);
	assert_memory_equal(r->out, apc40_intro, sizeof(apc40_intro));
	assert_int_equal(r->nout, sizeof(apc40_intro) + 3 * (40 + 5 + 8 + 1 + 1));
	assert_true(SENT(r, 0x93, 0x35, 0x01)); /* row 0 = scene 1: playing, green */
	rig_free(r);
}

/* Leaving: every connected controller goes dark and gets its outro (the
 * APC40s: the introduction with mode 0x40, Generic, as Akai's document
 * gives it); a controller arriving meanwhile, or identified anew, too;
 * after that nothing, whatever happens. */
static void test_farewell_dark_and_generic_mode(void **state)
{
	(void)state;
	struct rig *r = rig();
	int a =
	    midi_hub_connect(&r->hub, 20, 0, "APC40:APC40", profile_named("APC40 mk1"));
	int b = midi_hub_connect(&r->hub, 21, 0, "APC40 mkII:APC40 mkII MIDI 1",
				 profile_named("APC40 mkII"));
	state_event(r, 2, 0, CLIP_PLAY_QUEUED);
	output(r, a);
	output(r, b);
	midi_hub_farewell(&r->hub);
	static const uint8_t generic_mk1[] = {0xF0, 0x47, 0x7F, 0x73, 0x60, 0x00,
					      0x04, 0x40, 0x01, 0x00, 0x00, 0xF7};
	static const uint8_t generic_mk2[] = {0xF0, 0x47, 0x7F, 0x29, 0x60, 0x00,
					      0x04, 0x40, 0x01, 0x00, 0x00, 0xF7};
	output(r, a);
	/* mk1: pad (2, 0) and scene 1 were lit: dark, then Generic mode. */
	static const uint8_t mk1[] = {0x92, 53, 0, 0x90, 82, 0};
	assert_int_equal(r->nout, sizeof(mk1) + sizeof(generic_mk1));
	assert_memory_equal(r->out, mk1, sizeof(mk1));
	assert_memory_equal(r->out + sizeof(mk1), generic_mk1, sizeof(generic_mk1));
	output(r, b);
	/* mkII: the blinking pad (2, 0) = note 34 and scene 1: one message
	 * on channel 0 ends the animation and darkens it. */
	static const uint8_t mk2[] = {0x90, 34, 0, 0x90, 82, 0};
	assert_int_equal(r->nout, sizeof(mk2) + sizeof(generic_mk2));
	assert_memory_equal(r->out, mk2, sizeof(mk2));
	assert_memory_equal(r->out + sizeof(mk2), generic_mk2, sizeof(generic_mk2));
	state_event(r, 3, 0, CLIP_RECORDING);
	assert_int_equal(output(r, a), 0);
	assert_int_equal(output(r, b), 0);

	/* A controller plugged in while leaving: no introduction, every LED
	 * dark, the outro. */
	int c = midi_hub_connect(&r->hub, 22, 0, "APC40 #2:APC40",
				 profile_named("APC40 mk1"));
	output(r, c);
	assert_int_equal(r->nout, 3 * (40 + 5 + 8 + 1 + 1) + sizeof(generic_mk1));
	assert_false(r->out[0] == 0xF0);
	for (size_t i = 0; i + 3 <= r->nout - sizeof(generic_mk1); i += 3)
		assert_int_equal(r->out[i + 2], 0);
	assert_memory_equal(r->out + r->nout - sizeof(generic_mk1), generic_mk1,
			    sizeof(generic_mk1));
	/* Unplugged and back while leaving: dark too. */
	midi_hub_disconnect(&r->hub, a);
	assert_int_equal(
	    midi_hub_connect(&r->hub, 23, 0, "APC40:APC40", profile_named("APC40 mk1")),
	    a);
	output(r, a);
	assert_false(r->out[0] == 0xF0);
	assert_memory_equal(r->out + r->nout - sizeof(generic_mk1), generic_mk1,
			    sizeof(generic_mk1));
	rig_free(r);
}

/* The device inquiry as each document gives it: Akai's APC40 protocol
 * (Rev 1) writes the channel byte 00; the others 7F (all devices). */
static void test_inquiry_request_per_profile(void **state)
{
	(void)state;
	struct rig *r = rig();
	int a =
	    midi_hub_connect(&r->hub, 20, 0, "APC40:APC40", profile_named("APC40 mk1"));
	int b = midi_hub_connect(&r->hub, 24, 0, "APC MINI:APC MINI MIDI 1",
				 profile_named("APC mini"));
	uint8_t q[6];
	assert_int_equal(midi_hub_inquiry(&r->hub, a, q), 6);
	assert_memory_equal(q, ((uint8_t[]){0xF0, 0x7E, 0x00, 0x06, 0x01, 0xF7}), 6);
	midi_hub_inquiry(&r->hub, b, q);
	assert_memory_equal(q, ((uint8_t[]){0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7}), 6);
	/* A slot that holds nothing: the broadcast, no crash. */
	midi_hub_inquiry(&r->hub, MIDI_HUB_PORTS - 1, q);
	assert_int_equal(q[2], 0x7F);
	midi_hub_inquiry(&r->hub, -1, q);
	assert_int_equal(q[2], 0x7F);
	rig_free(r);
}

/* MIDI clock: only to controllers whose profile wants it (the mkII, the
 * mini mk2, the Launchpads), and to any other subscriber; the decision
 * follows an inquiry reply that changes the profile. */
static void test_clock_only_where_the_profile_wants_it(void **state)
{
	(void)state;
	struct rig *r = rig();
	int a =
	    midi_hub_connect(&r->hub, 20, 0, "APC40:APC40", profile_named("APC40 mk1"));
	int b = midi_hub_connect(&r->hub, 21, 0, "APC40 mkII:APC40 mkII MIDI 1",
				 profile_named("APC40 mkII"));
	int c = midi_hub_connect(&r->hub, 22, 0, "APC mini mk2:APC mini mk2 Control",
				 profile_named("APC mini mk2"));
	int d = midi_hub_connect(&r->hub, 23, 0, "APC MINI:APC MINI MIDI 1",
				 profile_named("APC mini"));
	assert_true(a >= 0 && b >= 0 && c >= 0 && d >= 0);
	assert_false(midi_hub_wants_clock(&r->hub, 20, 0));
	assert_true(midi_hub_wants_clock(&r->hub, 21, 0));
	assert_true(midi_hub_wants_clock(&r->hub, 22, 0));
	assert_false(midi_hub_wants_clock(&r->hub, 23, 0));
	assert_true(midi_hub_wants_clock(&r->hub, 30, 0)); /* a synth, aconnect'ed */
	/* The mk1's port answers as a mkII: now it wants clock. */
	INPUT(r, a, 0, 0xF0, 0x7E, 0x00, 0x06, 0x02, 0x47, 0x29, 0x00, 0x19, 0xF7);
	assert_true(midi_hub_wants_clock(&r->hub, 20, 0));
	/* Gone: no longer a controller here, whatever comes at that address. */
	midi_hub_disconnect(&r->hub, d);
	assert_true(midi_hub_wants_clock(&r->hub, 23, 0));
	rig_free(r);
}

/* A controller plugged in after things happened shows them. */
static void test_late_controller_starts_from_the_mirror(void **state)
{
	(void)state;
	struct rig *r = rig();
	state_event(r, 2, 0, CLIP_PLAYING);
	state_event(r, 5, 3, CLIP_STOPPED);
	int slot = midi_hub_connect(&r->hub, 30, 0, "APC MINI:APC MINI MIDI 1",
				    profile_named("APC mini"));
	output(r, slot);
	assert_true(SENT(r, 0x90, 0x3A, 0x01)); /* track 2, top row: green */
	assert_true(SENT(r, 0x90, 0x25, 0x05)); /* track 5, row 3 (note 37): amber */
	rig_free(r);
}

/* A controller plugged in while the card is faulty shows it at once. */
static void test_late_controller_shows_the_card(void **state)
{
	(void)state;
	struct rig *r = rig();
	struct event ev = {.type = EV_STORAGE, .frame = 48000, .value = STORAGE_FAULT};
	midi_hub_event(&r->hub, &ev);
	int slot = midi_hub_connect(&r->hub, 30, 0, "APC MINI:APC MINI MIDI 1",
				    profile_named("APC mini"));
	output(r, slot);
	assert_true(SENT(r, 0x90, 71, 0x02)); /* track button 8: blinking */
	rig_free(r);
}

/* A port the config names comes up as the fallback profile; its reply to
 * the device inquiry says what it really is. */
static void test_inquiry_reply_switches_profile(void **state)
{
	(void)state;
	struct rig *r = rig();
	int slot = midi_hub_connect(&r->hub, 20, 0, "Virtual Raw MIDI 1-0:VirMIDI 1-0",
				    profile_named("APC40 mk1"));
	output(r, slot);
	const uint8_t reply[] = {0xF0, 0x7E, 0x00, 0x06, 0x02, 0x47, 0x29, 0x00,
				 0x19, 0x00, 0x01, 0x00, 0x00, 0x00, 0xF7};
	assert_true(midi_hub_input(&r->hub, slot, reply, sizeof(reply), 1 * S));
	assert_string_equal(midi_hub_profile(&r->hub, slot)->name, "APC40 mkII");
	assert_int_equal(r->hub.stats.identified, 1);
	output(r, slot);
	const uint8_t mk2_intro[] = {0xF0, 0x47, 0x7F, 0x29, 0x60, 0x00,
				     0x04, 0x41, 0x01, 0x00, 0x00, 0xF7};
	assert_memory_equal(r->out, mk2_intro, sizeof(mk2_intro));
	/* The same reply again changes nothing; it is no press either. */
	assert_false(midi_hub_input(&r->hub, slot, reply, sizeof(reply), 1 * S));
	assert_int_equal(output(r, slot), 0);
	struct command c;
	assert_false(spsc_pop(&r->commands, &c));
	rig_free(r);
}

/* Eight controllers at once; a ninth waits for a slot; a slot whose
 * controller is gone is taken (the one gone longest). */
static void test_slots(void **state)
{
	(void)state;
	struct rig *r = rig();
	int p = profile_named("APC40 mk1");
	char name[32];
	for (int i = 0; i < MIDI_HUB_PORTS; i++) {
		snprintf(name, sizeof(name), "APC40 #%d:APC40", i);
		assert_int_equal(midi_hub_connect(&r->hub, 20 + i, 0, name, p), i);
	}
	assert_int_equal(midi_hub_connect(&r->hub, 40, 0, "APC40 #9:APC40", p), -1);
	midi_hub_disconnect(&r->hub, 5);
	midi_hub_disconnect(&r->hub, 2);
	assert_int_equal(midi_hub_connect(&r->hub, 40, 0, "APC40 #9:APC40", p), 2);
	assert_int_equal(midi_hub_connect(&r->hub, 41, 0, "APC40 #10:APC40", p), 5);
	assert_int_equal(midi_hub_connect(&r->hub, 42, 0, "APC40 #11:APC40", -1), -1);
	rig_free(r);
}

/* The metronome is one for all: shift + tap on the APC40 switches it, and
 * the mkII's metronome button lights. */
static void test_metronome_is_shared(void **state)
{
	(void)state;
	struct rig *r = rig();
	int a =
	    midi_hub_connect(&r->hub, 20, 0, "APC40:APC40", profile_named("APC40 mk1"));
	int b = midi_hub_connect(&r->hub, 21, 0, "APC40 mkII:APC40 mkII",
				 profile_named("APC40 mkII"));
	output(r, a);
	output(r, b);
	INPUT(r, a, 1 * S, 0x90, 0x62, 0x7F, 0x90, 0x63, 0x7F); /* shift + tap */
	struct command c = next_command(r);
	assert_int_equal(c.type, CMD_METRONOME);
	assert_true(c.value == 1.0f);
	output(r, b);
	assert_true(SENT(r, 0x90, 0x5A, 0x01));
	rig_free(r);
}

/* MIDI clock out: exactly up to the horizon, Start before the downbeat's
 * tick, 24 ticks a beat on their frames. */
static void test_clock_out_up_to_the_horizon(void **state)
{
	(void)state;
	struct rig *r = rig_with((struct midi_hub_config){
	    .fallback_profile = -1, .tempo = 120, .beats_per_bar = 4, .clock_out = true});
	struct event ev = {.type = EV_BEAT, .frame = 0, .value = 0, .aux = 0};
	midi_hub_event(&r->hub, &ev);
	struct event queued = {.type = EV_CLIP_STATE, .state = CLIP_RECORD_QUEUED};
	midi_hub_event(&r->hub, &queued);
	struct midi_clock_msg m[16], all[64];
	int n, total = 0;
	/* The horizon moves a period at a time, as the supervisor moves it. */
	for (int64_t horizon = PERIOD; horizon <= 24000; horizon += PERIOD) {
		do {
			n = midi_hub_clock(&r->hub, horizon, m, 16);
			assert_true(total + n <= 64);
			for (int i = 0; i < n; i++)
				assert_true(m[i].frame < horizon);
			memcpy(all + total, m, (size_t)n * sizeof(m[0]));
			total += n;
		} while (n == 16);
	}
	/* The last period ends at 23936: Start, ticks at 0, 1000, ... 23000. */
	assert_int_equal(total, 25);
	assert_int_equal(all[0].bytes[0], 0xFA);
	assert_true(all[0].frame == 0);
	for (int i = 1; i < total; i++) {
		assert_int_equal(all[i].bytes[0], 0xF8);
		assert_true(all[i].frame == (i - 1) * 1000);
	}
	/* Nothing more until the horizon passes the next tick (24000). */
	assert_int_equal(midi_hub_clock(&r->hub, 24000, m, 16), 0);
	assert_int_equal(midi_hub_clock(&r->hub, 24000, m, 16), 0);
	assert_int_equal(r->hub.stats.clock_backlog_skips, 0);
	/* Far behind: skips rather than bursting stale ticks. */
	n = midi_hub_clock(&r->hub, 10 * RATE, m, 16);
	assert_int_equal(r->hub.stats.clock_backlog_skips, 1);
	assert_true(n > 0 && m[0].frame >= 10 * RATE - RATE / 4);
	rig_free(r);

	/* clock = external: no clock out. */
	r = rig_with((struct midi_hub_config){.fallback_profile = -1, .tempo = 120});
	midi_hub_event(&r->hub, &ev);
	assert_int_equal(midi_hub_clock(&r->hub, 24000, m, 16), 0);
	rig_free(r);
}

/* MIDI clock in: ticks at 120 BPM become a tempo, Stop stops all; without
 * clock = external, clock in does nothing. */
static void test_clock_in(void **state)
{
	(void)state;
	struct rig *r =
	    rig_with((struct midi_hub_config){.fallback_profile = -1, .clock_in = true});
	const uint8_t tick = 0xF8, stop = 0xFC;
	for (int i = 0; i < 48; i++)
		midi_hub_clock_in(&r->hub, &tick, 1, 1 * S + i * 20833);
	struct command c = next_command(r);
	assert_int_equal(c.type, CMD_SET_TEMPO);
	assert_true(c.value > 119.9f && c.value < 120.1f);
	midi_hub_clock_in(&r->hub, &stop, 1, 3 * S);
	c = next_command(r);
	assert_int_equal(c.type, CMD_STOP_ALL);
	rig_free(r);

	r = rig();
	for (int i = 0; i < 48; i++)
		midi_hub_clock_in(&r->hub, &tick, 1, 1 * S + i * 20833);
	assert_false(spsc_pop(&r->commands, &c));
	rig_free(r);
}

/* A foot switch held on a stopped clip: the tap acts at once, the poll
 * turns the hold into a clear after a second, while it is still down. */
static void test_foot_switch_hold_by_poll(void **state)
{
	(void)state;
	struct rig *r = rig();
	state_event(r, 0, 0, CLIP_STOPPED);
	int slot = midi_hub_connect(&r->hub, 20, 0, "FCB1010:FCB1010 MIDI 1",
				    profile_named("Foot switch"));
	INPUT(r, slot, 1 * S, 0xB0, 0x40, 0x7F);
	struct command c = next_command(r);
	assert_int_equal(c.type, CMD_PRESS);
	assert_true(midi_hub_poll(&r->hub, 1 * S + S / 2));
	assert_false(spsc_pop(&r->commands, &c));
	assert_false(midi_hub_poll(&r->hub, 2 * S));
	c = next_command(r);
	assert_int_equal(c.type, CMD_CLEAR);
	/* Unplugged while held: no hold comes from a switch that is gone. */
	INPUT(r, slot, 3 * S, 0xB0, 0x40, 0x00);
	INPUT(r, slot, 4 * S, 0xB0, 0x40, 0x7F);
	next_command(r);
	midi_hub_disconnect(&r->hub, slot);
	assert_false(midi_hub_poll(&r->hub, 6 * S));
	assert_false(spsc_pop(&r->commands, &c));
	rig_free(r);
}

/* LEDs that gridloop blinks itself (the APC40's MASTER status LED) need
 * the sequencer thread awake at each half cycle, and only then: a hub of
 * controllers without such LEDs never asks for a wake-up. */
static void test_next_blink_wakes_only_where_needed(void **state)
{
	(void)state;
	struct rig *r = rig();
	const int64_t half = PROFILE_SOFT_BLINK_US / 2;
	assert_true(midi_hub_next_blink_us(&r->hub, 1234) == INT64_MAX);
	int a =
	    midi_hub_connect(&r->hub, 20, 0, "Foot:Foot", profile_named("Foot switch"));
	assert_true(a >= 0);
	assert_false(profiles[profile_named("Foot switch")].soft_blink);
	assert_true(midi_hub_next_blink_us(&r->hub, 1234) == INT64_MAX);
	int b =
	    midi_hub_connect(&r->hub, 21, 0, "APC40:APC40", profile_named("APC40 mk1"));
	assert_true(b >= 0);
	assert_true(profiles[profile_named("APC40 mk1")].soft_blink);
	assert_true(midi_hub_next_blink_us(&r->hub, 1234) == half);
	assert_true(midi_hub_next_blink_us(&r->hub, half) == 2 * half);
	assert_true(midi_hub_next_blink_us(&r->hub, 3 * half - 1) == 3 * half);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_which_port_is_which),
	    cmocka_unit_test(test_connect_sends_intro_and_every_led),
	    cmocka_unit_test(test_press_to_command),
	    cmocka_unit_test(test_events_to_leds_on_every_controller),
	    cmocka_unit_test(test_unplug_and_back),
	    cmocka_unit_test(test_farewell_dark_and_generic_mode),
	    cmocka_unit_test(test_inquiry_request_per_profile),
	    cmocka_unit_test(test_clock_only_where_the_profile_wants_it),
	    cmocka_unit_test(test_late_controller_starts_from_the_mirror),
	    cmocka_unit_test(test_late_controller_shows_the_card),
	    cmocka_unit_test(test_inquiry_reply_switches_profile),
	    cmocka_unit_test(test_next_blink_wakes_only_where_needed),
	    cmocka_unit_test(test_slots),
	    cmocka_unit_test(test_metronome_is_shared),
	    cmocka_unit_test(test_clock_out_up_to_the_horizon),
	    cmocka_unit_test(test_clock_in),
	    cmocka_unit_test(test_foot_switch_hold_by_poll),
	};
	return cmocka_run_group_tests(tests, load, NULL);
}
