/* test_midi_map.c -- the built-in APC40 mk1 mapping: each control, the
 * channel rules, and the MIDI byte stream rules (running status, real-time
 * bytes, SysEx, broken messages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "midi_map.h"

#define MAXC 8

struct mapped {
	struct command c[MAXC];
	int n;
	const char *why;
};

static struct mapped map(const uint8_t *bytes, size_t len)
{
	struct mapped m = {.why = NULL};
	m.n = midi_map_bytes(bytes, len, m.c, MAXC, &m.why);
	return m;
}
#define MAP(...)                                                                         \
	map((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static void assert_one(struct mapped m, int type, int track, int scene)
{
	assert_int_equal(m.n, 1);
	assert_int_equal(m.c[0].type, type);
	assert_int_equal(m.c[0].track, track);
	assert_int_equal(m.c[0].scene, scene);
	assert_true(m.c[0].frame == 0);
}

static void test_clip_pads(void **state)
{
	(void)state;
	assert_one(MAP(0x90, 53, 0x7f), CMD_PRESS, 0, 0);
	assert_one(MAP(0x90, 57, 1), CMD_PRESS, 0, 4);
	assert_one(MAP(0x97, 55, 0x40), CMD_PRESS, 7, 2);
	/* Channels 8..15 are no tracks. */
	assert_int_equal(MAP(0x98, 53, 0x7f).n, 0);
	/* Next to the pads: 58 is no pad, 52 is clip stop. */
	assert_int_equal(MAP(0x90, 58, 0x7f).n, 0);
}

static void test_releases_do_nothing(void **state)
{
	(void)state;
	assert_int_equal(MAP(0x80, 53, 0x7f).n, 0);
	assert_int_equal(MAP(0x90, 53, 0).n, 0); /* note on, velocity 0 = release */
}

static void test_buttons(void **state)
{
	(void)state;
	assert_one(MAP(0x90, 82, 0x7f), CMD_LAUNCH_SCENE, 0, 0);
	assert_one(MAP(0x90, 86, 0x7f), CMD_LAUNCH_SCENE, 0, 4);
	assert_int_equal(MAP(0x91, 82, 0x7f).n, 0); /* scene launch is on channel 0 */
	assert_one(MAP(0x90, 81, 0x7f), CMD_STOP_ALL, 0, 0);
	assert_one(MAP(0x93, 52, 0x7f), CMD_STOP_TRACK, 3, 0);
	assert_one(MAP(0x90, 99, 0x7f), CMD_TAP_TEMPO, 0, 0);
}

static void test_faders(void **state)
{
	(void)state;
	struct mapped m = MAP(0xB2, 7, 0x7f);
	assert_one(m, CMD_TRACK_VOLUME, 2, 0);
	assert_true(m.c[0].value == 1.0f);
	m = MAP(0xB5, 7, 0);
	assert_one(m, CMD_TRACK_VOLUME, 5, 0);
	assert_true(m.c[0].value == 0.0f);
	m = MAP(0xB0, 14, 64);
	assert_one(m, CMD_MASTER_VOLUME, 0, 0);
	assert_float_equal(m.c[0].value, 64.0f / 127.0f, 1e-7);
	assert_int_equal(MAP(0xB1, 14, 64).n, 0); /* master is on channel 0 */
	assert_int_equal(MAP(0xB0, 15, 64).n, 0); /* crossfader: not mapped */
}

static void test_byte_stream(void **state)
{
	(void)state;
	/* Running status: two presses under one status byte. */
	struct mapped m = MAP(0x91, 53, 0x7f, 54, 0x7f);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.c[1].track, 1);
	assert_int_equal(m.c[1].scene, 1);
	/* A real-time byte inside a message is skipped. */
	assert_one(MAP(0x90, 0xF8, 53, 0xFE, 0x7f), CMD_PRESS, 0, 0);
	/* SysEx (the APC40 introduction message) is skipped whole. */
	assert_one(MAP(0xF0, 0x47, 0x7f, 0x73, 0x60, 0x00, 0x04, 0x41, 1, 0, 0, 0xF7,
		       0x90, 53, 0x7f),
		   CMD_PRESS, 0, 0);
	/* Program change has one data byte; then the next message is read. */
	assert_one(MAP(0xC0, 5, 0x90, 53, 0x7f), CMD_PRESS, 0, 0);
}

static void test_broken_bytes(void **state)
{
	(void)state;
	struct mapped m = MAP(53, 0x7f);
	assert_int_equal(m.n, -1);
	assert_string_equal(m.why, "data byte without a status byte");
	m = MAP(0x90, 53);
	assert_int_equal(m.n, -1);
	assert_string_equal(m.why, "incomplete MIDI message");
	m = MAP(0x90, 53, 0x90);
	assert_int_equal(m.n, -1);
	assert_string_equal(m.why, "status byte inside a MIDI message");
	m = MAP(0xF0, 0x47, 0x7f);
	assert_int_equal(m.n, -1);
	assert_string_equal(m.why, "SysEx without its end byte F7");
	/* System common messages end running status. */
	m = MAP(0x90, 53, 0x7f, 0xF6, 54, 0x7f);
	assert_int_equal(m.n, -1);
}

static void test_room_for_commands(void **state)
{
	(void)state;
	const uint8_t three[] = {0x90, 53, 1, 54, 1, 55, 1};
	struct command c[2];
	const char *why = NULL;
	assert_int_equal(midi_map_bytes(three, sizeof(three), c, 2, &why), -1);
	assert_string_equal(why, "too many commands in one MIDI line");
	assert_int_equal(midi_map_bytes(three, 0, c, 2, &why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clip_pads),
	    cmocka_unit_test(test_releases_do_nothing),
	    cmocka_unit_test(test_buttons),
	    cmocka_unit_test(test_faders),
	    cmocka_unit_test(test_byte_stream),
	    cmocka_unit_test(test_broken_bytes),
	    cmocka_unit_test(test_room_for_commands),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
