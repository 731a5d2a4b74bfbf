/* test_osc.c -- the OSC handler (osc_handler.h) on bytes: the wire format
 * both ways (every type tag, every way a packet can be malformed), every
 * path of SooperLooper's namespace and gridloop's own, the state codes,
 * registrations and pushed state, and hostile input: wrong type tags,
 * unknown paths, huge strings, out-of-range numbers, too many commands in a
 * bundle, too many registrations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "osc_handler.h"

static struct osc_handler h;
static struct osc_out out;
static uint8_t buf[GL_OSC_PACKET_MAX + 64];
static int64_t clock_ms;

#define URL "osc.udp://127.0.0.1:9000/"

static int setup(void **state)
{
	(void)state;
	struct osc_handler_config cfg = {.rate = 48000,
					 .beats_per_bar = 4,
					 .quantise = QUANTISE_BAR,
					 .can_save = true,
					 .self_url = "osc.udp://127.0.0.1:9951/"};
	osc_handler_init(&h, &cfg);
	clock_ms = 1000;
	return 0;
}

static void packet(size_t len)
{
	assert_true(len > 0);
	osc_handler_packet(&h, buf, len, false, clock_ms, 0, &out);
}

/* Sends one message made by osc_encode. */
#define SEND(path, types, ...)                                                           \
	packet(osc_encode(buf, sizeof(buf), path, types, ##__VA_ARGS__))

static void tick(void)
{
	osc_handler_tick(&h, clock_ms, 0, &out);
}

static void clip_event(int t, int s, enum clip_state st)
{
	struct event ev = {.type = EV_CLIP_STATE,
			   .track = (uint8_t)t,
			   .scene = (uint8_t)s,
			   .value = st,
			   .frame = 1000};
	osc_handler_event(&h, &ev);
}

/* Decodes reply i. */
static struct osc_msg reply(int i)
{
	assert_true(i < out.nreplies);
	struct osc_msg m;
	assert_int_equal(osc_decode(out.bytes + out.reply[i].off, out.reply[i].len, &m),
			 0);
	return m;
}

static void assert_command(int i, enum command_type type, int track, int scene)
{
	assert_true(i < out.ncommands);
	assert_int_equal(out.command[i].type, type);
	assert_int_equal(out.command[i].track, track);
	assert_int_equal(out.command[i].scene, scene);
	assert_true(out.command[i].frame == 0);
}

/* One refusal to the sender (or url), naming the path, and no command. */
static void assert_refused(const char *path, const char *why_part)
{
	assert_int_equal(out.ncommands, 0);
	assert_int_equal(out.nreplies, 1);
	struct osc_msg m = reply(0);
	assert_string_equal(m.path, "/gridloop/error");
	assert_string_equal(m.types, "ss");
	assert_string_equal(m.argv[0].s, path);
	if (!strstr(m.argv[1].s, why_part))
		fail_msg("'%s' does not say '%s'", m.argv[1].s, why_part);
}

/* The value of a /get reply: i:loop s:ctrl f:value. */
static float get_value(int loop, const char *ctrl)
{
	if (loop == OSC_LOOP_GLOBAL)
		SEND("/get", "sss", ctrl, URL, "/v");
	else {
		char path[32];
		snprintf(path, sizeof(path), "/sl/%d/get", loop);
		SEND(path, "sss", ctrl, URL, "/v");
	}
	assert_int_equal(out.nreplies, 1);
	struct osc_msg m = reply(0);
	assert_string_equal(m.path, "/v");
	assert_string_equal(m.types, "isf");
	assert_int_equal(m.argv[0].i, loop);
	assert_string_equal(m.argv[1].s, ctrl);
	assert_string_equal(out.reply[0].url, URL);
	return (float)m.argv[2].f;
}

/* ---- the wire format ---- */

static void test_decode_every_type(void **state)
{
	(void)state;
	static const uint8_t p[] = {
	    '/',  'x',	0,    0,    ',', 'i', 'f', 's', 'S', 'h', 'd', 'c', 'T',
	    'F',  'N',	'I',  'b',  'm', 't', 'r', 0,	0,   0,	  0, /* 20 bytes of tags
								      */
	    0xff, 0xff, 0xff, 0xfe,				     /* i -2 */
	    0x3f, 0xc0, 0,    0,				     /* f 1.5 */
	    'a',  'b',	'c',  0,				     /* s */
	    'd',  0,	0,    0,				     /* S */
	    0,	  0,	0,    1,    0,	 0,   0,   0,		     /* h 2^32 */
	    0x40, 0x04, 0,    0,    0,	 0,   0,   0,		     /* d 2.5 */
	    0,	  0,	0,    'A',				     /* c */
	    0,	  0,	0,    5,    1,	 2,   3,   4,	5,   0,	  0,   0, /* b, 5 bytes */
	    0x90, 0x3c, 0x7f, 0,					  /* m */
	    0,	  0,	0,    0,    0,	 0,   0,   1,			  /* t */
	    1,	  2,	3,    4,					  /* r */
	};
	struct osc_msg m;
	assert_int_equal(osc_decode(p, sizeof(p), &m), 0);
	assert_string_equal(m.path, "/x");
	assert_int_equal(m.argc, 15);
	assert_int_equal(m.argv[0].i, -2);
	assert_true(m.argv[1].f == 1.5);
	assert_string_equal(m.argv[2].s, "abc");
	assert_string_equal(m.argv[3].s, "d");
	assert_true(m.argv[4].i == 4294967296LL);
	assert_true(m.argv[5].f == 2.5);
	assert_int_equal(m.argv[6].i, 'A');
	assert_int_equal(m.argv[7].i, 1);
	assert_int_equal(m.argv[8].i, 0);
	assert_int_equal(m.argv[11].blob_len, 5);
	assert_int_equal(m.argv[11].s[4], 5);
	assert_int_equal(m.argv[14].i, 0x01020304);
	/* Old-style: a path alone. */
	static const uint8_t old[] = {'/', 'p', 'i', 'n', 'g', 0, 0, 0};
	assert_int_equal(osc_decode(old, sizeof(old), &m), 0);
	assert_int_equal(m.argc, 0);
}

static void test_decode_malformed(void **state)
{
	(void)state;
	struct osc_msg m;
	size_t n = osc_encode(buf, sizeof(buf), "/sl/0/hit", "s", "record");
	assert_int_equal(osc_decode(buf, n, &m), 0);
	/* Every truncation of a good message is malformed, but its path
	 * alone (an old-style message without type tags). */
	for (size_t len = 0; len < n; len++)
		if (len != 12)
			assert_int_equal(osc_decode(buf, len, &m), -1);
	static const struct {
		const char *what;
		uint8_t b[16];
		size_t len;
	} bad[] = {
	    {"no slash", {'x', 0, 0, 0, ',', 0, 0, 0}, 8},
	    {"no terminator", {'/', 'a', 'b', 'c', 'd', 'e', 'f', 'g'}, 8},
	    {"tags without comma", {'/', 0, 0, 0, 'i', 0, 0, 0, 0, 0, 0, 1}, 12},
	    {"unknown tag", {'/', 0, 0, 0, ',', 'x', 0, 0, 0, 0, 0, 1}, 12},
	    {"missing int", {'/', 0, 0, 0, ',', 'i', 0, 0}, 8},
	    {"missing string", {'/', 0, 0, 0, ',', 's', 0, 0}, 8},
	    {"string without end",
	     {'/', 0, 0, 0, ',', 's', 0, 0, 'a', 'b', 'c', 'd'},
	     12},
	    {"blob too long", {'/', 0, 0, 0, ',', 'b', 0, 0, 0, 0, 0, 9, 1, 2, 3, 4}, 16},
	    {"blob negative", {'/', 0, 0, 0, ',', 'b', 0, 0, 0xff, 0xff, 0xff, 0xfc}, 12},
	    {"bytes left over", {'/', 0, 0, 0, ',', 0, 0, 0, 1, 2, 3, 4}, 12},
	    {"odd length", {'/', 0, 0, 0, ',', 0, 0}, 7},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (osc_decode(bad[i].b, bad[i].len, &m) != -1)
			fail_msg("%s: decoded", bad[i].what);
	/* More arguments than OSC_ARGS_MAX. */
	uint8_t many[64] = {'/', 0, 0, 0, ','};
	size_t tags_end = 4 + ((1 + OSC_ARGS_MAX + 1 + 1 + 3) & ~3u);
	memset(many + 5, 'T', OSC_ARGS_MAX + 1);
	assert_int_equal(osc_decode(many, tags_end, &m), -1);
	many[5 + OSC_ARGS_MAX] = 0;
	assert_int_equal(osc_decode(many, tags_end, &m), 0);
	assert_int_equal(m.argc, OSC_ARGS_MAX);
}

static void test_encode_limits(void **state)
{
	(void)state;
	uint8_t small[16];
	assert_int_equal(osc_encode(small, sizeof(small), "/a/long/path", "i", 1), 0);
	assert_int_equal(osc_encode(buf, sizeof(buf), "/a", "x", 1), 0);
	char too_many[OSC_ARGS_MAX + 2];
	memset(too_many, 'i', OSC_ARGS_MAX + 1);
	too_many[OSC_ARGS_MAX + 1] = '\0';
	assert_int_equal(osc_encode(buf, sizeof(buf), "/a", too_many), 0);
	size_t n = osc_encode(buf, sizeof(buf), "/abc", "isf", 7, "hi", 0.25);
	assert_int_equal(n, 8 + 8 + 4 + 4 + 4); /* "/abc" ",isf" 7 "hi" 0.25 */
	struct osc_msg m;
	assert_int_equal(osc_decode(buf, n, &m), 0);
	assert_int_equal(m.argv[0].i, 7);
	assert_string_equal(m.argv[1].s, "hi");
	assert_true(m.argv[2].f == 0.25);
}

static void test_url_split(void **state)
{
	(void)state;
	char host[32], port[8];
	static const struct {
		const char *url, *host, *port;
	} good[] = {
	    {"osc.udp://127.0.0.1:9951/", "127.0.0.1", "9951"},
	    {"osc.udp://mypc:1", "mypc", "1"},
	    {"osc.udp://[::1]:65535/x/y", "::1", "65535"},
	    {"osc.udp://a-b.local:9000/", "a-b.local", "9000"},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!osc_url_split(good[i].url, host, sizeof(host), port, sizeof(port)))
			fail_msg("%s refused", good[i].url);
		assert_string_equal(host, good[i].host);
		assert_string_equal(port, good[i].port);
	}
	const char *bad[] = {
	    NULL,
	    "",
	    "osc.tcp://h:1/",
	    "osc.udp://",
	    "osc.udp://h",
	    "osc.udp://h:/",
	    "osc.udp://:9/",
	    "osc.udp://h:0/",
	    "osc.udp://h:65536/",
	    "osc.udp://h:123456/",
	    "osc.udp://h:9x/",
	    "osc.udp://[::1/",
	    "osc.udp://[::1]/",
	    "osc.udp://[]:9/",
	    "osc.udp://h:-9/",
	    "osc.udp://h/x:9/",
	    "osc.udp://a]b:9/",
	    "osc.udp://a-host-name-longer-than-32-characters:9/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (osc_url_split(bad[i], host, sizeof(host), port, sizeof(port)))
			fail_msg("'%s' accepted", bad[i] ? bad[i] : "(null)");
	/* Such a URL gets a refusal at once, never a registration. */
	SEND("/sl/0/get", "sss", "state", "osc.udp://h:0/", "/v");
	assert_refused("/sl/0/get", "return_url");
	SEND("/gridloop/register", "ss", "osc.udp://h/", "/v");
	assert_refused("/gridloop/register", "return URL");
}

/* ---- packets the handler ignores ---- */

static void test_malformed_and_truncated_counted(void **state)
{
	(void)state;
	static const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7};
	memcpy(buf, junk, sizeof(junk));
	packet(sizeof(junk));
	size_t n = osc_encode(buf, sizeof(buf), "/sl/0/hit", "s", "record");
	osc_handler_packet(&h, buf, n, true, 0, 0, &out); /* cut by recvfrom */
	assert_int_equal(out.ncommands, 0);
	osc_handler_packet(&h, buf, GL_OSC_PACKET_MAX + 4, false, 0, 0, &out);
	assert_int_equal(h.stats.packets, 3);
	assert_int_equal(h.stats.malformed, 3);
	assert_int_equal(out.ncommands + out.nreplies, 0);
}

static void test_unknown_paths_answered_and_counted(void **state)
{
	(void)state;
	const char *paths[] = {"/nope", "/sl/0/fly",	  "/sl/x/hit", "/sl//hit",
			       "/sl/0", "/gridloop/nope", "/SL/0/hit"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		SEND(paths[i], "s", "record");
		assert_refused(paths[i], "unknown path");
	}
	assert_int_equal(h.stats.unknown, sizeof(paths) / sizeof(paths[0]));
	assert_int_equal(h.stats.refused, 0);
	assert_null(out.reply[0].url); /* to the sender */
}

static void test_sooperlooper_paths_gridloop_lacks(void **state)
{
	(void)state;
	const char *paths[] = {"/quit",
			       "/loop_add",
			       "/loop_del",
			       "/load_session",
			       "/get_all_midi_bindings",
			       "/learn_midi_binding"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		SEND(paths[i], "");
		assert_refused(paths[i], "not in gridloop");
	}
	SEND("/sl/0/save_loop", "sssss", "f.wav", "f", "e", URL, "/err");
	assert_refused("/sl/0/save_loop", "session");
	assert_string_equal(out.reply[0].url, URL);
}

static void test_huge_strings(void **state)
{
	(void)state;
	char big[GL_OSC_PACKET_MAX];
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[3000] = '\0';
	SEND(big, "");
	assert_int_equal(h.stats.unknown, 1);
	/* A command name, a return URL, a control name far too long. */
	SEND("/sl/0/hit", "s", big + 1);
	assert_refused("/sl/0/hit", "unknown SooperLooper command");
	char url[GL_OSC_STRING_MAX + 20] = URL;
	memset(url + strlen(URL), 'x', sizeof(url) - strlen(URL) - 1);
	url[sizeof(url) - 1] = '\0';
	SEND("/sl/0/get", "sss", "state", url, "/v");
	assert_refused("/sl/0/get", "return_url");
	SEND("/sl/0/register_update", "sss", "state", url, "/v");
	assert_refused("/sl/0/register_update", "return URL");
	SEND("/sl/0/register_update", "sss", big + 1, URL, "/v");
	assert_refused("/sl/0/register_update", "no such loop control");
	SEND("/gridloop/register", "ss", URL, big);
	assert_refused("/gridloop/register", "return URL");
}

static void test_wrong_type_tags(void **state)
{
	(void)state;
	SEND("/sl/0/hit", "i", 3);
	assert_refused("/sl/0/hit", "s:command");
	SEND("/sl/0/hit", "");
	assert_refused("/sl/0/hit", "s:command");
	SEND("/sl/0/hit", "ss", "record", "extra");
	assert_refused("/sl/0/hit", "s:command");
	SEND("/sl/0/set", "ss", "wet", "loud");
	assert_refused("/sl/0/set", "f:value");
	SEND("/sl/0/get", "sis", "state", 1, "/v");
	assert_refused("/sl/0/get", "s:control");
	SEND("/set", "si", "tempo", 100);
	assert_int_equal(out.ncommands, 1); /* an int is a number too */
	SEND("/set", "ss", "tempo", "120");
	assert_refused("/set", "f:value");
	SEND("/get", "s", "tempo");
	assert_refused("/get", "s:param");
	SEND("/ping", "");
	assert_refused("/ping", "return_url");
	SEND("/ping", "ss", "tcp://x:1/", "/p");
	assert_refused("/ping", "return_url");
	SEND("/gridloop/clip", "iii", 0, 0, 0);
	assert_refused("/gridloop/clip", "i:track");
	SEND("/gridloop/scene", "s", "1");
	assert_refused("/gridloop/scene", "i:scene");
	SEND("/save_session", "s", "x");
	assert_refused("/save_session", "s:filename");
	SEND("/sl/0/register_auto_update", "sss", "state", URL, "/v");
	assert_refused("/sl/0/register_auto_update", "i:ms");
	SEND("/gridloop/register", "s", URL);
	assert_refused("/gridloop/register", "s:return_url");
	SEND("/gridloop/stats", "");
	assert_refused("/gridloop/stats", "s:return_url");
}

/* ---- SooperLooper's namespace ---- */

static void test_ping(void **state)
{
	(void)state;
	SEND("/ping", "ss", URL, "/pong");
	assert_int_equal(out.nreplies, 1);
	struct osc_msg m = reply(0);
	assert_string_equal(m.path, "/pong");
	assert_string_equal(m.types, "ssi");
	assert_string_equal(m.argv[0].s, "osc.udp://127.0.0.1:9951/");
	assert_int_equal(m.argv[2].i, GL_TRACKS);
	assert_string_equal(out.reply[0].url, URL);
}

static void test_record_then_play_then_new_take(void **state)
{
	(void)state;
	SEND("/sl/2/hit", "s", "record");
	assert_int_equal(out.ncommands, 1);
	assert_command(0, CMD_PRESS, 2, 0);
	clip_event(2, 0, CLIP_RECORDING);
	SEND("/sl/2/hit", "s", "record"); /* ends the take: it plays */
	assert_command(0, CMD_PRESS, 2, 0);
	clip_event(2, 0, CLIP_PLAYING);
	/* A loop with audio is never recorded over: the next empty slot. */
	SEND("/sl/2/down", "s", "record");
	assert_command(0, CMD_PRESS, 2, 1);
	SEND("/sl/2/up", "s", "record");
	assert_int_equal(out.ncommands + out.nreplies, 0);
	SEND("/sl/2/forceup", "s", "record");
	assert_int_equal(out.ncommands + out.nreplies, 0);
	/* A full track refuses. */
	for (int s = 0; s < GL_SCENES; s++)
		clip_event(2, s, CLIP_STOPPED);
	SEND("/sl/2/hit", "s", "record");
	assert_refused("/sl/2/hit", "no empty slot");
}

static void test_all_and_selected_loops(void **state)
{
	(void)state;
	SEND("/sl/-1/hit", "s", "record");
	assert_int_equal(out.ncommands, GL_TRACKS);
	for (int t = 0; t < GL_TRACKS; t++)
		assert_command(t, CMD_PRESS, t, 0);
	SEND("/set", "sf", "selected_loop_num", 5.0);
	assert_int_equal(out.nreplies, 0);
	SEND("/sl/-3/hit", "s", "record");
	assert_int_equal(out.ncommands, 1);
	assert_command(0, CMD_PRESS, 5, 0);
	/* On all loops, those where it does not apply are skipped quietly. */
	clip_event(1, 0, CLIP_PLAYING);
	SEND("/sl/-1/hit", "s", "overdub");
	assert_int_equal(out.ncommands, 1);
	assert_int_equal(out.nreplies, 0);
	assert_command(0, CMD_OVERDUB, 1, 0);
	const char *bad[] = {"/sl/8/hit", "/sl/-2/hit", "/sl/-4/hit",
			     "/sl/99999999999/hit"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		SEND(bad[i], "s", "record");
		assert_refused(bad[i], "no such loop");
	}
	SEND("/set", "sf", "selected_loop_num", 8.0);
	assert_refused("/set", "selected_loop_num");
	SEND("/set", "sf", "selected_loop_num", 1.5);
	assert_refused("/set", "selected_loop_num");
	SEND("/set", "sf", "select_all_loops", 1.0);
	assert_true(get_value(OSC_LOOP_GLOBAL, "selected_loop_num") == -1.0f);
	SEND("/set", "sf", "select_next_loop", 1.0);
	SEND("/set", "sf", "select_next_loop", 1.0);
	assert_true(get_value(OSC_LOOP_GLOBAL, "selected_loop_num") == 1.0f);
	SEND("/set", "sf", "select_prev_loop", 1.0);
	SEND("/set", "sf", "select_prev_loop", 1.0);
	assert_true(get_value(OSC_LOOP_GLOBAL, "selected_loop_num") == 7.0f);
}

static void test_loop_operations(void **state)
{
	(void)state;
	SEND("/sl/0/hit", "s", "overdub");
	assert_refused("/sl/0/hit", "not playing");
	SEND("/sl/0/hit", "s", "undo");
	assert_refused("/sl/0/hit", "empty");
	SEND("/sl/0/hit", "s", "trigger");
	assert_refused("/sl/0/hit", "empty");
	SEND("/sl/0/hit", "s", "pause");
	assert_refused("/sl/0/hit", "neither");
	clip_event(0, 0, CLIP_PLAYING);
	SEND("/sl/0/hit", "s", "overdub");
	assert_command(0, CMD_OVERDUB, 0, 0);
	SEND("/sl/0/hit", "s", "undo");
	assert_command(0, CMD_UNDO, 0, 0);
	SEND("/sl/0/hit", "s", "redo");
	assert_command(0, CMD_REDO, 0, 0);
	SEND("/sl/0/hit", "s", "trigger");
	assert_refused("/sl/0/hit", "does not restart");
	SEND("/sl/0/hit", "s", "pause");
	assert_command(0, CMD_STOP_CLIP, 0, 0);
	clip_event(0, 0, CLIP_STOPPED);
	SEND("/sl/0/hit", "s", "pause");
	assert_command(0, CMD_PRESS, 0, 0);
	SEND("/sl/0/hit", "s", "trigger");
	assert_command(0, CMD_PRESS, 0, 0);
	SEND("/sl/0/hit", "s", "mute");
	assert_command(0, CMD_MUTE, 0, 0);
	assert_true(out.command[0].value == 1.0f);
	SEND("/sl/0/hit", "s", "mute");
	assert_true(out.command[0].value == 0.0f);
	SEND("/sl/0/hit", "s", "mute_on");
	assert_true(out.command[0].value == 1.0f);
	SEND("/sl/0/hit", "s", "mute_on");
	assert_true(out.command[0].value == 1.0f);
	SEND("/sl/0/hit", "s", "mute_off");
	assert_true(out.command[0].value == 0.0f);
	/* The loop operations: on a loop with audio, the engine's commands. */
	const char *opname[] = {"multiply", "insert",  "replace",  "substitute",
				"reverse",  "oneshot", "undo_all", "redo_all"};
	const int optype[] = {CMD_MULTIPLY, CMD_INSERT,	 CMD_REPLACE,  CMD_SUBSTITUTE,
			      CMD_REVERSE,  CMD_ONESHOT, CMD_UNDO_ALL, CMD_REDO_ALL};
	for (size_t i = 0; i < sizeof(opname) / sizeof(opname[0]); i++) {
		SEND("/sl/0/hit", "s", opname[i]);
		if (out.nreplies)
			fail_msg("%s: %s", opname[i], reply(0).argv[1].s);
		assert_command(0, optype[i], 0, 0);
	}
	clip_event(0, 0, CLIP_EMPTY);
	SEND("/sl/0/hit", "s", "multiply");
	assert_refused("/sl/0/hit", "empty");
	clip_event(0, 0, CLIP_STOPPED);
	const char *missing[] = {"solo", "record_solo", "set_sync_pos"};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		SEND("/sl/0/hit", "s", missing[i]);
		assert_refused("/sl/0/hit", "no such loop operation");
	}
	SEND("/sl/0/hit", "s", "fly");
	assert_refused("/sl/0/hit", "unknown SooperLooper command");
	/* A symbol (S) is a string too. */
	static const uint8_t sym[] = {'/', 's', 'l', '/', '0', '/', 'h', 'i',
				      't', 0,	0,   0,	  ',', 'S', 0,	 0,
				      'u', 'n', 'd', 'o', 0,   0,   0,	 0};
	memcpy(buf, sym, sizeof(sym));
	packet(sizeof(sym));
	assert_command(0, CMD_UNDO, 0, 0);
}

static void test_state_codes(void **state)
{
	(void)state;
	static const struct {
		enum clip_state st;
		int sl;
	} map[] = {{CLIP_EMPTY, 0},	  {CLIP_RECORD_QUEUED, 1}, {CLIP_RECORDING, 2},
		   {CLIP_PLAY_QUEUED, 3}, /* after recording: its end waits */
		   {CLIP_PLAYING, 4},	  {CLIP_OVERDUBBING, 5},   {CLIP_PLAYING, 4},
		   {CLIP_STOP_QUEUED, 4}, {CLIP_STOPPED, 14},	   {CLIP_PLAY_QUEUED, 1},
		   {CLIP_PLAYING, 4}};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		clip_event(3, 0, map[i].st);
		if (get_value(3, "state") != (float)map[i].sl)
			fail_msg("step %zu: state %d: SooperLooper %g, want %d", i,
				 map[i].st, (double)get_value(3, "state"), map[i].sl);
	}
	clip_event(3, 0, CLIP_STOP_QUEUED);
	assert_true(get_value(3, "next_state") == 14.0f);
	assert_true(get_value(3, "waiting") == 1.0f);
	clip_event(3, 0, CLIP_PLAYING);
	assert_true(get_value(3, "waiting") == 0.0f);
	struct event mute = {
	    .type = EV_SETTING, .aux = CMD_MUTE, .track = 3, .value = 1000000};
	osc_handler_event(&h, &mute);
	assert_true(get_value(3, "state") == 10.0f);
	clip_event(3, 0, CLIP_EMPTY);
	assert_true(get_value(3, "state") == 20.0f);
	assert_int_equal(osc_sl_state(&h, 3), 20);
	/* The pass an overdubbing clip runs: SooperLooper's own codes. */
	static const int pass_code[] = {5, 8, 13, 6, 7};
	for (int p = 0; p <= CLIP_PASS_INSERT; p++) {
		struct event ev = {.type = EV_CLIP_STATE,
				   .track = 3,
				   .value = CLIP_OVERDUBBING,
				   .state = CLIP_OVERDUBBING,
				   .aux = p};
		osc_handler_event(&h, &ev);
		assert_int_equal(osc_sl_state(&h, 3), pass_code[p]);
	}
	/* Events out of range are ignored. */
	clip_event(8, 0, CLIP_PLAYING);
	clip_event(0, 10, CLIP_PLAYING);
	clip_event(0, 0, (enum clip_state)99);
	assert_true(get_value(0, "state") == 0.0f);
}

static void test_loop_controls(void **state)
{
	(void)state;
	struct event done = {.type = EV_RECORD_DONE, .track = 1, .value = 96000};
	osc_handler_event(&h, &done);
	struct event ev = {
	    .type = EV_CLIP_STATE, .track = 1, .value = CLIP_PLAYING, .frame = 48000};
	osc_handler_event(&h, &ev);
	assert_true(get_value(1, "loop_len") == 2.0f);
	osc_handler_packet(&h, buf, 0, true, clock_ms, 48000 + 96000 + 24000, &out);
	assert_true(fabsf(get_value(1, "loop_pos") - 0.5f) < 1e-6f);
	assert_true(get_value(1, "cycle_len") == 0.0f); /* no tempo yet */
	struct event tempo = {.type = EV_TEMPO, .value = 120000, .aux = 3};
	osc_handler_event(&h, &tempo);
	assert_true(get_value(1, "cycle_len") == 1.5f);
	assert_true(get_value(OSC_LOOP_GLOBAL, "tempo") == 120.0f);
	assert_true(get_value(OSC_LOOP_GLOBAL, "eighth_per_cycle") == 6.0f);
	assert_true(get_value(1, "rate") == 1.0f);
	assert_true(get_value(1, "rate_output") == 1.0f);
	assert_true(get_value(1, "is_soloed") == 0.0f);
	assert_true(get_value(1, "quantize") == 1.0f);
	assert_true(get_value(1, "wet") == 1.0f);
	struct event vol = {
	    .type = EV_SETTING, .aux = CMD_TRACK_VOLUME, .track = 1, .value = 500000};
	osc_handler_event(&h, &vol);
	assert_true(get_value(1, "wet") == 0.5f);
	/* -1: one reply per loop. */
	SEND("/sl/-1/get", "sss", "state", URL, "/v");
	assert_int_equal(out.nreplies, GL_TRACKS);
	SEND("/sl/1/get", "sss", "in_peak_meter", URL, "/v");
	assert_refused("/sl/1/get", "no such loop control");
	assert_string_equal(out.reply[0].url, URL);
}

static void test_loop_sets(void **state)
{
	(void)state;
	SEND("/sl/4/set", "sf", "wet", 0.25);
	assert_command(0, CMD_TRACK_VOLUME, 4, 0);
	assert_true(out.command[0].value == 0.25f);
	SEND("/sl/-1/set", "si", "wet", 1);
	assert_int_equal(out.ncommands, GL_TRACKS);
	SEND("/sl/4/set", "sf", "wet", 2.5);
	assert_refused("/sl/4/set", "wet");
	SEND("/sl/4/set", "sf", "wet", -0.1);
	assert_refused("/sl/4/set", "wet");
	SEND("/sl/4/set", "sf", "rate", 1.0);
	assert_int_equal(out.ncommands + out.nreplies, 0);
	SEND("/sl/4/set", "sf", "rate", 2.0);
	assert_refused("/sl/4/set", "rate 1 only");
	SEND("/sl/4/set", "sf", "quantize", 0.0);
	assert_command(0, CMD_SET_QUANTISE, 0, 0);
	assert_true(out.command[0].value == QUANTISE_OFF);
	SEND("/sl/4/set", "sf", "quantize", 2.0);
	assert_true(out.command[0].value == QUANTISE_BEAT);
	SEND("/sl/4/set", "sf", "quantize", 3.0);
	assert_refused("/sl/4/set", "quantize");
	SEND("/sl/4/set", "sf", "feedback", 0.5);
	assert_refused("/sl/4/set", "no such loop control");
	/* NaN and infinity are no numbers. */
	SEND("/sl/4/set", "sf", "wet", (double)NAN);
	assert_refused("/sl/4/set", "f:value");
	SEND("/set", "sf", "tempo", (double)INFINITY);
	assert_refused("/set", "f:value");
}

static void test_global_sets_and_gets(void **state)
{
	(void)state;
	SEND("/set", "sf", "tempo", 120.0);
	assert_command(0, CMD_SET_TEMPO, 0, 0);
	assert_true(out.command[0].value == 120.0f);
	SEND("/set", "sf", "tempo", 29.9);
	assert_refused("/set", "tempo");
	SEND("/set", "sf", "tempo", 301.0);
	assert_refused("/set", "tempo");
	SEND("/set", "sf", "tap_tempo", 1.0);
	assert_command(0, CMD_TAP_TEMPO, 0, 0);
	SEND("/set", "sf", "eighth_per_cycle", 6.0);
	assert_command(0, CMD_SET_METER, 0, 0);
	assert_true(out.command[0].value == 3.0f);
	SEND("/set", "sf", "eighth_per_cycle", 7.0);
	assert_refused("/set", "eighth_per_cycle");
	SEND("/set", "sf", "eighth_per_cycle", 34.0);
	assert_refused("/set", "eighth_per_cycle");
	SEND("/set", "sf", "wet", 0.5);
	assert_command(0, CMD_MASTER_VOLUME, 0, 0);
	SEND("/set", "sf", "wet", 5.0);
	assert_refused("/set", "wet");
	SEND("/set", "sf", "sync_source", -3.0);
	assert_refused("/set", "[sync] clock");
	SEND("/set", "sf", "dry", 1.0);
	assert_refused("/set", "no such global");
	assert_true(get_value(OSC_LOOP_GLOBAL, "sync_source") == -3.0f);
	assert_true(get_value(OSC_LOOP_GLOBAL, "output_midi_clock") == 1.0f);
	assert_true(get_value(OSC_LOOP_GLOBAL, "wet") == 1.0f);
	assert_true(get_value(OSC_LOOP_GLOBAL, "selected_loop_num") == 0.0f);
	SEND("/get", "sss", "dry", URL, "/v");
	assert_refused("/get", "no such global");
	assert_string_equal(out.reply[0].url, URL);
	/* Link's peer count, as the server last set it; without Link, an
	 * error that says so (not a 0 that looks like an empty session). */
	SEND("/get", "sss", "link_peers", URL, "/v");
	assert_refused("/get", "[sync] link = no");
	h.cfg.link = true;
	assert_true(get_value(OSC_LOOP_GLOBAL, "link_peers") == 0.0f);
	h.link_peers = 9;
	assert_true(get_value(OSC_LOOP_GLOBAL, "link_peers") == 9.0f);
	SEND("/set", "sf", "link_peers", 3.0);
	assert_refused("/set", "no such global");
	/* register_update pushes it when it changes. */
	SEND("/register_update", "sss", "link_peers", URL, "/lp");
	tick();
	assert_int_equal(out.nreplies, 1);
	assert_true(reply(0).argv[2].f == 9.0f);
	tick();
	assert_int_equal(out.nreplies, 0);
	h.link_peers = 8;
	tick();
	assert_int_equal(out.nreplies, 1);
	assert_true(reply(0).argv[2].f == 8.0f);
	/* sync_source: MIDI clock in (-2) only when it is followed; with
	 * leader = link the session leads, which is none of SooperLooper's
	 * sources: internal (-3). Link off: MIDI clock in leads. */
	h.cfg.clock_external = true;
	assert_true(get_value(OSC_LOOP_GLOBAL, "sync_source") == -2.0f);
	h.cfg.link_leads = true;
	assert_true(get_value(OSC_LOOP_GLOBAL, "sync_source") == -3.0f);
	h.cfg.link = false;
	assert_true(get_value(OSC_LOOP_GLOBAL, "sync_source") == -2.0f);
	assert_true(get_value(OSC_LOOP_GLOBAL, "output_midi_clock") == 0.0f);
}

static void test_save_session(void **state)
{
	(void)state;
	SEND("/save_session", "sss", "/home/x.slsess", URL, "/err");
	assert_command(0, CMD_REQUEST, 0, 0);
	assert_true(out.command[0].value == REQUEST_SAVE);
	h.cfg.can_save = false;
	SEND("/save_session", "sss", "/home/x.slsess", URL, "/err");
	assert_int_equal(out.ncommands, 0);
	assert_int_equal(out.nreplies, 1);
	struct osc_msg m = reply(0);
	assert_string_equal(m.path, "/err");
	assert_non_null(strstr(m.argv[0].s, "[session] dir"));
}

/* ---- registrations and pushes ---- */

static void test_register_update_pushes_changes(void **state)
{
	(void)state;
	SEND("/sl/0/register_update", "sss", "state", URL, "/u");
	assert_int_equal(out.nreplies + out.ncommands, 0);
	tick(); /* the first value */
	assert_int_equal(out.nreplies, 1);
	struct osc_msg m = reply(0);
	assert_string_equal(m.path, "/u");
	assert_int_equal(m.argv[0].i, 0);
	assert_true(m.argv[2].f == 0.0);
	tick();
	assert_int_equal(out.nreplies, 0); /* nothing changed */
	clip_event(0, 0, CLIP_RECORDING);
	tick();
	assert_int_equal(out.nreplies, 1);
	assert_true(reply(0).argv[2].f == 2.0);
	/* Registering twice is one registration. */
	SEND("/sl/0/register_update", "sss", "state", URL, "/u");
	clip_event(0, 0, CLIP_PLAYING);
	tick();
	assert_int_equal(out.nreplies, 1);
	SEND("/sl/0/unregister_update", "sss", "state", URL, "/u");
	clip_event(0, 0, CLIP_STOPPED);
	tick();
	assert_int_equal(out.nreplies, 0);
	/* Global, on all loops, and a control gridloop has not. */
	SEND("/register_update", "sss", "tempo", URL, "/g");
	SEND("/sl/-1/register_update", "sss", "state", URL, "/a");
	tick();
	assert_int_equal(out.nreplies, 1 + GL_TRACKS);
	assert_int_equal(reply(0).argv[0].i, OSC_LOOP_GLOBAL);
	SEND("/register_update", "sss", "dry", URL, "/g");
	assert_refused("/register_update", "no such global");
	SEND("/unregister_update", "sss", "tempo", URL, "/g");
	struct event tempo = {.type = EV_TEMPO, .value = 90000, .aux = 4};
	osc_handler_event(&h, &tempo);
	tick();
	assert_int_equal(out.nreplies, 0);
}

static void test_auto_update_interval(void **state)
{
	(void)state;
	SEND("/sl/0/register_auto_update", "siss", "loop_pos", 55, URL, "/p");
	tick();
	assert_int_equal(out.nreplies, 1);	    /* the first value at once */
	assert_int_equal(h.reg[0].interval_ms, 50); /* rounded down to 10 ms */
	clip_event(0, 0, CLIP_PLAYING);
	struct event done = {.type = EV_RECORD_DONE, .track = 0, .value = 480000};
	osc_handler_event(&h, &done);
	clock_ms += 20;
	osc_handler_tick(&h, clock_ms, 1000 + 4800, &out);
	assert_int_equal(out.nreplies, 0); /* not due */
	clock_ms += 30;
	osc_handler_tick(&h, clock_ms, 1000 + 4800, &out);
	assert_int_equal(out.nreplies, 1);
	assert_true(fabs(reply(0).argv[2].f - 0.1) < 1e-6);
	clock_ms += 50;
	tick(); /* due, but unchanged (frame 0 is older than now) */
	assert_int_equal(out.nreplies, 0);
	/* Intervals are held to 10..100 ms. */
	SEND("/sl/1/register_auto_update", "siss", "state", 1, URL, "/p");
	SEND("/sl/2/register_auto_update", "siss", "state", 100000, URL, "/p");
	assert_int_equal(h.reg[1].interval_ms, GL_OSC_AUTO_MS_MIN);
	assert_int_equal(h.reg[2].interval_ms, GL_OSC_AUTO_MS_MAX);
	SEND("/sl/0/unregister_auto_update", "sss", "loop_pos", URL, "/p");
	assert_int_equal(h.reg[0].kind, 0);
	SEND("/register_auto_update", "siss", "tempo", 10, URL, "/t");
	assert_int_equal(out.nreplies, 0);
	SEND("/unregister_auto_update", "sss", "tempo", URL, "/t");
}

static void test_registrations_are_bounded(void **state)
{
	(void)state;
	char path[32];
	for (int i = 0; i < GL_OSC_CLIENTS_MAX; i++) {
		snprintf(path, sizeof(path), "/c%d", i);
		SEND("/sl/0/register_update", "sss", "state", URL, path);
		assert_int_equal(out.nreplies, 0);
	}
	SEND("/sl/0/register_update", "sss", "state", URL, "/one_more");
	assert_refused("/sl/0/register_update", "too many registrations");
	/* Unregistering one that is not there is fine; one that is makes room. */
	SEND("/sl/0/unregister_update", "sss", "state", URL, "/never");
	assert_int_equal(out.nreplies, 0);
	SEND("/sl/0/unregister_update", "sss", "state", URL, "/c7");
	SEND("/sl/0/register_update", "sss", "state", URL, "/one_more");
	assert_int_equal(out.nreplies, 0);
}

static void test_grid_pushes_every_slot(void **state)
{
	(void)state;
	SEND("/gridloop/register", "ss", URL, "/slot");
	tick();
	assert_int_equal(out.nreplies, GL_SLOTS);
	for (int i = 0; i < GL_SLOTS; i++) {
		struct osc_msg m = reply(i);
		assert_string_equal(m.path, "/slot");
		assert_string_equal(m.types, "iisf");
		assert_int_equal(m.argv[0].i, i % GL_TRACKS);
		assert_int_equal(m.argv[1].i, i / GL_TRACKS);
		assert_string_equal(m.argv[2].s, "empty");
	}
	tick();
	assert_int_equal(out.nreplies, 0);
	/* The engine reports the new state first, then the take's length
	 * (EV_RECORD_DONE): both reach the client. */
	clip_event(7, 9, CLIP_PLAYING);
	tick();
	assert_int_equal(out.nreplies, 1);
	struct osc_msg m = reply(0);
	assert_int_equal(m.argv[0].i, 7);
	assert_int_equal(m.argv[1].i, 9);
	assert_string_equal(m.argv[2].s, "playing");
	struct event done = {
	    .type = EV_RECORD_DONE, .track = 7, .scene = 9, .value = 24000};
	osc_handler_event(&h, &done);
	tick();
	assert_int_equal(out.nreplies, 1);
	m = reply(0);
	assert_string_equal(m.argv[2].s, "playing");
	assert_true(m.argv[3].f == 0.5);
	/* Many grid clients: what does not fit in one call comes on the next. */
	char path[32];
	for (int i = 0; i < 9; i++) {
		snprintf(path, sizeof(path), "/g%d", i);
		SEND("/gridloop/register", "ss", URL, path);
	}
	tick();
	assert_int_equal(out.nreplies, OSC_OUT_REPLIES);
	tick();
	assert_int_equal(out.nreplies, 9 * GL_SLOTS - OSC_OUT_REPLIES);
	tick();
	assert_int_equal(out.nreplies, 0);
	SEND("/gridloop/unregister", "ss", URL, "/slot");
	for (int i = 0; i < 9; i++) {
		snprintf(path, sizeof(path), "/g%d", i);
		SEND("/gridloop/unregister", "ss", URL, path);
	}
	clip_event(7, 9, CLIP_STOPPED);
	tick();
	assert_int_equal(out.nreplies, 0);
}

/* ---- gridloop's own commands ---- */

static void test_grid_commands(void **state)
{
	(void)state;
	static const struct {
		const char *action;
		enum command_type type;
	} actions[] = {{"press", CMD_PRESS},	{"clear", CMD_CLEAR},
		       {"stop", CMD_STOP_CLIP}, {"overdub", CMD_OVERDUB},
		       {"undo", CMD_UNDO},	{"redo", CMD_REDO}};
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		SEND("/gridloop/clip", "iis", 7, 9, actions[i].action);
		assert_int_equal(out.ncommands, 1);
		assert_command(0, actions[i].type, 7, 9);
	}
	SEND("/gridloop/clip", "ffs", 1.0, 2.0, "press"); /* TouchOSC sends floats */
	assert_command(0, CMD_PRESS, 1, 2);
	SEND("/gridloop/clip", "iis", 8, 0, "press");
	assert_refused("/gridloop/clip", "i:track");
	SEND("/gridloop/clip", "iis", 0, 10, "press");
	assert_refused("/gridloop/clip", "i:track");
	SEND("/gridloop/clip", "iis", -1, 0, "press");
	assert_refused("/gridloop/clip", "i:track");
	SEND("/gridloop/clip", "fis", 0.5, 0, "press");
	assert_refused("/gridloop/clip", "i:track");
	SEND("/gridloop/clip", "iis", 0, 0, "explode");
	assert_refused("/gridloop/clip", "action");
	SEND("/gridloop/scene", "i", 9);
	assert_command(0, CMD_LAUNCH_SCENE, 0, 9);
	SEND("/gridloop/scene", "i", 10);
	assert_refused("/gridloop/scene", "i:scene");
	SEND("/gridloop/stop_all", "");
	assert_command(0, CMD_STOP_ALL, 0, 0);
	SEND("/gridloop/stop_all", "i", 1);
	assert_refused("/gridloop/stop_all", "no arguments");
	/* A press makes that clip SooperLooper's loop of its track. */
	clip_event(3, 4, CLIP_RECORDING);
	SEND("/sl/3/hit", "s", "record");
	assert_command(0, CMD_PRESS, 3, 4);
}

static void test_stats_reply(void **state)
{
	(void)state;
	SEND("/nope", "");
	SEND("/gridloop/stop_all", "");
	SEND("/gridloop/stats", "ss", URL, "/st");
	assert_int_equal(out.nreplies, 1);
	struct osc_msg m = reply(0);
	assert_string_equal(m.types, "iiiiiii");
	assert_int_equal(m.argv[0].i, 3); /* packets */
	assert_int_equal(m.argv[2].i, 1); /* unknown */
	assert_int_equal(m.argv[4].i, 1); /* commands */
}

/* ---- bundles ---- */

static size_t bundle(uint8_t *b, const uint8_t *elem, size_t n, int count)
{
	memcpy(b, "#bundle\0\0\0\0\0\0\0\0\1", 16);
	size_t at = 16;
	for (int i = 0; i < count; i++) {
		b[at] = (uint8_t)(n >> 24);
		b[at + 1] = (uint8_t)(n >> 16);
		b[at + 2] = (uint8_t)(n >> 8);
		b[at + 3] = (uint8_t)n;
		memcpy(b + at + 4, elem, n);
		at += 4 + n;
	}
	return at;
}

static void test_bundles(void **state)
{
	(void)state;
	uint8_t msg[64], b[8192];
	size_t n = osc_encode(msg, sizeof(msg), "/gridloop/stop_all", "");
	size_t len = bundle(b, msg, n, 2);
	osc_handler_packet(&h, b, len, false, 0, 0, &out);
	assert_int_equal(out.ncommands, 2);
	/* More commands than one call may make: the rest dropped, counted. */
	len = bundle(b, msg, n, OSC_OUT_COMMANDS + 5);
	assert_true(len <= GL_OSC_PACKET_MAX);
	osc_handler_packet(&h, b, len, false, 0, 0, &out);
	assert_int_equal(out.ncommands, OSC_OUT_COMMANDS);
	assert_int_equal(h.stats.commands_dropped, 5);
	/* Nested too deep. */
	uint8_t inner[512], outer[512];
	len = bundle(inner, msg, n, 1);
	for (int d = 0; d < OSC_BUNDLE_DEPTH; d++) {
		size_t l2 = bundle(outer, inner, len, 1);
		memcpy(inner, outer, l2);
		len = l2;
	}
	uint64_t before = h.stats.malformed;
	osc_handler_packet(&h, inner, len, false, 0, 0, &out);
	assert_int_equal(h.stats.malformed, before + 1);
	/* An element that claims more than there is, after a good one: the
	 * bundle is ignored as a whole, the good one is not done. */
	len = bundle(b, msg, n, 2);
	b[16 + 4 + n + 3] += 4;
	osc_handler_packet(&h, b, len, false, 0, 0, &out);
	assert_int_equal(h.stats.malformed, before + 2);
	assert_int_equal(out.ncommands, 0);
	/* An empty bundle is fine and does nothing. */
	osc_handler_packet(&h, b, 16, false, 0, 0, &out);
	assert_int_equal(h.stats.malformed, before + 2);
	assert_int_equal(out.ncommands, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
	const struct CMUnitTest tests[] = {
	    T(test_decode_every_type),
	    T(test_decode_malformed),
	    T(test_encode_limits),
	    T(test_url_split),
	    T(test_malformed_and_truncated_counted),
	    T(test_unknown_paths_answered_and_counted),
	    T(test_sooperlooper_paths_gridloop_lacks),
	    T(test_huge_strings),
	    T(test_wrong_type_tags),
	    T(test_ping),
	    T(test_record_then_play_then_new_take),
	    T(test_all_and_selected_loops),
	    T(test_loop_operations),
	    T(test_state_codes),
	    T(test_loop_controls),
	    T(test_loop_sets),
	    T(test_global_sets_and_gets),
	    T(test_save_session),
	    T(test_register_update_pushes_changes),
	    T(test_auto_update_interval),
	    T(test_registrations_are_bounded),
	    T(test_grid_pushes_every_slot),
	    T(test_grid_commands),
	    T(test_stats_reply),
	    T(test_bundles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
