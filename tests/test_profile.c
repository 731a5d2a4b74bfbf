/* test_profile.c -- the controller profile format: the built-in profiles
 * load and mean what their controllers send, every kind of mistake is
 * refused with "file:line: what", a broken file does not stop the others
 * from loading, and ports and inquiry replies find the right profile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profile.h"
#include "profile_files.h"

#define PROFILES "board/profiles"

static struct profile prof;
static char err[512];

static const char *parse(const char *text)
{
	return profile_parse(&prof, "t.profile", text, strlen(text), err, sizeof(err));
}

static void load_builtin(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), PROFILES "/%s", name);
	const char *why = profile_load(&prof, path, err, sizeof(err));
	if (why)
		fail_msg("%s", why);
}

/* A minimal valid profile around some [map] lines. */
static const char *parse_map(const char *map)
{
	static char text[2048];
	snprintf(text, sizeof(text),
		 "[controller]\nname = T\nrows = 5\n[map]\n%s\n[leds]\n"
		 "empty = 0\nrecord_queued = 4\nrecording = 3\nplay_queued = 2\n"
		 "playing = 1\noverdubbing = 3\nstop_queued = 6\nstopped = 5\n",
		 map);
	return parse(text);
}

static void assert_refused(const char *why, const char *expected)
{
	assert_non_null(why);
	assert_ptr_equal(why, err);
	assert_string_equal(why, expected);
}

static void assert_control(const struct profile_control *c, int kind, int channel,
			   int number)
{
	assert_true(c->present);
	assert_int_equal(c->kind, kind);
	assert_int_equal(c->channel, channel);
	assert_int_equal(c->number, number);
}

static void test_apc40_mk1(void **state)
{
	(void)state;
	load_builtin("apc40.profile");
	assert_string_equal(prof.name, "APC40 mk1");
	assert_int_equal(prof.rows, 5);
	static const uint8_t intro[] = {0xF0, 0x47, 0x7F, 0x73, 0x60, 0x00,
					0x04, 0x41, 0x01, 0x00, 0x00, 0xF7};
	assert_int_equal(prof.intro_len, sizeof(intro));
	assert_memory_equal(prof.intro, intro, sizeof(intro));
	assert_int_equal(prof.inquiry_len, 2);
	assert_int_equal(prof.inquiry[1], 0x73);
	/* Pads: note 53 + row on the track's channel. */
	for (int y = 0; y < 5; y++)
		for (int x = 0; x < 8; x++)
			assert_control(&prof.pad_out[y][x], KIND_NOTE, x, 53 + y);
	assert_false(prof.pad_out[5][0].present);
	assert_control(&prof.scene_out[4], KIND_NOTE, 0, 86);
	/* Akai's LED table has no LED for REC (93): record arm shows on
	 * MIDI OVERDUB (0x40); METRONOME is 0x41, mapped and lit (it was
	 * only shift + tap before). */
	assert_control(&prof.record_arm_out, KIND_NOTE, 0, 0x40);
	assert_control(&prof.metronome_out, KIND_NOTE, 0, 0x41);
	for (int x = 0; x < 8; x++)
		assert_control(&prof.stop_out[x], KIND_NOTE, x, 52);
	assert_true(prof.group_lit[GROUP_STOP]);
	/* The device inquiry as Akai's document writes it, and Generic mode
	 * (0x40) at exit. */
	uint8_t req[6];
	assert_int_equal(profile_inquiry_request(&prof, req), 6);
	assert_memory_equal(req, ((uint8_t[]){0xF0, 0x7E, 0x00, 0x06, 0x01, 0xF7}), 6);
	static const uint8_t outro[] = {0xF0, 0x47, 0x7F, 0x73, 0x60, 0x00,
					0x04, 0x40, 0x01, 0x00, 0x00, 0xF7};
	assert_int_equal(prof.outro_len, sizeof(outro));
	assert_memory_equal(prof.outro, outro, sizeof(outro));
	assert_false(prof.clock);
	assert_int_equal(prof.state_led[CLIP_STOPPED].velocity, 5);
	assert_int_equal(prof.state_led[CLIP_PLAY_QUEUED].velocity, 2);
	assert_int_equal(prof.state_led[CLIP_PLAYING].channel, -1);
	assert_true(prof.has_button_leds);
}

static void test_apc40_mk2(void **state)
{
	(void)state;
	load_builtin("apc40mk2.profile");
	assert_int_equal(prof.rows, 5);
	assert_int_equal(prof.intro[3], 0x29);
	/* note = 32 + track - 8 * row, all on channel 0. */
	for (int y = 0; y < 5; y++)
		for (int x = 0; x < 8; x++)
			assert_control(&prof.pad_out[y][x], KIND_NOTE, 0, 32 + x - 8 * y);
	assert_control(&prof.metronome_out, KIND_NOTE, 0, 90);
	/* Animations are two messages (Ableton's AnimatedColor): colour 1
	 * on the pad's channel 0, colour 2 on the animation channel. Before,
	 * one message (21 on 0; 21 on 14) blinked against whatever was lit. */
	const struct profile_led *pl = &prof.state_led[CLIP_PLAYING];
	assert_int_equal(pl->velocity, 22);
	assert_int_equal(pl->channel, -1);
	assert_true(pl->two);
	assert_int_equal(pl->velocity2, 21);
	assert_int_equal(pl->channel2, 8);
	const struct profile_led *q = &prof.state_led[CLIP_PLAY_QUEUED];
	assert_int_equal(q->velocity, 21);
	assert_int_equal(q->channel, -1);
	assert_int_equal(q->velocity2, 0);
	assert_int_equal(q->channel2, 14);
	/* RGB scene buttons: palette values of their own. */
	assert_int_equal(prof.group_led[GROUP_SCENE][BUTTON_ON].velocity, 21);
	assert_true(prof.group_led[GROUP_SCENE][BUTTON_BLINK].two);
	assert_int_equal(prof.group_led[GROUP_RECORD_ARM][BUTTON_ON].velocity, 1);
	assert_int_equal(prof.outro[7], 0x40);
	assert_true(prof.clock);
}

static void test_apc_minis(void **state)
{
	(void)state;
	load_builtin("apcmini.profile");
	assert_int_equal(prof.rows, 8);
	assert_int_equal(prof.intro_len, 0);
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 8; x++)
			assert_control(&prof.pad_out[y][x], KIND_NOTE, 0, 56 + x - 8 * y);
	assert_control(&prof.scene_out[7], KIND_NOTE, 0, 89);
	load_builtin("apcminimk2.profile");
	assert_control(&prof.pad_out[7][0], KIND_NOTE, 0, 0);
	assert_control(&prof.scene_out[0], KIND_NOTE, 0, 112);
	assert_int_equal(prof.state_led[CLIP_EMPTY].channel, 6);
	assert_int_equal(prof.state_led[CLIP_OVERDUBBING].channel, 10);
	/* Playing pulses (channel 10), as in Ableton's skin; it was solid. */
	assert_int_equal(prof.state_led[CLIP_PLAYING].channel, 10);
	assert_true(prof.clock);
	/* Two ports: only the first, "Control", is the controller. */
	struct profile both[2];
	both[0] = prof;
	load_builtin("apcmini.profile");
	both[1] = prof;
	assert_int_equal(profile_match_port(both, 2, "APC mini mk2 Control"), 0);
	assert_int_equal(profile_match_port(both, 2, "APC mini mk2 APC mini mk2 Contr"),
			 0);
	assert_int_equal(profile_match_port(both, 2, "APC mini mk2 MIDI 1"), 0);
	assert_int_equal(profile_match_port(both, 2, "APC mini mk2 Notes"), -1);
	assert_int_equal(profile_match_port(both, 2, "APC mini mk2 MIDI 2"), -1);
	assert_int_equal(profile_match_port(both, 2, "APC mini mk2"), -1);
	assert_int_equal(profile_match_port(both, 2, "APC MINI MIDI 1"), 1);
}

/* The Launchpads from Novation's programmer's reference guides (the family
 * codes of their inquiry replies as Ableton's scripts read them): programmer
 * mode in and out, notes 11..88, the scene column CC 89..19, device inquiry
 * ids. */
static void test_launchpads(void **state)
{
	(void)state;
	static const struct {
		const char *file, *port, *daw_port;
		uint8_t device, family;
	} lp[] = {
	    {"launchpadminimk3.profile", "Launchpad Mini MK3 LPMiniMK3 MI",
	     "Launchpad Mini MK3 LPMiniMK3 DA", 0x0D, 0x13},
	    {"launchpadx.profile", "Launchpad X LPX MIDI", "Launchpad X LPX DAW", 0x0C,
	     0x03},
	    {"launchpadpromk3.profile", "Launchpad Pro MK3 LPProMK3 MIDI",
	     "Launchpad Pro MK3 LPProMK3 DAW", 0x0E, 0x23},
	};
	for (size_t i = 0; i < sizeof(lp) / sizeof(lp[0]); i++) {
		load_builtin(lp[i].file);
		uint8_t in[] = {0xF0,	      0x00, 0x20, 0x29, 0x02,
				lp[i].device, 0x0E, 0x01, 0xF7};
		uint8_t out[] = {0xF0,	       0x00, 0x20, 0x29, 0x02,
				 lp[i].device, 0x0E, 0x00, 0xF7};
		assert_int_equal(prof.intro_len, sizeof(in));
		assert_memory_equal(prof.intro, in, sizeof(in));
		assert_int_equal(prof.outro_len, sizeof(out));
		assert_memory_equal(prof.outro, out, sizeof(out));
		assert_int_equal(prof.rows, 8);
		for (int y = 0; y < 8; y++) {
			for (int x = 0; x < 8; x++)
				assert_control(&prof.pad_out[y][x], KIND_NOTE, 0,
					       (8 - y) * 10 + 1 + x);
			assert_control(&prof.scene_out[y], KIND_CC, 0, (8 - y) * 10 + 9);
		}
		/* Flash: colour on channel 0, then the other on channel 1;
		 * pulse: channel 2. */
		assert_int_equal(prof.state_led[CLIP_PLAY_QUEUED].velocity, 21);
		assert_int_equal(prof.state_led[CLIP_PLAY_QUEUED].channel2, 1);
		assert_int_equal(prof.state_led[CLIP_PLAYING].channel, 2);
		uint8_t reply[] = {0xF0, 0x7E, 0x00,	     0x06, 0x02, 0x00,
				   0x20, 0x29, lp[i].family, 0x01, 0x00, 0x00,
				   0x00, 0x00, 0x00,	     0x01, 0xF7};
		assert_int_equal(profile_match_inquiry(&prof, 1, reply, sizeof(reply)),
				 0);
		reply[8] ^= 0x40;
		assert_int_equal(profile_match_inquiry(&prof, 1, reply, sizeof(reply)),
				 -1);
		assert_int_equal(profile_match_port(&prof, 1, lp[i].port), 0);
		assert_int_equal(profile_match_port(&prof, 1, lp[i].daw_port), -1);
		assert_true(prof.clock);
		uint8_t req[6];
		profile_inquiry_request(&prof, req);
		assert_int_equal(req[2], 0x7F);
	}
}

/* LED values: one or two messages, "blink", groups with their own values
 * falling back to button_*, and the mistakes. */
static void test_led_values(void **state)
{
	(void)state;
	static char text[2048];
	const char *head =
	    "[controller]\nname = T\nrows = 1\n[map]\n"
	    "pad note 0..7 ch 0 -> x = note, y = 0\n"
	    "scene note 8 ch 0 -> y = 0\n"
	    "stop_track note 10..17 ch 0 -> x = note - 10\n"
	    "record_arm note 20 ch 0\nmetronome note 21 ch 0\n"
	    "[leds]\nempty = 0\nrecord_queued = 5, 0 ch 14\nrecording = 3\n"
	    "play_queued = 21 ch 0, 0 ch 14 blink\nplaying = 1\n"
	    "overdubbing = 3\nstop_queued = 6\nstopped = 5\n";
	snprintf(text, sizeof(text),
		 "%sbutton_off = 0\nbutton_on = 1\nbutton_blink = 2\n"
		 "scene_on = 21\n",
		 head);
	assert_null(parse(text));
	const struct profile_led *l = &prof.state_led[CLIP_PLAY_QUEUED];
	assert_true(l->two && l->blink);
	assert_int_equal(l->channel, 0);
	assert_int_equal(l->velocity2, 0);
	assert_int_equal(l->channel2, 14);
	assert_false(prof.state_led[CLIP_RECORDING].two);
	assert_int_equal(prof.group_led[GROUP_SCENE][BUTTON_ON].velocity, 21);
	assert_int_equal(prof.group_led[GROUP_SCENE][BUTTON_BLINK].velocity, 2);
	assert_int_equal(prof.group_led[GROUP_METRONOME][BUTTON_ON].velocity, 1);
	assert_true(prof.group_lit[GROUP_SCENE]);
	assert_false(prof.group_lit[GROUP_STOP]); /* stop LEDs only by their own */
	assert_control(&prof.stop_out[7], KIND_NOTE, 0, 17);

	/* Without button_*: a group needs its own off and on (and blink for
	   scenes and stops); record arm and metronome blink as on. */
	snprintf(text, sizeof(text), "%srecord_arm_off = 0\nrecord_arm_on = 7\n", head);
	assert_null(parse(text));
	assert_true(prof.group_lit[GROUP_RECORD_ARM]);
	assert_false(prof.group_lit[GROUP_SCENE]);
	assert_int_equal(prof.group_led[GROUP_RECORD_ARM][BUTTON_BLINK].velocity, 7);
	snprintf(text, sizeof(text), "%sstop_off = 0\nstop_on = 1\n", head);
	assert_refused(parse(text), "t.profile:19: stop LEDs need stop_off, stop_on and "
				    "..._blink (or button_off, button_on, button_blink)");
	snprintf(text, sizeof(text), "%sstop_on = 1\nstop_on = 2\n", head);
	assert_refused(parse(text),
		       "t.profile:20: stop_on given twice (first on line 19)");
	snprintf(text, sizeof(text), "%sscene_on = 1 flash\n", head);
	assert_refused(parse(text), "t.profile:19: scene_on: expected \"ch <channel>\", "
				    "\", <velocity>\" or \"blink\" at \"flash\"");
	snprintf(text, sizeof(text), "%sscene_on = 1, \n", head);
	assert_refused(parse(text), "t.profile:19: scene_on: expected a number at \"\"");
	snprintf(text, sizeof(text), "%sscene_on = 1, 2, 3\n", head);
	assert_refused(parse(text), "t.profile:19: unexpected \", 3\" after scene_on");
	snprintf(text, sizeof(text), "%sscene_on = 1, 2 ch 16\n", head);
	assert_refused(parse(text), "t.profile:19: LED channel 16 is out of range 0..15");
	snprintf(text, sizeof(text), "%sscene_up = 1\n", head);
	assert_non_null(parse(text));
	assert_non_null(strstr(err, "unknown key \"scene_up\""));

	/* [controller]: outro, clock, inquiry_channel. */
	assert_refused(parse("[controller]\nname = T\noutro = F0 01\n"),
		       "t.profile:3: outro must be one SysEx message: F0 ... F7");
	assert_refused(parse("[controller]\nname = T\nclock = maybe\n"),
		       "t.profile:3: clock: expected yes or no at \"maybe\"");
	assert_refused(parse("[controller]\nname = T\ninquiry_channel = 128\n"),
		       "t.profile:3: inquiry_channel 128 is out of range 0..127");
	assert_refused(
	    parse("[controller]\nname = T\ninquiry = 00 20 29 13 01 00 00 00 00\n"),
	    "t.profile:3: inquiry: more than 8 bytes");
}

/* A shift+ rule with an action, on note N of channel 0. */
static void assert_shift_rule(const struct profile *p, int action, int note)
{
	for (int i = 0; i < p->nrules; i++) {
		const struct profile_rule *r = &p->rules[i];
		if (r->action == action) {
			assert_true(r->shift);
			assert_int_equal(r->kind, KIND_NOTE);
			assert_int_equal(r->first, note);
			assert_int_equal(r->last, note);
			assert_int_equal(r->first_ch, 0);
			assert_int_equal(r->last_ch, 0);
			return;
		}
	}
	fail_msg("%s has no %s rule", p->name, profile_action_name(action));
}

/* Every pad profile: export and save as shift chords, and one status LED
 * with a value for each storage status (one-colour buttons: 0 off, 1 on,
 * 2 blink). */
static void test_export_save_and_status_led(void **state)
{
	(void)state;
	static const struct {
		const char *file;
		int export_note, save_note, status_note;
	} want[] = {
	    {"apc40.profile", 80, 91, 80},
	    {"apc40mk2.profile", 80, 91, 80},
	    {"apcmini.profile", 82, 83, 71},
	    {"apcminimk2.profile", 112, 113, 107},
	};
	static const uint8_t values[PROFILE_STORAGE_STATES] = {
	    [STORAGE_IDLE] = 0,	     [STORAGE_RESTORING] = 1, [STORAGE_SAVING] = 1,
	    [STORAGE_EXPORTING] = 2, [STORAGE_EXPORTED] = 1,  [STORAGE_EXPORT_FAILED] = 2,
	    [STORAGE_FAULT] = 2,
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		load_builtin(want[i].file);
		assert_shift_rule(&prof, ACT_EXPORT, want[i].export_note);
		assert_shift_rule(&prof, ACT_SAVE, want[i].save_note);
		assert_control(&prof.status_out, KIND_NOTE, 0, want[i].status_note);
		/* Akai's table gives the APC40s' MASTER LED only off and on:
		 * there a blink (2, not in the protocol before) is 1 blinked
		 * by gridloop. */
		bool apc40 = want[i].status_note == 80;
		for (int s = 0; s < PROFILE_STORAGE_STATES; s++) {
			bool blinks = values[s] == 2;
			assert_int_equal(prof.storage_led[s].velocity,
					 apc40 && blinks ? 1 : values[s]);
			assert_int_equal(prof.storage_led[s].blink, apc40 && blinks);
			assert_int_equal(prof.storage_led[s].channel, -1);
		}
	}
	load_builtin("footswitch.profile");
	assert_false(prof.status_out.present);
	for (int i = 0; i < prof.nrules; i++)
		assert_true(prof.rules[i].action != ACT_EXPORT &&
			    prof.rules[i].action != ACT_SAVE);
}

static void test_footswitch(void **state)
{
	(void)state;
	load_builtin("footswitch.profile");
	assert_int_equal(prof.rows, 0);
	assert_int_equal(prof.double_tap_ms, 300);
	assert_int_equal(prof.hold_ms, 1000);
	assert_int_equal(prof.rules[0].action, ACT_FOOT);
	assert_int_equal(prof.rules[0].kind, KIND_CC);
	assert_int_equal(prof.rules[0].first_ch, 0);
	assert_int_equal(prof.rules[0].last_ch, 15);
	assert_int_equal(prof.rules[4].kind, KIND_PROGRAM);
}

static void test_rule_syntax(void **state)
{
	(void)state;
	assert_null(parse_map("shift+undo note 1 ch 0\n"
			      "pad note 53..57 ch 0..7 -> y = note - 53, x = ch\n"
			      "pad cc 10..17 ch 9 -> x=cc-10,y=4 # compact, commented\n"
			      "volume cc 0x30..0x37 ch 2 -> x = cc - 48\n"));
	assert_int_equal(prof.nrules, 4);
	const struct profile_rule *r = &prof.rules[0];
	assert_true(r->shift);
	assert_int_equal(r->action, ACT_UNDO);
	r = &prof.rules[1];
	assert_int_equal(r->first, 53);
	assert_int_equal(r->last, 57);
	assert_int_equal(r->last_ch, 7);
	assert_int_equal(r->y.term, TERM_NUMBER);
	assert_int_equal(r->y.offset, -53);
	assert_int_equal(r->x.term, TERM_CHANNEL);
	/* The first rule that reaches a cell gives its LED. */
	assert_control(&prof.pad_out[4][3], KIND_NOTE, 3, 57);
	assert_int_equal(prof.rules[3].first, 48);
	/* outside defaults to empty's LED; \r\n line ends are fine. */
	assert_int_equal(prof.outside_led.velocity, 0);
	assert_null(parse("[controller]\r\nname = T\r\n[map]\r\nfoot pc 0 ch 0\r\n"));
}

static void test_errors_name_file_and_line(void **state)
{
	(void)state;
	assert_refused(
	    parse("name = x\n"),
	    "t.profile:1: \"name\" outside any section: start with [controller]");
	assert_refused(parse("[controller]\nname = T\ncolour = red\n"),
		       "t.profile:3: unknown key \"colour\" in [controller] (name, port, "
		       "inquiry, inquiry_channel, intro, outro, clock, rows, "
		       "double_tap_ms, hold_ms)");
	assert_refused(parse("[controller]\nname = T\nname = U\n"),
		       "t.profile:3: \"name\" given twice (first on line 2)");
	assert_refused(parse("[controller]\nname = T\nrows = 17\n"),
		       "t.profile:3: rows 17 is out of range 1..16");
	assert_refused(parse("[controller]\nname = T\nrows = five\n"),
		       "t.profile:3: rows: expected a number at \"five\"");
	assert_refused(parse("[controller]\nname = T\nrows = 5 6\n"),
		       "t.profile:3: unexpected \"6\" after rows");
	assert_refused(parse("[controller]\nname = T\nintro = 47 7F\n"),
		       "t.profile:3: intro must be one SysEx message: F0 ... F7");
	assert_refused(parse("[controller]\nname = T\nintro = F0 80 F7\n"),
		       "t.profile:3: intro: byte 2 (80) is not a data byte");
	assert_refused(
	    parse("[controller]\nname = T\nintro = F0 4 F7\n"),
	    "t.profile:3: intro: expected hex bytes like \"F0 47\" at \"4 F7\"");
	assert_refused(parse("[controller]\nname = T\n[mapping]\n"),
		       "t.profile:3: unknown section [mapping] ([controller], [map] or "
		       "[leds])");
	assert_refused(
	    parse("[controller]\nname = T\n[controller]\n"),
	    "t.profile:3: section [controller] appears twice (first on line 1)");
	assert_refused(parse("[controller]\n[map]\nfoot cc 64 ch 0\n"),
		       "t.profile:1: [controller] has no name");
	assert_refused(parse("[map]\nfoot cc 64 ch 0\n"),
		       "t.profile:1: no [controller] section");
	assert_refused(
	    parse("[controller]\nname = T\n[map]\n"),
	    "t.profile:3: no rules: a profile maps at least one control in [map]");
	assert_refused(parse("[controller]\nname = T\n\tname\x01 = x\n"),
		       "t.profile:3: control character 0x01 in the line");
	assert_refused(parse("[controller]\nname = T\xc3\xa9\n"),
		       "t.profile:2: non-ASCII character outside a comment");
	char longline[400];
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "# ", 2);
	longline[sizeof(longline) - 1] = '\0';
	assert_refused(parse(longline), "t.profile:1: line longer than 255 characters");
}

static void test_rule_errors(void **state)
{
	(void)state;
	/* parse_map puts the [map] lines from line 5 on. */
	assert_refused(parse_map("jump note 1 ch 0"),
		       "t.profile:5: unknown action \"jump\"");
	assert_refused(parse_map("undo key 1 ch 0"),
		       "t.profile:5: undo: \"key\" is not note, cc or pc");
	assert_refused(parse_map("undo note 128 ch 0"),
		       "t.profile:5: note 128 is out of range 0..127");
	assert_refused(parse_map("undo note 5..3 ch 0"),
		       "t.profile:5: note range 5..3 runs backwards");
	assert_refused(
	    parse_map("undo note 1"),
	    "t.profile:5: expected \"ch <channel>\" or \"ch <first>..<last>\" at "
	    "\"\"");
	assert_refused(parse_map("undo note 1 ch 16"),
		       "t.profile:5: channel 16 is out of range 0..15");
	assert_refused(parse_map("pad note 1 ch 0 -> x = 1"),
		       "t.profile:5: pad needs \"y = ...\" (the row)");
	assert_refused(parse_map("scene note 1 ch 0 -> x = 1, y = 0"),
		       "t.profile:5: scene takes no x");
	assert_refused(parse_map("undo note 1 ch 0 -> x = 1"),
		       "t.profile:5: undo takes no x");
	assert_refused(parse_map("pad note 1 ch 0 -> x = 1, x = 2"),
		       "t.profile:5: x given twice");
	assert_refused(parse_map("pad note 1 ch 0 -> x = vel, y = 0"),
		       "t.profile:5: x: \"vel\" is neither \"ch\" nor \"note\"");
	assert_refused(parse_map("pad note 1 ch 0 -> x = cc - 1, y = 0"),
		       "t.profile:5: x: \"cc\" is neither \"ch\" nor \"note\"");
	assert_refused(parse_map("volume note 1 ch 0 -> x = 0"),
		       "t.profile:5: volume needs a cc (a fader)");
	assert_refused(parse_map("shift+shift note 1 ch 0"),
		       "t.profile:5: shift+shift means nothing");
	assert_refused(parse_map("undo note 1 ch 0 redo"),
		       "t.profile:5: unexpected \"redo\"");
	/* Whole-file checks name the rule's line. */
	assert_refused(
	    parse_map("undo note 1 ch 0\npad note 53..57 ch 0..8 -> x = ch, y = "
		      "note - 53"),
	    "t.profile:6: x runs 0..8: tracks are 0..7");
	assert_refused(parse_map("pad note 53..58 ch 0 -> x = 0, y = note - 53"),
		       "t.profile:5: y runs 0..5: rows are 0..4");
	assert_refused(parse_map("undo note 1..10 ch 0..3\nredo note 10 ch 3..4"),
		       "t.profile:6: note 10 ch 3 is already mapped on line 5");
	assert_refused(parse_map("shift note 98 ch 0\nshift+undo note 98 ch 0"),
		       "t.profile:6: shift+undo is on the shift button (line 5)");
	/* The shift layer and other kinds do not overlap. */
	assert_null(
	    parse_map("undo note 10 ch 0\nshift+redo note 10 ch 0\nredo cc 10 ch 0"));
	assert_refused(
	    parse("[controller]\nname = T\n[map]\nscene note 1 ch 0 -> y = 0\n"),
	    "t.profile:4: scene needs \"rows = N\" in [controller]");
}

static void test_led_errors(void **state)
{
	(void)state;
	assert_refused(parse("[controller]\nname = T\nrows = 1\n[map]\n"
			     "pad note 1 ch 0 -> x = 0, y = 0\n[leds]\nempty = 0\n"),
		       "t.profile:6: [leds] has no LED for record_queued");
	assert_refused(
	    parse("[controller]\nname = T\n[map]\nfoot cc 1 ch 0\n[leds]\n"
		  "blinking = 2\n"),
	    "t.profile:6: unknown key \"blinking\" in [leds] (a clip state: "
	    "empty, record_queued, recording, play_queued, playing, overdubbing, "
	    "stop_queued, stopped; or outside, button_off, button_on, "
	    "button_blink, scene_|stop_|record_arm_|metronome_ off, on, blink, "
	    "status_led, storage_<status>)");
	assert_refused(parse("[controller]\nname = T\n[map]\nfoot cc 1 ch 0\n[leds]\n"
			     "empty = 0 chan 3\n"),
		       "t.profile:6: empty: expected \"ch <channel>\", \", <velocity>\" "
		       "or \"blink\" at \"chan 3\"");
	assert_refused(parse("[controller]\nname = T\n[map]\nfoot cc 1 ch 0\n[leds]\n"
			     "empty = 128\n"),
		       "t.profile:6: empty 128 is out of range 0..127");
	assert_refused(parse("[controller]\nname = T\n[map]\nfoot cc 1 ch 0\n[leds]\n"
			     "button_on = 1\n"),
		       "t.profile:5: button LEDs need all of button_off, button_on and "
		       "button_blink");
	assert_refused(parse("[controller]\nname = T\n[map]\nfoot cc 1 ch 0\n[leds]\n"
			     "stopped = 1\nstopped = 2\n"),
		       "t.profile:7: LED for stopped given twice (first on line 6)");
}

/* A foot switch profile with these [leds] lines (from line 6). */
static const char *parse_leds(const char *leds)
{
	static char text[1024];
	snprintf(text, sizeof(text),
		 "[controller]\nname = T\n[map]\nfoot cc 1 ch 0\n[leds]\n%s", leds);
	return parse(text);
}

#define ALL_STORAGE                                                                      \
	"storage_idle = 0\nstorage_restoring = 1\nstorage_saving = 1\n"                  \
	"storage_exporting = 2\nstorage_exported = 21 ch 6\n"                            \
	"storage_export_failed = 5\nstorage_fault = 5 ch 14\n"

static void test_status_led(void **state)
{
	(void)state;
	/* Note or CC, any channel; values as LEDs are written. */
	assert_null(parse_leds("status_led = cc 0x10 ch 3\n" ALL_STORAGE));
	assert_control(&prof.status_out, KIND_CC, 3, 16);
	assert_int_equal(prof.storage_led[STORAGE_EXPORTED].velocity, 21);
	assert_int_equal(prof.storage_led[STORAGE_EXPORTED].channel, 6);
	assert_int_equal(prof.storage_led[STORAGE_IDLE].channel, -1);
	/* None: no LED, no values. */
	assert_null(parse_leds("empty = 0\n"));
	assert_false(prof.status_out.present);
	assert_string_equal(profile_storage_name(STORAGE_EXPORT_FAILED), "export_failed");
	assert_string_equal(profile_storage_name((enum storage_status)7), "?");
	assert_string_equal(profile_action_name(ACT_EXPORT), "export");
	assert_string_equal(profile_action_name(ACT_SAVE), "save");
}

static void test_status_led_errors(void **state)
{
	(void)state;
	assert_refused(parse_leds("status_led = note 80\n" ALL_STORAGE),
		       "t.profile:6: status_led: expected \"ch <channel>\" at \"\"");
	assert_refused(parse_leds(ALL_STORAGE "status_led = pc 3 ch 0\n"),
		       "t.profile:13: status_led: expected \"note N ch C\" or \"cc N ch "
		       "C\" at \"pc 3 ch 0\"");
	assert_refused(parse_leds("status_led = note 128 ch 0\n"),
		       "t.profile:6: status_led 128 is out of range 0..127");
	assert_refused(parse_leds("status_led = note 80 ch 16\n"),
		       "t.profile:6: status_led channel 16 is out of range 0..15");
	assert_refused(parse_leds("status_led = note 80 ch 0 blink\n"),
		       "t.profile:6: unexpected \"blink\" after status_led");
	assert_refused(parse_leds("status_led = note 80 ch 0\n" ALL_STORAGE
				  "status_led = note 81 ch 0\n"),
		       "t.profile:14: status_led given twice (first on line 6)");
	assert_refused(parse_leds("status_led = note 80 ch 0\nstorage_idle = 0\n"),
		       "t.profile:6: status_led needs a value for every storage status: "
		       "storage_restoring is missing");
	assert_refused(parse_leds("empty = 0\nstorage_fault = 4\n"),
		       "t.profile:7: storage_fault without a status_led to show it on");
	assert_refused(parse_leds("storage_full = 4\n"),
		       "t.profile:6: unknown storage status \"storage_full\" "
		       "(storage_idle, storage_restoring, storage_saving, "
		       "storage_exporting, storage_exported, storage_export_failed, "
		       "storage_fault)");
	assert_refused(
	    parse_leds("status_led = note 80 ch 0\n" ALL_STORAGE "storage_saving = 2\n"),
	    "t.profile:14: storage_saving given twice (first on line 9)");
	assert_refused(parse_leds("status_led = note 80 ch 0\nstorage_fault = 2 ch 16\n"),
		       "t.profile:7: LED channel 16 is out of range 0..15");
	/* Not on an LED the clips drive. */
	assert_refused(parse("[controller]\nname = T\nrows = 1\n[map]\n"
			     "scene note 82 ch 0 -> y = 0\nrecord_arm note 93 ch 0\n"
			     "[leds]\nstatus_led = note 82 ch 0\n" ALL_STORAGE),
		       "t.profile:8: status_led note 82 ch 0 is the LED of scene y = 0");
	assert_refused(parse("[controller]\nname = T\nrows = 1\n[map]\n"
			     "scene note 82 ch 0 -> y = 0\nrecord_arm note 93 ch 0\n"
			     "[leds]\nstatus_led = note 93 ch 0\n" ALL_STORAGE),
		       "t.profile:8: status_led note 93 ch 0 is the LED of record_arm");
	assert_refused(parse("[controller]\nname = T\nrows = 5\n[map]\n"
			     "pad note 53..57 ch 0..7 -> x = ch, y = note - 53\n[leds]\n"
			     "empty = 0\nrecord_queued = 4\nrecording = 3\n"
			     "play_queued = 2\nplaying = 1\noverdubbing = 3\n"
			     "stop_queued = 6\nstopped = 5\n"
			     "status_led = note 55 ch 7\n" ALL_STORAGE),
		       "t.profile:15: status_led note 55 ch 7 is the LED of pad x = 7, "
		       "y = 2");
	/* A shift+ rule has no LED: its button may show the status. */
	assert_null(parse("[controller]\nname = T\n[map]\nshift note 98 ch 0\n"
			  "shift+export note 80 ch 0\n[leds]\n"
			  "status_led = note 80 ch 0\n" ALL_STORAGE));
}

static void complain(void *ctx, const char *message)
{
	char *log = ctx;
	strncat(log, message, 1023 - strlen(log));
	strncat(log, "\n", 1023 - strlen(log));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_load_dir_skips_broken_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_profile.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char a[64], b[64], c[64];
	snprintf(a, sizeof(a), "%s/a.profile", dir);
	snprintf(b, sizeof(b), "%s/b.profile", dir);
	snprintf(c, sizeof(c), "%s/notes.txt", dir);
	write_file(a,
		   "[controller]\nname = A\n[map]\nfoot cc 64 ch 0\nundo cc 65 ch 0 x\n");
	write_file(b, "[controller]\nname = B\n[map]\nfoot cc 64 ch 0\n");
	write_file(c, "not a profile");
	static struct profile ps[4];
	char log[1024] = "";
	assert_int_equal(profile_load_dir(dir, ps, 4, complain, log), 1);
	assert_string_equal(ps[0].name, "B");
	char expected[256];
	snprintf(expected, sizeof(expected), "%s:5: unexpected \"x\"\n", a);
	assert_string_equal(log, expected);

	/* Every built-in profile loads. */
	log[0] = '\0';
	static struct profile builtin[12];
	assert_int_equal(profile_load_dir(PROFILES, builtin, 12, complain, log), 8);
	assert_string_equal(log, "");

	unlink(a);
	unlink(b);
	unlink(c);
	rmdir(dir);
	assert_int_equal(profile_load_dir(dir, ps, 4, complain, log), -1);
	assert_non_null(strstr(log, "No such file or directory"));
	assert_non_null(profile_load(&prof, a, err, sizeof(err)));
	assert_non_null(strstr(err, "test_profile."));
}

static void test_match_port_and_inquiry(void **state)
{
	(void)state;
	static struct profile ps[12];
	int n = profile_load_dir(PROFILES, ps, 12, NULL, NULL);
	assert_int_equal(n, 8);
	/* Name order: apc40, apc40mk2, apcmini, apcminimk2, footswitch,
	 * launchpadminimk3, launchpadpromk3, launchpadx. */
	assert_int_equal(profile_match_port(ps, n, "Akai APC40 MIDI 1"), 0);
	/* "*APC40*" matches the mkII too; its own pattern is more specific. */
	assert_int_equal(profile_match_port(ps, n, "APC40 mkII MIDI 1"), 1);
	assert_int_equal(profile_match_port(ps, n, "APC MINI MIDI 1"), 2);
	assert_int_equal(profile_match_port(ps, n, "APC mini mk2 Control"), 3);
	assert_int_equal(profile_match_port(ps, n, "USB Footswitch"), 4);
	assert_int_equal(profile_match_port(ps, n, "Midi Through Port-0"), -1);
	assert_int_equal(profile_match_port(ps, n, "Launchpad Mini MK3 LPMiniMK3 MI"), 5);
	assert_int_equal(profile_match_port(ps, n, "Launchpad Pro MK3 LPProMK3 MIDI"), 6);
	assert_int_equal(profile_match_port(ps, n, "Launchpad X LPX MIDI"), 7);
	assert_int_equal(profile_match_port(ps, n, "Launchpad X LPX DAW"), -1);
	static const uint8_t lpx[] = {0xF0, 0x7E, 0x00, 0x06, 0x02, 0x00,
				      0x20, 0x29, 0x03, 0x01, 0x00, 0x00,
				      0x00, 0x01, 0x02, 0x03, 0xF7};
	assert_int_equal(profile_match_inquiry(ps, n, lpx, sizeof(lpx)), 7);

	static const uint8_t mk2[] = {0xF0, 0x7E, 0x00, 0x06, 0x02, 0x47, 0x29,
				      0x00, 0x19, 0x00, 0x01, 0x00, 0x00, 0xF7};
	assert_int_equal(profile_match_inquiry(ps, n, mk2, sizeof(mk2)), 1);
	static const uint8_t mini[] = {0xF0, 0x7E, 0x05, 0x06, 0x02, 0x47, 0x28, 0xF7};
	assert_int_equal(profile_match_inquiry(ps, n, mini, sizeof(mini)), 2);
	static const uint8_t other[] = {0xF0, 0x7E, 0x00, 0x06, 0x02, 0x41, 0x29, 0xF7};
	assert_int_equal(profile_match_inquiry(ps, n, other, sizeof(other)), -1);
	static const uint8_t not_reply[] = {0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7};
	assert_int_equal(profile_match_inquiry(ps, n, not_reply, sizeof(not_reply)), -1);
	/* The three Launchpads told apart by their family codes as Ableton's
	 * scripts read them (sysex_ids.py: X (3, 1), Mini mk3 (19, 1), Pro mk3
	 * (35, 1)); Novation's X and Pro mk3 guides print the Mini's 13h 01h,
	 * which therefore names a Mini mk3. A Launchpad in its bootloader
	 * (model byte 11h) is no controller: no profile. */
	uint8_t lp[] = {0xF0, 0x7E, 0x00, 0x06, 0x02, 0x00, 0x20, 0x29, 0x13,
			0x01, 0x00, 0x00, 0x00, 0x04, 0x05, 0x01, 0xF7};
	assert_int_equal(profile_match_inquiry(ps, n, lp, sizeof(lp)), 5);
	lp[8] = 0x23;
	assert_int_equal(profile_match_inquiry(ps, n, lp, sizeof(lp)), 6);
	lp[8] = 0x03;
	assert_int_equal(profile_match_inquiry(ps, n, lp, sizeof(lp)), 7);
	lp[9] = 0x11;
	assert_int_equal(profile_match_inquiry(ps, n, lp, sizeof(lp)), -1);
	lp[8] = 0x13;
	assert_int_equal(profile_match_inquiry(ps, n, lp, sizeof(lp)), -1);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(profile_action_name(ACT_RECORD_ARM), "record_arm");
	assert_string_equal(profile_action_name(ACT_COUNT), "?");
	assert_string_equal(profile_state_name(CLIP_STOP_QUEUED), "stop_queued");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apc40_mk1),
	    cmocka_unit_test(test_apc40_mk2),
	    cmocka_unit_test(test_apc_minis),
	    cmocka_unit_test(test_launchpads),
	    cmocka_unit_test(test_led_values),
	    cmocka_unit_test(test_export_save_and_status_led),
	    cmocka_unit_test(test_footswitch),
	    cmocka_unit_test(test_rule_syntax),
	    cmocka_unit_test(test_errors_name_file_and_line),
	    cmocka_unit_test(test_rule_errors),
	    cmocka_unit_test(test_led_errors),
	    cmocka_unit_test(test_status_led),
	    cmocka_unit_test(test_status_led_errors),
	    cmocka_unit_test(test_load_dir_skips_broken_files),
	    cmocka_unit_test(test_match_port_and_inquiry),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
