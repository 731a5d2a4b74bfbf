/* test_script.c -- the --script language (every word, frame stamps, every
 * error naming its line), `midi` lines through a controller profile (the
 * APC40 mk1 by default, as a connected controller would map them), and the
 * feeder that queues the commands ahead of time without overflowing the
 * engine's queue; hostile scripts (numbers that are not decimal, long midi
 * lines, NUL bytes, huge stamps, too many commands, files that are
 * directories, FIFOs, empty or too big) refused with the file and line. */
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

#include "gl_limits.h"
#include "script.h"
#include "script_feeder.h"
#include "profile_files.h"
#include "tmp_dir.h"

/* The profiles midi lines go through: the program's default, and another. */
static struct profile apc40, apc40mk2;
static struct script_midi midi = {.profile = &apc40, .rate = 48000};

static int load_profiles(void **state)
{
	(void)state;
	char err[256];
	if (profile_load(&apc40, "board/profiles/apc40.profile", err, sizeof(err)) ||
	    profile_load(&apc40mk2, "board/profiles/apc40mk2.profile", err, sizeof(err)))
		fail_msg("%s", err);
	return 0;
}

static struct script parse_with(const char *text, const struct script_midi *m)
{
	struct script s;
	char err[256] = "";
	if (script_parse_text(&s, text, "set.txt", m, err, sizeof(err)))
		fail_msg("unexpected error: %s", err);
	return s;
}

static struct script parse_ok(const char *text)
{
	return parse_with(text, &midi);
}

static void assert_parse_error_with(const char *text, const struct script_midi *m,
				    const char *expected)
{
	struct script s;
	char err[256] = "";
	assert_int_equal(script_parse_text(&s, text, "set.txt", m, err, sizeof(err)), -1);
	if (strcmp(err, expected))
		fail_msg("error '%s', expected '%s'", err, expected);
	assert_null(s.entries);
}

static void assert_parse_error(const char *text, const char *expected)
{
	assert_parse_error_with(text, &midi, expected);
}

static void assert_cmd(const struct script *s, size_t i, int64_t frame, int type,
		       int track, int scene, float value)
{
	assert_true(i < s->count);
	const struct command *c = &s->entries[i].cmd;
	assert_true(c->frame == frame);
	assert_int_equal(c->type, type);
	assert_int_equal(c->track, track);
	assert_int_equal(c->scene, scene);
	assert_true(c->value == value);
}

static void test_every_word(void **state)
{
	(void)state;
	struct script s = parse_ok("# a set\n"
				   "@0 tempo 120\n"
				   "meter 3\n"
				   "quantise beat\n"
				   "quantize off\n"
				   "@96000 press 0 0   # record\n"
				   "@192000 scene 2\n"
				   "stop\n"
				   "stop 3\n"
				   "stop 3 4\n"
				   "clear 7 9\n"
				   "overdub 1 2\n"
				   "undo 1 2\n"
				   "redo 1 2\n"
				   "replace 1 2\n"
				   "substitute 3 4\n"
				   "mute_clip 2 3 on\n"
				   "reverse 0 9\n"
				   "speed 1 1 0.5\n"
				   "speed 1 2 2\n"
				   "oneshot 4 5\n"
				   "countin on\n"
				   "trigger 6 7\n"
				   "undo_all 1 2\n"
				   "redo_all 6 9\n"
				   "multiply 2 5\n"
				   "insert 7 0\n"
				   "tap\n"
				   "volume 2 0.5\n"
				   "master 1.5\n"
				   "mute 4 on\n"
				   "monitor 5 1\n"
				   "metronome off\n"
				   "\n"
				   "   @240000    midi 90 35 7f\n"
				   "@480000 exit\n");
	assert_int_equal(s.count, 33);
	assert_true(s.exit_frame == 480000);
	size_t i = 0;
	assert_cmd(&s, i++, 0, CMD_SET_TEMPO, 0, 0, 120.0f);
	assert_cmd(&s, i++, 0, CMD_SET_METER, 0, 0, 3.0f);
	assert_cmd(&s, i++, 0, CMD_SET_QUANTISE, 0, 0, QUANTISE_BEAT);
	assert_cmd(&s, i++, 0, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF);
	assert_cmd(&s, i++, 96000, CMD_PRESS, 0, 0, 0);
	assert_cmd(&s, i++, 192000, CMD_LAUNCH_SCENE, 0, 2, 0);
	/* Unstamped lines act at the frame of the line before. */
	assert_cmd(&s, i++, 192000, CMD_STOP_ALL, 0, 0, 0);
	assert_cmd(&s, i++, 192000, CMD_STOP_TRACK, 3, 0, 0);
	assert_cmd(&s, i++, 192000, CMD_STOP_CLIP, 3, 4, 0);
	assert_cmd(&s, i++, 192000, CMD_CLEAR, 7, 9, 0);
	assert_cmd(&s, i++, 192000, CMD_OVERDUB, 1, 2, 0);
	assert_cmd(&s, i++, 192000, CMD_UNDO, 1, 2, 0);
	assert_cmd(&s, i++, 192000, CMD_REDO, 1, 2, 0);
	assert_cmd(&s, i++, 192000, CMD_REPLACE, 1, 2, 0);
	assert_cmd(&s, i++, 192000, CMD_SUBSTITUTE, 3, 4, 0);
	assert_cmd(&s, i++, 192000, CMD_CLIP_MUTE, 2, 3, 1.0f);
	assert_cmd(&s, i++, 192000, CMD_REVERSE, 0, 9, 0);
	assert_cmd(&s, i++, 192000, CMD_SPEED, 1, 1, 0.5f);
	assert_cmd(&s, i++, 192000, CMD_SPEED, 1, 2, 2.0f);
	assert_cmd(&s, i++, 192000, CMD_ONESHOT, 4, 5, 0);
	assert_cmd(&s, i++, 192000, CMD_COUNTIN, 0, 0, 1.0f);
	assert_cmd(&s, i++, 192000, CMD_TRIGGER, 6, 7, 0);
	assert_cmd(&s, i++, 192000, CMD_UNDO_ALL, 1, 2, 0);
	assert_cmd(&s, i++, 192000, CMD_REDO_ALL, 6, 9, 0);
	assert_cmd(&s, i++, 192000, CMD_MULTIPLY, 2, 5, 0);
	assert_cmd(&s, i++, 192000, CMD_INSERT, 7, 0, 0);
	assert_cmd(&s, i++, 192000, CMD_TAP_TEMPO, 0, 0, 0);
	assert_cmd(&s, i++, 192000, CMD_TRACK_VOLUME, 2, 0, 0.5f);
	assert_cmd(&s, i++, 192000, CMD_MASTER_VOLUME, 0, 0, 1.5f);
	assert_cmd(&s, i++, 192000, CMD_MUTE, 4, 0, 1.0f);
	assert_cmd(&s, i++, 192000, CMD_MONITOR, 5, 0, 1.0f);
	assert_cmd(&s, i++, 192000, CMD_METRONOME, 0, 0, 0.0f);
	/* MIDI through the APC40 mk1 profile: pad note 0x35 = 53 on channel 0
	 * is track 0, scene 0 (tests/alsa/set.txt relies on it). */
	assert_cmd(&s, i++, 240000, CMD_PRESS, 0, 0, 0);
	assert_int_equal(s.entries[32].line, 35);
	script_free(&s);
}

/* export and save: a CMD_REQUEST at the line's frame, for the SD writer;
 * the controller's chord (shift + MASTER on the APC40 mk1) says the same. */
static void test_export_and_save(void **state)
{
	(void)state;
	struct script s =
	    parse_ok("@100 export\n"
		     "save   # now\n"
		     "@300 save\n"
		     "@400 midi 90 62 7f 90 50 7f 80 62 00 # shift + MASTER\n"
		     "@500 midi 90 62 7f 90 5b 7f 80 62 00 # shift + PLAY\n"
		     "@600 midi 90 50 7f                   # MASTER alone\n");
	assert_int_equal(s.count, 5);
	assert_cmd(&s, 0, 100, CMD_REQUEST, 0, 0, REQUEST_EXPORT);
	assert_cmd(&s, 1, 100, CMD_REQUEST, 0, 0, REQUEST_SAVE);
	assert_cmd(&s, 2, 300, CMD_REQUEST, 0, 0, REQUEST_SAVE);
	assert_cmd(&s, 3, 400, CMD_REQUEST, 0, 0, REQUEST_EXPORT);
	assert_cmd(&s, 4, 500, CMD_REQUEST, 0, 0, REQUEST_SAVE);
	assert_int_equal(s.entries[1].line, 2);
	script_free(&s);
	assert_parse_error("tap\nexport now\n", "set.txt:2: usage: export");
	assert_parse_error("save 1\n", "set.txt:1: usage: save");
	assert_parse_error("@10 exit\n@20 export\n",
			   "set.txt:2: nothing may follow 'exit' (line 1)");
}

static void test_empty_script(void **state)
{
	(void)state;
	struct script s = parse_ok("# nothing\n\n");
	assert_int_equal(s.count, 0);
	assert_true(s.exit_frame == GL_NEVER);
	script_free(&s);
}

static void test_errors_name_the_line(void **state)
{
	(void)state;
	assert_parse_error("tempo 120\n\nprss 0 0\n",
			   "set.txt:3: unknown command 'prss'");
	assert_parse_error("press 8 0\n", "set.txt:1: track '8' is not 0..7");
	assert_parse_error("press 0 10\n", "set.txt:1: scene '10' is not 0..9");
	assert_parse_error("press 0\n", "set.txt:1: usage: press TRACK SCENE");
	assert_parse_error("stop 1 2 3\n", "set.txt:1: usage: stop [TRACK [SCENE]]");
	assert_parse_error("tap 1\n", "set.txt:1: usage: tap");
	assert_parse_error("tempo 301\n", "set.txt:1: tempo '301' is not 30..300 BPM");
	assert_parse_error("speed 0 0 1.5\n",
			   "set.txt:1: speed '1.5' is not 0.5, 1 or 2");
	assert_parse_error("speed 0 0 .5\n", "set.txt:1: speed '.5' is not 0.5, 1 or 2");
	assert_parse_error("speed 0 0\n", "set.txt:1: usage: speed TRACK SCENE 0.5|1|2");
	assert_parse_error("mute_clip 0 0 maybe\n",
			   "set.txt:1: 'maybe' is not on or off");
	assert_parse_error("meter 0\n", "set.txt:1: beats per bar '0' is not 1..16");
	assert_parse_error("quantise half\n",
			   "set.txt:1: quantise 'half' is not off, beat or bar");
	assert_parse_error("volume 0 3\n",
			   "set.txt:1: gain '3' is not a number from 0 to 2");
	assert_parse_error("master nan\n",
			   "set.txt:1: gain 'nan' is not a number from 0 to 2");
	assert_parse_error("mute 0 maybe\n", "set.txt:1: 'maybe' is not on or off");
	assert_parse_error("@x press 0 0\n", "set.txt:1: '@x' is not a frame stamp (@ "
					     "and a frame number, 0..1099511627776)");
	assert_parse_error("@-5 press 0 0\n", "set.txt:1: '@-5' is not a frame stamp (@ "
					      "and a frame number, 0..1099511627776)");
	assert_parse_error("@100\n", "set.txt:1: a frame stamp needs a command after it");
	assert_parse_error(
	    "@200 tap\n@100 tap\n",
	    "set.txt:2: @100 is before the line above (@200): lines must be in "
	    "time order");
	assert_parse_error("@10 exit\n@20 tap\n",
			   "set.txt:2: nothing may follow 'exit' (line 1)");
	assert_parse_error("midi 90 zz 7f\n",
			   "set.txt:1: midi: 'zz' is not a hex byte (00..ff)");
	assert_parse_error("midi 90 35\n", "set.txt:1: midi: incomplete MIDI message");
	assert_parse_error("midi\n", "set.txt:1: usage: midi HEX_BYTE...");
	assert_parse_error("midi 35 7f\n",
			   "set.txt:1: midi: data byte without a status byte");
	assert_parse_error("midi 90 35 90 35 7f\n",
			   "set.txt:1: midi: status byte inside a MIDI message");
	assert_parse_error("midi f0 47 01\n",
			   "set.txt:1: midi: SysEx without its end byte F7");
	assert_parse_error("midi f0 47 90 35 7f\n",
			   "set.txt:1: midi: SysEx cut short by a status byte");
	assert_parse_error("midi f7\n", "set.txt:1: midi: F7 without a SysEx before it");
}

/* midi lines act as the profile's controller does: shift chords, the bank
 * window, faders, running status, several messages a line; the controller's
 * state carries from line to line, and everything lands on the line's
 * frame. */
static void test_midi_through_the_profile(void **state)
{
	(void)state;
	struct script s =
	    parse_ok("@100 midi 90 35 7f 80 35 00 # press, release\n"
		     "@200 midi 90 62 7f          # shift down\n"
		     "@300 midi 90 51 7f 37 7f 80 51 00 # shift + stop all + pad: clear\n"
		     "@400 midi 80 62 00 90 5f 7f # shift up, bank down\n"
		     "@500 midi 91 35 7f          # track 1, row 0: scene 1\n"
		     "@600 midi 90 52 7f 53 7f    # scenes, running status\n"
		     "@700 midi b2 07 40          # fader of track 2\n"
		     "@800 midi 90 63 7f          # tap tempo\n"
		     "@900 midi 90 7f 7f          # nothing there: nothing\n");
	size_t i = 0;
	assert_cmd(&s, i++, 100, CMD_PRESS, 0, 0, 0);
	assert_cmd(&s, i++, 300, CMD_CLEAR, 0, 2, 0);
	assert_cmd(&s, i++, 500, CMD_PRESS, 1, 1, 0);
	assert_cmd(&s, i++, 600, CMD_LAUNCH_SCENE, 0, 1, 0);
	assert_cmd(&s, i++, 600, CMD_LAUNCH_SCENE, 0, 2, 0);
	assert_cmd(&s, i++, 700, CMD_TRACK_VOLUME, 2, 0, 64.0f / 127.0f);
	assert_cmd(&s, i++, 800, CMD_TAP_TEMPO, 0, 0, 0);
	assert_int_equal(s.count, i);
	assert_int_equal(s.entries[1].line, 3);
	script_free(&s);
}

/* Another profile maps the same bytes its own way: the APC40 mkII's pads
 * are all on channel 0, note 32 + track - 8 x row. */
static void test_midi_profile_chosen(void **state)
{
	(void)state;
	struct script_midi mk2 = {.profile = &apc40mk2, .rate = 48000};
	const char *text = "@10 midi 90 20 7f\n@20 midi 90 1a 7f\n@30 midi 90 35 7f\n";
	struct script s = parse_with(text, &mk2);
	assert_int_equal(s.count, 2);
	assert_cmd(&s, 0, 10, CMD_PRESS, 0, 0, 0);
	assert_cmd(&s, 1, 20, CMD_PRESS, 2, 1, 0);
	script_free(&s);
	/* The mk1 has no pad on note 32 or 26; its note 53 is a pad. */
	s = parse_ok(text);
	assert_int_equal(s.count, 1);
	assert_cmd(&s, 0, 30, CMD_PRESS, 0, 0, 0);
	script_free(&s);
}

/* Without a profile a midi line cannot be mapped: the script is refused
 * with the reason the program gives, and lines without midi still work. */
static void test_midi_without_a_profile(void **state)
{
	(void)state;
	struct script_midi none = {.missing = "no profiles loaded from /nowhere"};
	assert_parse_error_with("tap\n@10 midi 90 35 7f\n", &none,
				"set.txt:2: midi: no controller profile to map it (no "
				"profiles loaded from /nowhere)");
	assert_parse_error_with("midi 90 35 7f\n", NULL,
				"set.txt:1: midi: no controller profile to map it (none "
				"loaded)");
	struct script s = parse_with("@5 tap\n", NULL);
	assert_int_equal(s.count, 1);
	script_free(&s);
}

static void test_file(void **state)
{
	(void)state;
	char path[] = "/tmp/test_script.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char text[] = "@48000 press 1 1\n@96000 press 1 1\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	struct script s;
	char err[256] = "";
	assert_int_equal(script_parse_file(&s, path, &midi, err, sizeof(err)), 0);
	assert_int_equal(s.count, 2);
	assert_cmd(&s, 1, 96000, CMD_PRESS, 1, 1, 0);
	script_free(&s);
	unlink(path);
	assert_int_equal(script_parse_file(&s, path, &midi, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open the script: No such file or directory"));
}

/* A midi line has room for 64 bytes: the 65th was written past the end of
 * the parser's buffer. */
static void test_midi_line_too_long(void **state)
{
	(void)state;
	char text[512] = "@0 midi";
	for (int i = 0; i < 64; i++)
		strcat(text, " f8");
	strcat(text, "\n");
	struct script s = parse_ok(text); /* 64, with a stamp: fine */
	assert_int_equal(s.count, 0);
	script_free(&s);
	strcpy(text, "midi");
	for (int i = 0; i < 65; i++)
		strcat(text, " f8");
	strcat(text, "\n");
	assert_parse_error(text, "set.txt:1: midi: 65 bytes, at most 64 a line");
	strcpy(text, "@0 midi");
	for (int i = 0; i < 65; i++)
		strcat(text, " f8");
	assert_parse_error(
	    text,
	    "set.txt:1: too many words (at most a stamp, a command and 64 arguments)");
}

/* Numbers are plain decimal (strtod took hex, strtoul "0x" and signs), MIDI
 * bytes two hex digits; CRLF line ends are fine. */
static void test_numbers_are_decimal(void **state)
{
	(void)state;
	assert_parse_error("tempo 0x78\n", "set.txt:1: tempo '0x78' is not 30..300 BPM");
	assert_parse_error("master 0x1p0\n",
			   "set.txt:1: gain '0x1p0' is not a number from 0 to 2");
	assert_parse_error("volume 0 infinity\n",
			   "set.txt:1: gain 'infinity' is not a number from 0 to 2");
	assert_parse_error("tempo inf\n", "set.txt:1: tempo 'inf' is not 30..300 BPM");
	assert_parse_error("tempo 1e999\n",
			   "set.txt:1: tempo '1e999' is not 30..300 BPM");
	assert_parse_error("press -1 0\n", "set.txt:1: track '-1' is not 0..7");
	assert_parse_error("press 99999999999999999999 0\n",
			   "set.txt:1: track '99999999999999999999' is not 0..7");
	assert_parse_error("midi 0x90 35 7f\n",
			   "set.txt:1: midi: '0x90' is not a hex byte (00..ff)");
	assert_parse_error("midi +90 35 7f\n",
			   "set.txt:1: midi: '+90' is not a hex byte (00..ff)");
	assert_parse_error("midi 090 35 7f\n",
			   "set.txt:1: midi: '090' is not a hex byte (00..ff)");
	assert_parse_error("usage\n", "set.txt:1: unknown command 'usage'");
	/* A long word is quoted cut short, so the message stays one line. */
	assert_parse_error(
	    "press 0 "
	    "12345678901234567890123456789012345678901234567890\n",
	    "set.txt:1: scene '1234567890123456789012345678901234567890...' "
	    "is not 0..9");
	assert_parse_error("tempo\n", "set.txt:1: usage: tempo BPM (30..300)");
	assert_parse_error("volume 1\n", "set.txt:1: usage: volume TRACK GAIN (0..2)");
	struct script s =
	    parse_ok("@10 tempo 120.5\r\n@20 master 1e0\r\n\r\nmeter +3\r\n");
	assert_int_equal(s.count, 3);
	assert_cmd(&s, 0, 10, CMD_SET_TEMPO, 0, 0, 120.5f);
	assert_cmd(&s, 1, 20, CMD_MASTER_VOLUME, 0, 0, 1.0f);
	assert_cmd(&s, 2, 20, CMD_SET_METER, 0, 0, 3.0f);
	script_free(&s);
}

/* Stamps stay far below where frame arithmetic could overflow, and a
 * script makes at most GL_SCRIPT_COMMANDS_MAX commands. */
static void test_script_limits(void **state)
{
	(void)state;
	char text[128];
	snprintf(text, sizeof(text), "@%lld tap\n", (long long)GL_SCRIPT_FRAME_MAX);
	struct script s = parse_ok(text);
	assert_true(s.entries[0].cmd.frame == GL_SCRIPT_FRAME_MAX);
	script_free(&s);
	assert_parse_error("@9223372036854775807 tap\n",
			   "set.txt:1: '@9223372036854775807' is not a frame stamp (@ "
			   "and a frame number, 0..1099511627776)");
	assert_parse_error("@99999999999999999999 tap\n",
			   "set.txt:1: '@99999999999999999999' is not a frame stamp (@ "
			   "and a frame number, 0..1099511627776)");

	size_t n = (size_t)GL_SCRIPT_COMMANDS_MAX + 1;
	char *many = malloc(n * 4 + 1);
	assert_non_null(many);
	for (size_t i = 0; i < n; i++)
		memcpy(many + 4 * i, "tap\n", 4);
	many[n * 4] = '\0';
	char err[256] = "";
	assert_int_equal(script_parse_text(&s, many, "set.txt", &midi, err, sizeof(err)),
			 -1);
	assert_string_equal(err,
			    "set.txt:1048577: more than 1048576 commands in the script");
	assert_null(s.entries);
	many[(n - 1) * 4] = '\0'; /* exactly the limit: fine */
	assert_int_equal(script_parse_text(&s, many, "set.txt", &midi, err, sizeof(err)),
			 0);
	assert_int_equal(s.count, GL_SCRIPT_COMMANDS_MAX);
	script_free(&s);
	free(many);
}

static char tmp[256];

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void assert_file_error(const char *path, const char *expected)
{
	struct script s;
	char err[512] = "", want[512];
	snprintf(want, sizeof(want), "%s%s", path, expected);
	assert_int_equal(script_parse_file(&s, path, &midi, err, sizeof(err)), -1);
	if (strcmp(err, want))
		fail_msg("error '%s', expected '%s'", err, want);
	assert_null(s.entries);
}

/* A NUL byte ended the text there: every line after it (here the exit)
 * was dropped without a word. */
static void test_file_with_a_nul_byte(void **state)
{
	(void)state;
	assert_true(tmp_dir_make(tmp, sizeof(tmp), "test_script"));
	char path[300];
	snprintf(path, sizeof(path), "%s/set.txt", tmp);
	static const char text[] = "@10 tap\n\0@20 press 0 0\n@30 exit\n";
	write_file(path, text, sizeof(text) - 1);
	assert_file_error(path, ":2: a NUL byte: a script is text");
	struct script s;
	char err[256];
	assert_int_equal(
	    script_parse_buffer(&s, text, 8, "set.txt", &midi, err, sizeof(err)), 0);
	assert_int_equal(s.count, 1);
	script_free(&s);
	tmp_dir_remove(tmp);
}

/* A directory, an empty file, a FIFO nobody writes to (open() blocked
 * forever), a file over GL_SCRIPT_BYTES_MAX (read whole, NULs and all):
 * each refused with what it is. */
static void test_file_kinds(void **state)
{
	(void)state;
	assert_true(tmp_dir_make(tmp, sizeof(tmp), "test_script"));
	char path[300];
	assert_file_error(tmp, ": is a directory, not a script");

	snprintf(path, sizeof(path), "%s/empty.txt", tmp);
	write_file(path, "", 0);
	assert_file_error(path, ": the script is empty");

	snprintf(path, sizeof(path), "%s/fifo", tmp);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10); /* a blocking open() fails the test instead of hanging it */
	assert_file_error(path, ": the script is empty");
	alarm(0);

	snprintf(path, sizeof(path), "%s/huge.txt", tmp);
	write_file(path, "tap\n", 4);
	assert_int_equal(truncate(path, (off_t)GL_SCRIPT_BYTES_MAX + 1), 0);
	assert_file_error(path,
			  ": 16777217 bytes, more than the 16777216 a script may have");
	assert_int_equal(truncate(path, (off_t)GL_SCRIPT_BYTES_MAX), 0);
	assert_file_error(path, ":2: a NUL byte: a script is text");

	/* A character device is read up to the limit, not forever. */
	assert_file_error("/dev/zero",
			  ": more than the 16777216 bytes a script may have");
	tmp_dir_remove(tmp);
}

static struct script numbered(int n)
{
	char text[4096] = "";
	for (int i = 0; i < n; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "@%d volume 0 1\n", 1000 * (i + 1));
	return parse_ok(text);
}

/* The feeder fills the queue to the brim, never past it, in order, and says
 * up to where everything is queued. */
static void test_feeder_fills_without_overflow(void **state)
{
	(void)state;
	struct script s = numbered(10);
	struct spsc q;
	assert_int_equal(spsc_init(&q, 4, sizeof(struct command)), 0);
	atomic_int_least64_t now;
	atomic_init(&now, 0);
	struct script_feeder *f = script_feeder_create(&s, &q, &now);
	assert_non_null(f);
	assert_true(atomic_load(script_feeder_horizon(f)) == 1000);

	assert_int_equal(script_feeder_fill(f), 6);
	assert_int_equal(spsc_count(&q), 4);
	assert_true(atomic_load(script_feeder_horizon(f)) == 5000);
	assert_int_equal(script_feeder_fill(f), 6); /* full: nothing more */

	struct command c;
	assert_true(spsc_pop(&q, &c));
	assert_true(c.frame == 1000);
	assert_true(spsc_pop(&q, &c));
	assert_int_equal(script_feeder_fill(f), 4);
	int64_t expect = 3000;
	while (spsc_pop(&q, &c)) {
		assert_true(c.frame == expect);
		expect += 1000;
	}
	assert_true(expect == 7000);
	assert_int_equal(script_feeder_fill(f), 0);
	assert_true(atomic_load(script_feeder_horizon(f)) == GL_NEVER);
	assert_int_equal(atomic_load(&q.dropped), 0);
	assert_int_equal(script_feeder_late(f), 0);
	script_feeder_destroy(f);
	spsc_free(&q);
	script_free(&s);
}

static void test_feeder_counts_late_commands(void **state)
{
	(void)state;
	struct script s = numbered(5);
	struct spsc q;
	assert_int_equal(spsc_init(&q, 8, sizeof(struct command)), 0);
	atomic_int_least64_t now;
	atomic_init(&now, 3500); /* the audio is past frames 1000..3000 */
	struct script_feeder *f = script_feeder_create(&s, &q, &now);
	assert_int_equal(script_feeder_fill(f), 0);
	assert_int_equal(script_feeder_late(f), 3);
	script_feeder_destroy(f);
	spsc_free(&q);
	script_free(&s);
}

/* The feeder sleeps until it is poked with the queue at half: it does not
 * poll (a pop without a poke, or a poke above half, refills nothing). */
static void test_feeder_sleeps_until_poked(void **state)
{
	(void)state;
	struct script s = numbered(40);
	struct spsc q;
	assert_int_equal(spsc_init(&q, 4, sizeof(struct command)), 0);
	atomic_int_least64_t now;
	atomic_init(&now, 0);
	struct script_feeder *f = script_feeder_create(&s, &q, &now);
	assert_non_null(f);
	assert_int_equal(script_feeder_fill(f), 36);
	struct command c;
	assert_true(spsc_pop(&q, &c));
	/* Its first fill (the thread starts with one) tops it up again. */
	assert_int_equal(script_feeder_start(f), 0);
	for (int i = 0; i < 2000 && spsc_count(&q) < 4; i++)
		usleep(1000);
	assert_int_equal(spsc_count(&q), 4);
	assert_true(spsc_pop(&q, &c));
	script_feeder_poke(f, false); /* 3 of 4 left: above half */
	usleep(20000);
	assert_int_equal(spsc_count(&q), 3);
	assert_true(spsc_pop(&q, &c));
	usleep(20000);
	assert_int_equal(spsc_count(&q), 2); /* not poked: still asleep */
	script_feeder_poke(f, false);
	for (int i = 0; i < 2000 && spsc_count(&q) < 4; i++)
		usleep(1000);
	assert_int_equal(spsc_count(&q), 4);
	assert_true(spsc_pop(&q, &c));
	assert_true(c.frame == 4000);
	script_feeder_destroy(f); /* wakes and joins the sleeping thread */
	spsc_free(&q);
	script_free(&s);
}

/* The feeder thread keeps a small queue topped up until everything is in. */
static void test_feeder_thread(void **state)
{
	(void)state;
	struct script s = numbered(40);
	struct spsc q;
	assert_int_equal(spsc_init(&q, 4, sizeof(struct command)), 0);
	atomic_int_least64_t now;
	atomic_init(&now, 0);
	struct script_feeder *f = script_feeder_create(&s, &q, &now);
	assert_int_equal(script_feeder_start(f), 0);
	int64_t expect = 1000;
	for (int spins = 0; expect <= 40000 && spins < 100000; spins++) {
		struct command c;
		if (spsc_pop(&q, &c)) {
			assert_true(c.frame == expect);
			expect += 1000;
			script_feeder_poke(f, false); /* as the audio thread does */
		} else {
			usleep(100);
		}
	}
	assert_true(expect == 41000);
	script_feeder_stop(f);
	assert_int_equal(atomic_load(&q.dropped), 0);
	script_feeder_destroy(f);
	spsc_free(&q);
	script_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_word),
	    cmocka_unit_test(test_feeder_sleeps_until_poked),
	    cmocka_unit_test(test_export_and_save),
	    cmocka_unit_test(test_empty_script),
	    cmocka_unit_test(test_errors_name_the_line),
	    cmocka_unit_test(test_midi_through_the_profile),
	    cmocka_unit_test(test_midi_profile_chosen),
	    cmocka_unit_test(test_midi_without_a_profile),
	    cmocka_unit_test(test_file),
	    cmocka_unit_test(test_midi_line_too_long),
	    cmocka_unit_test(test_numbers_are_decimal),
	    cmocka_unit_test(test_script_limits),
	    cmocka_unit_test(test_file_with_a_nul_byte),
	    cmocka_unit_test(test_file_kinds),
	    cmocka_unit_test(test_feeder_fills_without_overflow),
	    cmocka_unit_test(test_feeder_counts_late_commands),
	    cmocka_unit_test(test_feeder_thread),
	};
	return cmocka_run_group_tests(tests, load_profiles, NULL);
}
