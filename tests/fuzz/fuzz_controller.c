/* fuzz_controller.c -- libFuzzer target for the MIDI-to-command path: raw
 * MIDI bytes (any garbage), engine events, time steps, polls and LED output
 * in any order, on every built-in profile, and the same bytes into MIDI
 * clock in. Every command that comes out must be a valid engine command and
 * every LED message a whole, well-formed one; anything else traps.
 *
 * Input: byte 0 picks the profile, then a list of operations, each a byte
 * whose top two bits say what it is:
 *   00nnnnnn  the next n bytes are MIDI from the controller
 *   01tttttt  time moves on by t x 50 ms (taps, double taps, holds)
 *   10ssssss  an engine clip event: state s % 9, then track and scene
 *             bytes (out-of-range values included)
 *   11cccccc  poll the foot switch (and the clock of gridloop-blinked
 *             LEDs), then drain the LED output in buffers of
 *             CONTROLLER_MIN_OUTPUT + c bytes; c = 63 first leaves
 *             (controller_farewell: dark LEDs, then the outro, only),
 *             c = 62 first refreshes (a reconnection)
 * Built and run by tests/fuzz/run (profiles from GRIDLOOP_PROFILES, default
 * board/profiles). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "midi_clock.h"
#include "profile_files.h"

#define NPROFILES 8

static struct profile profiles[NPROFILES];

static void load_profiles(void)
{
	static const char *const files[NPROFILES] = {
	    "apc40.profile",	  "apc40mk2.profile",	    "apcmini.profile",
	    "apcminimk2.profile", "footswitch.profile",	    "launchpadminimk3.profile",
	    "launchpadx.profile", "launchpadpromk3.profile"};
	const char *dir = getenv("GRIDLOOP_PROFILES");
	char path[512], err[512];
	for (int i = 0; i < NPROFILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir ? dir : "board/profiles",
			 files[i]);
		if (profile_load(&profiles[i], path, err, sizeof(err))) {
			fprintf(stderr, "fuzz_controller: %s\n", err);
			abort();
		}
	}
}

static bool check_command(void *ctx, const struct command *c)
{
	(void)ctx;
	if (c->type >= CMD_TYPE_COUNT || c->track >= GL_TRACKS || c->scene >= GL_SCENES)
		__builtin_trap();
	if (c->type == CMD_SET_TEMPO && !(c->value >= 30 && c->value <= 300))
		__builtin_trap();
	if ((c->type == CMD_TRACK_VOLUME || c->type == CMD_MASTER_VOLUME) &&
	    !(c->value >= 0 && c->value <= 1))
		__builtin_trap();
	return true;
}

static void check_output(struct controller *c, size_t cap)
{
	uint8_t out[CONTROLLER_MIN_OUTPUT + 64];
	for (int calls = 0; calls < 1000; calls++) {
		bool intro = c->intro_pending, outro = c->outro_pending;
		size_t n = controller_output(c, out, cap);
		if (n == 0)
			return;
		size_t at = 0;
		if (intro) {
			at = (size_t)c->profile->intro_len;
			if (n < at || out[0] != 0xF0 || out[at - 1] != 0xF7)
				__builtin_trap();
		}
		if (outro && !c->outro_pending) { /* the outro, last */
			size_t len = (size_t)c->profile->outro_len;
			if (n < at + len || memcmp(out + n - len, c->profile->outro, len))
				__builtin_trap();
			n -= len;
		}
		if (c->farewell)
			for (size_t k = at + 2; k < n; k += 3)
				if (out[k] != 0)
					__builtin_trap(); /* leaving: dark only */
		if ((n - at) % 3 != 0 || n > cap)
			__builtin_trap();
		for (; at < n; at += 3)
			if (((out[at] & 0xF0) != 0x90 && (out[at] & 0xF0) != 0xB0) ||
			    out[at + 1] >= 0x80 || out[at + 2] >= 0x80)
				__builtin_trap(); /* note-on or CC, data bytes */
	}
	__builtin_trap(); /* the output never ran dry */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool loaded;
	if (!loaded) {
		load_profiles();
		loaded = true;
	}
	if (size == 0)
		return 0;
	static struct controller c;
	static struct midi_clock_in clock;
	const struct time_map time = {.ref_us = 1000000, .ref_frame = 0, .rate = 48000};
	controller_init(&c, &profiles[data[0] % NPROFILES], &time);
	midi_clock_in_init(&clock, &time);
	clock.start_scene = data[0] % 11; /* 10: none */
	if (clock.start_scene == 10)
		clock.start_scene = -1;
	struct command_sink sink = {.push = check_command};
	int64_t us = 0;
	size_t i = 1;
	while (i < size) {
		uint8_t op = data[i++];
		uint8_t arg = op & 0x3F;
		switch (op >> 6) {
		case 0: {
			size_t n = arg <= size - i ? arg : size - i;
			controller_midi_in(&c, data + i, n, us, &sink);
			midi_clock_in_bytes(&clock, data + i, n, us, &sink);
			i += n;
			break;
		}
		case 1:
			us += (int64_t)arg * 50000;
			break;
		case 2: {
			/* Clip states, and now and then the SD card's state (values
			 * out of range too). */
			struct event ev = {.type = arg >= 54 ? EV_STORAGE : EV_CLIP_STATE,
					   .state = (uint8_t)(arg % 9),
					   .value = arg - 54};
			if (i + 2 <= size) {
				ev.track = data[i] % 9;
				ev.scene = data[i + 1] % 11;
				i += 2;
			}
			controller_engine_event(&c, &ev);
			break;
		}
		default:
			if (arg == 0x3F)
				controller_farewell(&c); /* now and then: leaving */
			else if (arg == 0x3E)
				controller_refresh(&c); /* reconnected */
			controller_poll(&c, us, &sink);
			check_output(&c, CONTROLLER_MIN_OUTPUT + arg);
			break;
		}
	}
	if (c.bank < 0 || c.bank > GL_SCENES || c.selected_track < 0 ||
	    c.selected_track >= GL_TRACKS || c.selected_scene < 0 ||
	    c.selected_scene >= GL_SCENES)
		__builtin_trap();
	check_output(&c, CONTROLLER_MIN_OUTPUT);
	return 0;
}
