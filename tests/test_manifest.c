/* test_manifest.c -- the session manifest: a session survives write and
 * parse unchanged, a minimal or older manifest loads with defaults, a newer
 * one loads when it says it is compatible and is refused with a clear
 * message when not, and every kind of mistake is refused with a message
 * naming the field, leaving the session as session_init(s, 0) made it.
 * Also session.c's small helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

static struct session sess;
static char err[512];

static int parse(const char *text)
{
	/* Garbage first: parse must set every field itself. */
	memset(&sess, 0xAB, sizeof(sess));
	err[0] = '\0';
	return manifest_parse(text, strlen(text), &sess, err, sizeof(err));
}

static void assert_initial(const struct session *s)
{
	struct session fresh;
	session_init(&fresh, 0);
	assert_memory_equal(s, &fresh, sizeof(fresh));
}

/* The parse failed, err names `field`, and sess is back to its start. */
static void assert_refused(int rc, const char *field)
{
	assert_int_equal(rc, -1);
	if (!strstr(err, field))
		fail_msg("error \"%s\" does not name \"%s\"", err, field);
	assert_initial(&sess);
}

static void assert_parsed(int rc)
{
	if (rc != 0)
		fail_msg("refused: %s", err);
	assert_string_equal(err, "");
}

/* ---- session.c ----------------------------------------------------------- */

static void test_session_init_defaults(void **state)
{
	(void)state;
	struct session s;
	memset(&s, 0xAB, sizeof(s));
	session_init(&s, 48000);
	assert_int_equal(s.rate, 48000);
	assert_true(s.tempo == 0);
	assert_int_equal(s.beats_per_bar, 4);
	assert_int_equal(s.quantise, QUANTISE_BAR);
	assert_false(s.metronome);
	assert_true(s.master_volume == 1.0f);
	for (int t = 0; t < GL_TRACKS; t++) {
		assert_true(s.tracks[t].volume == 1.0f);
		assert_false(s.tracks[t].mute);
	}
	for (int i = 0; i < GL_SLOTS; i++) {
		assert_false(s.clips[i].present);
		assert_null(s.clips[i].audio[0]);
		assert_null(s.clips[i].audio[1]);
	}
	assert_string_equal(s.saved_at, "");
	assert_int_equal(session_clip_count(&s), 0);
}

static void test_session_audio_and_count(void **state)
{
	(void)state;
	struct session s;
	session_init(&s, 48000);
	s.clips[3].present = true;
	s.clips[3].channels = 2;
	s.clips[3].audio[0] = calloc(16, sizeof(float));
	s.clips[3].audio[1] = calloc(16, sizeof(float));
	s.clips[GL_SLOTS - 1].present = true;
	s.clips[GL_SLOTS - 1].channels = 1;
	s.clips[GL_SLOTS - 1].audio[0] = calloc(16, sizeof(float));
	assert_int_equal(session_clip_count(&s), 2);
	session_free_audio(&s); /* ASan's leak check sees if any is left */
	assert_null(s.clips[3].audio[0]);
	assert_null(s.clips[3].audio[1]);
	assert_null(s.clips[GL_SLOTS - 1].audio[0]);
	assert_int_equal(session_clip_count(&s), 2); /* the clips stay */
	session_free_audio(&s);			     /* twice is harmless */
}

/* ---- names --------------------------------------------------------------- */

static void test_name_ok(void **state)
{
	(void)state;
	char longest[SESSION_NAME_MAX], too_long[SESSION_NAME_MAX + 1];
	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';

	assert_true(manifest_name_ok("clip-t1-s01-000003.wav"));
	assert_true(manifest_name_ok("A_b.C-9"));
	assert_true(manifest_name_ok("x"));
	assert_true(manifest_name_ok("x.."));
	assert_true(manifest_name_ok(longest));

	assert_false(manifest_name_ok(NULL));
	assert_false(manifest_name_ok(""));
	assert_false(manifest_name_ok(too_long));
	assert_false(manifest_name_ok("."));
	assert_false(manifest_name_ok(".."));
	assert_false(manifest_name_ok(".hidden"));
	assert_false(manifest_name_ok("../x.wav"));
	assert_false(manifest_name_ok("/etc/passwd"));
	assert_false(manifest_name_ok("a/b"));
	assert_false(manifest_name_ok("a\\b"));
	assert_false(manifest_name_ok("a b.wav"));
	assert_false(manifest_name_ok("caf\xc3\xa9.wav"));
	assert_false(manifest_name_ok("a\nb"));
	assert_false(manifest_name_ok("c:x"));
}

/* ---- round trips --------------------------------------------------------- */

static void add_clip(struct session *s, int track, int scene, int channels,
		     int64_t frames, double bars)
{
	struct session_clip *c = &s->clips[scene * GL_TRACKS + track];
	c->present = true;
	c->channels = channels;
	c->frames = frames;
	c->bars = bars;
	snprintf(c->file, sizeof(c->file), "clip-t%d-s%02d-%06d.wav", track + 1,
		 scene + 1, scene * GL_TRACKS + track);
}

static void assert_same_session(const struct session *a, const struct session *b)
{
	assert_int_equal(a->rate, b->rate);
	assert_true(a->tempo == b->tempo);
	assert_int_equal(a->beats_per_bar, b->beats_per_bar);
	assert_int_equal(a->quantise, b->quantise);
	assert_int_equal(a->metronome, b->metronome);
	assert_true(a->master_volume == b->master_volume);
	for (int t = 0; t < GL_TRACKS; t++) {
		assert_true(a->tracks[t].volume == b->tracks[t].volume);
		assert_int_equal(a->tracks[t].mute, b->tracks[t].mute);
	}
	for (int i = 0; i < GL_SLOTS; i++) {
		const struct session_clip *x = &a->clips[i], *y = &b->clips[i];
		assert_int_equal(x->present, y->present);
		if (!x->present)
			continue;
		assert_int_equal(x->channels, y->channels);
		assert_int_equal(x->frames, y->frames);
		assert_true(x->bars == y->bars);
		assert_string_equal(x->file, y->file);
		assert_int_equal(x->muted, y->muted);
		assert_int_equal(x->reversed, y->reversed);
		assert_true((x->speed ? x->speed : 1) == y->speed);
		assert_int_equal(x->cycle, y->cycle);
		assert_int_equal(x->nseams, y->nseams);
		for (int k = 0; k < x->nseams; k++)
			assert_int_equal(x->seams[k], y->seams[k]);
		assert_null(y->audio[0]);
		assert_null(y->audio[1]);
	}
	assert_string_equal(a->saved_at, b->saved_at);
}

/* Writes s, parses the text back into sess and checks they are equal. */
static void round_trip(const struct session *s)
{
	char *text = manifest_write(s);
	assert_non_null(text);
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_parsed(parse(text));
	assert_same_session(s, &sess);
	free(text);
}

static void test_round_trip_full(void **state)
{
	(void)state;
	struct session s;
	session_init(&s, 96000);
	s.tempo = 123.456789;
	s.beats_per_bar = 7;
	s.quantise = QUANTISE_BEAT;
	s.metronome = true;
	s.master_volume = 0.8f;
	for (int t = 0; t < GL_TRACKS; t++) {
		s.tracks[t].volume = (float)t / 3.7f; /* not short decimals */
		s.tracks[t].mute = t % 3 == 1;
	}
	add_clip(&s, 0, 0, 1, 96000, 1.0 / 3.0);
	add_clip(&s, 7, 0, 2, 1, 0);
	add_clip(&s, 0, 9, 2, (int64_t)1 << 40, 12345.5);
	add_clip(&s, 7, 9, 1, 4800001, 2.0);
	add_clip(&s, 3, 4, 2, 2147483648LL, 0.1);
	/* Needs 16 digits: 15 come back within an epsilon but not exactly
	 * (found by the fuzzer, when cJSON printed the numbers). */
	add_clip(&s, 5, 6, 1, 4800, 4328372.597191111);
	s.clips[6 * GL_TRACKS + 5].muted = true; /* a clip's own mute */
	s.clips[4 * GL_TRACKS + 3].reversed = true;
	s.clips[4 * GL_TRACKS + 3].speed = 0.5;
	s.clips[9 * GL_TRACKS + 7].speed = 2;
	s.clips[0].cycle = 32000; /* a multiplied take: 3 cycles */
	s.clips[0].nseams = 2;	  /* with an insert's two ends */
	s.clips[0].seams[0] = 17;
	s.clips[0].seams[1] = 95999;
	snprintf(s.saved_at, sizeof(s.saved_at), "2026-11-26T01:23:45Z");
	round_trip(&s);
	assert_int_equal(sess.clips[0].cycle, 32000);
	assert_int_equal(sess.clips[7].cycle, 0);
	assert_true(sess.clips[6 * GL_TRACKS + 5].muted);
	assert_true(sess.clips[4 * GL_TRACKS + 3].reversed);
	assert_false(sess.clips[6 * GL_TRACKS + 5].reversed);
	assert_true(sess.clips[4 * GL_TRACKS + 3].speed == 0.5);
	assert_true(sess.clips[9 * GL_TRACKS + 7].speed == 2);
	assert_true(sess.clips[0].speed == 1);
	assert_false(sess.clips[0].muted);
	assert_int_equal(session_clip_count(&sess), 6);
	assert_true(sess.clips[9 * GL_TRACKS].frames == (int64_t)1 << 40);

	/* The other settings too. */
	s.rate = 44100;
	s.tempo = 0;
	s.quantise = QUANTISE_OFF;
	s.metronome = false;
	s.master_volume = 2.0f;
	s.tracks[0].volume = 0.0f;
	s.saved_at[0] = '\0';
	round_trip(&s);
}

static void test_written_shape(void **state)
{
	(void)state;
	struct session s;
	session_init(&s, 48000);
	s.tempo = 120;
	s.tracks[2].volume = 0.8f;
	add_clip(&s, 0, 0, 1, 96000, 2.0);
	snprintf(s.saved_at, sizeof(s.saved_at), "2026-11-26T01:23:45Z");
	char *text = manifest_write(&s);
	assert_non_null(text);
	/* Exactly the shape of the format: 1-based track and scene, short
	 * decimals for float gains. */
	const char *expected[] = {"\"format\":\t\"gridloop-session\"",
				  "\"version\":\t1",
				  "\"compatible\":\t1",
				  "\"saved\":\t\"2026-11-26T01:23:45Z\"",
				  "\"rate\":\t48000",
				  "\"tempo\":\t120",
				  "\"beats_per_bar\":\t4",
				  "\"quantise\":\t\"bar\"",
				  "\"metronome\":\tfalse",
				  "\"master_volume\":\t1",
				  "\"volume\":\t0.8,",
				  "\"mute\":\tfalse",
				  "\"track\":\t1",
				  "\"scene\":\t1",
				  "\"file\":\t\"clip-t1-s01-000000.wav\"",
				  "\"frames\":\t96000",
				  "\"bars\":\t2",
				  "\"channels\":\t1"};
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		if (!strstr(text, expected[i]))
			fail_msg("no %s in\n%s", expected[i], text);
	/* An unmuted clip says nothing of it: the manifest is as before. */
	assert_null(strstr(text, "\"muted\""));
	assert_null(strstr(text, "\"reverse\""));
	assert_null(strstr(text, "\"speed\""));
	assert_null(strstr(text, "\"cycle\""));
	assert_null(strstr(text, "\"seams\""));
	free(text);
}

static void test_empty_session_round_trip(void **state)
{
	(void)state;
	struct session s;
	session_init(&s, 48000);
	round_trip(&s);
	assert_int_equal(session_clip_count(&sess), 0);
}

/* ---- older, minimal and newer manifests ---------------------------------- */

#define HEAD "{\"format\": \"gridloop-session\", \"version\": 1, \"rate\": 48000, "
#define CLIP                                                                             \
	"{\"track\": 2, \"scene\": 3, \"file\": \"a.wav\", \"frames\": 192000, "         \
	"\"channels\": 1"

static void test_minimal_defaults(void **state)
{
	(void)state;
	assert_parsed(parse(HEAD "\"clips\": []}"));
	struct session expected;
	session_init(&expected, 48000);
	assert_memory_equal(&sess, &expected, sizeof(expected));
}

static void test_bars_computed_when_missing(void **state)
{
	(void)state;
	/* 120 BPM in 4/4 at 48 kHz: 96000 frames a bar. */
	assert_parsed(parse(HEAD "\"tempo\": 120, \"clips\": [" CLIP "}]}"));
	const struct session_clip *c = &sess.clips[2 * GL_TRACKS + 1];
	assert_true(c->present);
	assert_true(c->bars == 2.0);
	assert_int_equal(c->frames, 192000);
	assert_string_equal(c->file, "a.wav");
	/* No tempo: no bars. */
	assert_parsed(parse(HEAD "\"clips\": [" CLIP "}]}"));
	assert_true(sess.clips[2 * GL_TRACKS + 1].bars == 0);
	/* Said: taken as said. */
	assert_parsed(
	    parse(HEAD "\"tempo\": 120, \"clips\": [" CLIP ", \"bars\": 1.5}]}"));
	assert_true(sess.clips[2 * GL_TRACKS + 1].bars == 1.5);
}

static void test_future_compatible_loads(void **state)
{
	(void)state;
	assert_parsed(parse("{\"format\": \"gridloop-session\", \"version\": 7, "
			    "\"compatible\": 1, \"rate\": 44100, \"tempo\": 90, "
			    "\"new_thing\": {\"deep\": [1, 2, {\"x\": null}]}, "
			    "\"scenes\": [\"intro\"], \"tracks\": ["
			    "{\"volume\": 0.5, \"mute\": true, \"pan\": -0.3},"
			    "{}, {}, {}, {}, {}, {}, {\"colour\": \"red\"}], "
			    "\"clips\": [" CLIP ", \"stretch\": \"elastic\"}]}"));
	assert_int_equal(sess.rate, 44100);
	assert_true(sess.tempo == 90);
	assert_true(sess.tracks[0].volume == 0.5f);
	assert_true(sess.tracks[0].mute);
	assert_true(sess.tracks[7].volume == 1.0f);
	assert_int_equal(session_clip_count(&sess), 1);
}

static void test_newer_refused(void **state)
{
	(void)state;
	assert_refused(parse("{\"format\": \"gridloop-session\", \"version\": 2, "
			     "\"compatible\": 2, \"rate\": 48000, \"clips\": []}"),
		       "version");
	assert_string_equal(err,
			    "version: written by a newer gridloop (format version 2, "
			    "needs a reader of version 2); this one reads version 1");
	/* No "compatible": the version itself. */
	assert_refused(parse("{\"format\": \"gridloop-session\", \"version\": 3, "
			     "\"rate\": 48000, \"clips\": []}"),
		       "newer gridloop (format version 3, needs a reader of version 3)");
}

static void test_saved_truncated(void **state)
{
	(void)state;
	/* 30 ASCII bytes, then a 3-byte character that does not fit. */
	assert_parsed(parse(HEAD "\"saved\": \"123456789012345678901234567890\xe2\x82\xac"
				 "xyz\", \"clips\": []}"));
	assert_string_equal(sess.saved_at, "123456789012345678901234567890");
	assert_parsed(parse(HEAD "\"saved\": \"2026-11-26T01:23:45Z\", \"clips\": []}"));
	assert_string_equal(sess.saved_at, "2026-11-26T01:23:45Z");
}

static void test_whitespace_around_ok(void **state)
{
	(void)state;
	assert_parsed(parse(" \n\t" HEAD "\"clips\": []}\r\n  "));
	assert_int_equal(sess.rate, 48000);
}

/* ---- mistakes ------------------------------------------------------------ */

struct bad_case {
	const char *text;
	const char *field; /* must appear in the message */
};

#define NAME_96                                                                          \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaa"

static const struct bad_case bad_cases[] = {
    /* Not a manifest at all. */
    {"", "manifest: not valid JSON"},
    {"   ", "manifest: not valid JSON"},
    {"[]", "manifest: must be a JSON object"},
    {"\"gridloop-session\"", "manifest: must be a JSON object"},
    {"42", "manifest: must be a JSON object"},
    {HEAD "\"clips\": [", "manifest: not valid JSON"},
    {HEAD "\"clips\": []", "manifest: not valid JSON"},
    {HEAD "\"clips\": [] } }", "manifest: not valid JSON (text after"},
    {HEAD "\"clips\": [] } x", "manifest: not valid JSON (text after"},
    {"{\"format\": \"gridloop-sess", "manifest: not valid JSON"},
    {"{\"format\":\"gridloop-session\",\"version\":2,", "manifest: not valid JSON"},
    /* format and versions */
    {"{\"version\": 1, \"rate\": 48000, \"clips\": []}", "format: missing"},
    {"{\"format\": \"other\", \"version\": 1, \"rate\": 48000, \"clips\": []}",
     "format: must be \"gridloop-session\" (got \"other\")"},
    {"{\"format\": 1, \"version\": 1, \"rate\": 48000, \"clips\": []}", "format:"},
    {"{\"format\": \"gridloop-session\", \"rate\": 48000, \"clips\": []}",
     "version: missing"},
    {"{\"format\": \"gridloop-session\", \"version\": \"1\", \"rate\": 48000, "
     "\"clips\": []}",
     "version: must be a whole number >= 1 (got \"1\")"},
    {"{\"format\": \"gridloop-session\", \"version\": 0, \"rate\": 48000, "
     "\"clips\": []}",
     "version:"},
    {"{\"format\": \"gridloop-session\", \"version\": 1.5, \"rate\": 48000, "
     "\"clips\": []}",
     "version:"},
    {"{\"format\": \"gridloop-session\", \"version\": 1, \"compatible\": 0, "
     "\"rate\": 48000, \"clips\": []}",
     "compatible:"},
    {"{\"format\": \"gridloop-session\", \"version\": 1, \"compatible\": 2, "
     "\"rate\": 48000, \"clips\": []}",
     "compatible:"},
    {"{\"format\": \"gridloop-session\", \"version\": 2, \"compatible\": true, "
     "\"rate\": 48000, \"clips\": []}",
     "compatible:"},
    /* rate, the other required setting */
    {"{\"format\": \"gridloop-session\", \"version\": 1, \"clips\": []}",
     "rate: missing"},
    {"{\"format\": \"gridloop-session\", \"version\": 1, \"rate\": 22050, "
     "\"clips\": []}",
     "rate: must be 44100, 48000 or 96000 (got 22050)"},
    {"{\"format\": \"gridloop-session\", \"version\": 1, \"rate\": 48000.5, "
     "\"clips\": []}",
     "rate:"},
    {"{\"format\": \"gridloop-session\", \"version\": 1, \"rate\": \"48000\", "
     "\"clips\": []}",
     "rate:"},
    {"{\"format\": \"gridloop-session\", \"version\": 1, \"rate\": 1e400, "
     "\"clips\": []}",
     "rate:"},
    /* optional settings, wrong */
    {HEAD "\"tempo\": 500, \"clips\": []}", "tempo: must be 30..300"},
    {HEAD "\"tempo\": 500, \"clips\": []}", "(got 500)"},
    {HEAD "\"tempo\": 29.9, \"clips\": []}", "tempo:"},
    {HEAD "\"tempo\": -120, \"clips\": []}", "tempo:"},
    {HEAD "\"tempo\": \"120\", \"clips\": []}", "tempo:"},
    {HEAD "\"tempo\": null, \"clips\": []}",
     "tempo: must be 30..300, or 0 for no tempo (got null)"},
    {HEAD "\"beats_per_bar\": 0, \"clips\": []}", "beats_per_bar:"},
    {HEAD "\"beats_per_bar\": 17, \"clips\": []}", "beats_per_bar:"},
    {HEAD "\"beats_per_bar\": 3.5, \"clips\": []}", "beats_per_bar:"},
    {HEAD "\"quantise\": \"bars\", \"clips\": []}", "quantise:"},
    {HEAD "\"quantise\": 2, \"clips\": []}", "quantise:"},
    {HEAD "\"quantise\": \"BAR\", \"clips\": []}", "quantise:"},
    {HEAD "\"metronome\": 1, \"clips\": []}", "metronome: must be true or false (got 1)"},
    {HEAD "\"metronome\": \"true\", \"clips\": []}", "metronome:"},
    {HEAD "\"master_volume\": 2.01, \"clips\": []}", "master_volume:"},
    {HEAD "\"master_volume\": -0.1, \"clips\": []}", "master_volume:"},
    {HEAD "\"master_volume\": [1], \"clips\": []}",
     "master_volume: must be a number 0..2 (got an array)"},
    {HEAD "\"saved\": 20261126, \"clips\": []}", "saved:"},
    /* tracks */
    {HEAD "\"tracks\": {}, \"clips\": []}",
     "tracks: must be an array of 8 track objects (got an object)"},
    {HEAD "\"tracks\": [{}, {}, {}, {}, {}, {}, {}], \"clips\": []}",
     "tracks: must be an array of 8 track objects (got 7)"},
    {HEAD "\"tracks\": [{}, {}, {}, {}, {}, {}, {}, {}, {}], \"clips\": []}", "tracks:"},
    {HEAD "\"tracks\": [{}, {}, {}, 1, {}, {}, {}, {}], \"clips\": []}",
     "tracks[3]: must be an object"},
    {HEAD "\"tracks\": [{}, {}, {}, {}, {}, {\"volume\": 3}, {}, {}], \"clips\": []}",
     "tracks[5].volume: must be a number 0..2 (got 3)"},
    {HEAD "\"tracks\": [{}, {}, {}, {}, {}, {}, {}, {\"mute\": 0}], \"clips\": []}",
     "tracks[7].mute:"},
    /* clips, the list */
    {HEAD "\"tempo\": 120}", "clips: missing"},
    {HEAD "\"clips\": {}}", "clips: must be an array"},
    {HEAD "\"clips\": null}", "clips:"},
    {HEAD "\"clips\": [" CLIP "}, 7]}", "clips[1]: must be an object (got 7)"},
    /* clips, each field */
    {HEAD
     "\"clips\": [{\"scene\": 1, \"file\": \"a.wav\", \"frames\": 1, \"channels\": 1}]}",
     "clips[0].track: missing"},
    {HEAD "\"clips\": [{\"track\": 0, \"scene\": 1, \"file\": \"a.wav\", \"frames\": 1, "
	  "\"channels\": 1}]}",
     "clips[0].track: must be a whole number 1..8 (got 0)"},
    {HEAD "\"clips\": [{\"track\": 9, \"scene\": 1, \"file\": \"a.wav\", \"frames\": 1, "
	  "\"channels\": 1}]}",
     "clips[0].track:"},
    {HEAD "\"clips\": [{\"track\": 1.5, \"scene\": 1, \"file\": \"a.wav\", \"frames\": "
	  "1, \"channels\": 1}]}",
     "clips[0].track:"},
    {HEAD "\"clips\": [{\"track\": \"1\", \"scene\": 1, \"file\": \"a.wav\", \"frames\": "
	  "1, \"channels\": 1}]}",
     "clips[0].track:"},
    {HEAD
     "\"clips\": [{\"track\": 1, \"file\": \"a.wav\", \"frames\": 1, \"channels\": 1}]}",
     "clips[0].scene: missing"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 11, \"file\": \"a.wav\", \"frames\": 1, "
	  "\"channels\": 1}]}",
     "clips[0].scene: must be a whole number 1..10 (got 11)"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 0, \"file\": \"a.wav\", \"frames\": 1, "
	  "\"channels\": 1}]}",
     "clips[0].scene:"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"frames\": 1, \"channels\": 1}]}",
     "clips[0].file: missing"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": 5, \"frames\": 1, "
	  "\"channels\": 1}]}",
     "clips[0].file:"},
    {HEAD "\"clips\": [" CLIP
	  "}, {\"track\": 1, \"scene\": 1, \"file\": \"b.wav\", \"channels\": 1}]}",
     "clips[1].frames: missing"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a.wav\", \"frames\": 0, "
	  "\"channels\": 1}]}",
     "clips[0].frames: must be a whole number > 0"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a.wav\", \"frames\": -5, "
	  "\"channels\": 1}]}",
     "clips[0].frames:"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a.wav\", \"frames\": "
	  "100.5, \"channels\": 1}]}",
     "clips[0].frames:"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a.wav\", \"frames\": "
	  "1099511627777, \"channels\": 1}]}",
     "clips[0].frames: must be a whole number > 0, at most 2^40 (got 1099511627777)"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a.wav\", \"frames\": "
	  "1e300, \"channels\": 1}]}",
     "clips[0].frames:"},
    {HEAD
     "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a.wav\", \"frames\": 1}]}",
     "clips[0].channels: missing"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a.wav\", \"frames\": 1, "
	  "\"channels\": 3}]}",
     "clips[0].channels: must be 1 or 2 (got 3)"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a.wav\", \"frames\": 1, "
	  "\"channels\": 0}]}",
     "clips[0].channels:"},
    {HEAD "\"clips\": [" CLIP ", \"bars\": -1}]}",
     "clips[0].bars: must be a number >= 0 (got -1)"},
    {HEAD "\"clips\": [" CLIP ", \"bars\": \"2\"}]}", "clips[0].bars:"},
    {HEAD "\"clips\": [" CLIP ", \"muted\": 1}]}",
     "clips[0].muted: must be true or false (got 1)"},
    {HEAD "\"clips\": [" CLIP ", \"reverse\": \"yes\"}]}",
     "clips[0].reverse: must be true or false"},
    {HEAD "\"clips\": [" CLIP ", \"seams\": [5, 5]}]}",
     "clips[0].seams: must be an array of at most 16 increasing whole numbers"},
    {HEAD "\"clips\": [" CLIP ", \"seams\": [0]}]}", "clips[0].seams:"},
    {HEAD "\"clips\": [" CLIP ", \"seams\": [192000]}]}", "clips[0].seams:"},
    {HEAD "\"clips\": [" CLIP ", \"seams\": 5}]}", "clips[0].seams:"},
    {HEAD "\"clips\": [" CLIP ", \"seams\": [1.5]}]}", "clips[0].seams:"},
    {HEAD "\"clips\": [" CLIP
	  ", \"seams\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}]}",
     "clips[0].seams:"},
    {HEAD "\"clips\": [" CLIP ", \"cycle\": 7}]}",
     "clips[0].cycle: must be a whole number > 0 that divides frames"},
    {HEAD "\"clips\": [" CLIP ", \"cycle\": 0}]}", "clips[0].cycle:"},
    {HEAD "\"clips\": [" CLIP ", \"cycle\": 96001}]}", "clips[0].cycle:"},
    {HEAD "\"clips\": [" CLIP ", \"cycle\": 1.5}]}", "clips[0].cycle:"},
    {HEAD "\"clips\": [" CLIP ", \"speed\": 1.5}]}",
     "clips[0].speed: must be 0.5, 1 or 2 (got 1.5)"},
    {HEAD "\"clips\": [" CLIP ", \"speed\": 4}]}", "clips[0].speed: must be 0.5, 1 or 2"},
    {HEAD "\"clips\": [" CLIP ", \"speed\": \"2\"}]}", "clips[0].speed:"},
    /* clip file names: only plain names inside the session directory */
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"../x.wav\", \"frames\": "
	  "1, \"channels\": 1}]}",
     "clips[0].file: must be a plain file name"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"/etc/passwd\", "
	  "\"frames\": 1, \"channels\": 1}]}",
     "clips[0].file:"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \".hidden\", \"frames\": "
	  "1, \"channels\": 1}]}",
     "clips[0].file:"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a/b\", \"frames\": 1, "
	  "\"channels\": 1}]}",
     "clips[0].file:"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"\", \"frames\": 1, "
	  "\"channels\": 1}]}",
     "clips[0].file:"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"..\", \"frames\": 1, "
	  "\"channels\": 1}]}",
     "clips[0].file:"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"" NAME_96
	  "\", \"frames\": 1, \"channels\": 1}]}",
     "clips[0].file:"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"a\\u0000/../../x\", "
	  "\"frames\": 1, \"channels\": 1}, {\"track\": 1, \"scene\": 2, \"file\": "
	  "\"a\\nb\", \"frames\": 1, \"channels\": 1}]}",
     "clips[1].file:"},
    /* two clips in one slot, two clips in one file */
    {HEAD "\"clips\": [" CLIP "}, {\"track\": 2, \"scene\": 3, \"file\": \"b.wav\", "
	  "\"frames\": 1, \"channels\": 2}]}",
     "clips[1].scene: track 2, scene 3 already has a clip (clips[0])"},
    {HEAD "\"clips\": [{\"track\": 1, \"scene\": 1, \"file\": \"b.wav\", \"frames\": 1, "
	  "\"channels\": 1}, " CLIP "}, {\"track\": 3, \"scene\": 3, \"file\": "
	  "\"a.wav\", \"frames\": 1, \"channels\": 2}]}",
     "clips[2].file: \"a.wav\" is also the file of clips[1]"},
    {HEAD "\"clips\": [" CLIP "}, {\"track\": 3, \"scene\": 3, \"file\": \"A.WAV\", "
	  "\"frames\": 1, \"channels\": 2}]}",
     "clips[1].file:"},
};

static void test_bad_manifests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		int rc = parse(bad_cases[i].text);
		if (rc != -1 || !strstr(err, bad_cases[i].field))
			fail_msg("case %zu: %s\n  -> rc %d, \"%s\"; expected \"%s\"", i,
				 bad_cases[i].text, rc, err, bad_cases[i].field);
		assert_initial(&sess);
	}
}

/* The messages say what they got, shortened, without control characters. */
static void test_message_quotes_safely(void **state)
{
	(void)state;
	assert_refused(parse(HEAD
			     "\"quantise\": \"\\u001b[2Jabcdefghijklmnopqrstuvwxyz\", "
			     "\"clips\": []}"),
		       "quantise:");
	assert_non_null(strstr(err, "(got \"?[2Jabcdefghijklmnopqrst\"...)"));
	/* A short buffer gets a cut message, not an overflow. */
	char small[8];
	assert_int_equal(manifest_parse("[]", 2, &sess, small, sizeof(small)), -1);
	assert_string_equal(small, "manifes");
	assert_int_equal(manifest_parse("[]", 2, &sess, NULL, 0), -1);
}

/* The length is what counts: no NUL needed, nothing read past it. */
static void test_length_not_nul(void **state)
{
	(void)state;
	const char *text = HEAD "\"clips\": []}";
	size_t len = strlen(text);
	char *exact = malloc(len); /* no terminator: ASan sees any over-read */
	assert_non_null(exact);
	memcpy(exact, text, len);
	assert_int_equal(manifest_parse(exact, len, &sess, err, sizeof(err)), 0);
	assert_int_equal(manifest_parse(exact, len - 1, &sess, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "manifest: not valid JSON"));
	assert_initial(&sess);
	free(exact);
	/* An embedded NUL is not the end. */
	const char with_nul[] = HEAD "\"clips\": []}\0garbage";
	assert_int_equal(
	    manifest_parse(with_nul, sizeof(with_nul) - 1, &sess, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "manifest:"));
}

static void test_huge_refused(void **state)
{
	(void)state;
	/* A valid manifest padded with spaces to just over the limit. */
	size_t len = MANIFEST_MAX_SIZE + 1;
	char *text = malloc(len + 1);
	assert_non_null(text);
	const char *body = HEAD "\"clips\": []}";
	memset(text, ' ', len);
	memcpy(text, body, strlen(body));
	text[len] = '\0';
	assert_refused(manifest_parse(text, len, &sess, err, sizeof(err)),
		       "manifest: too big (1048577 bytes");
	/* At the limit it loads. */
	assert_int_equal(manifest_parse(text, len - 1, &sess, err, sizeof(err)), 0);
	free(text);
}

/* Deep nesting is refused by cJSON's own limit, not a stack overflow. */
static void test_deep_nesting_refused(void **state)
{
	(void)state;
	size_t depth = 100000;
	char *text = malloc(depth * 2 + 256);
	assert_non_null(text);
	size_t n = (size_t)sprintf(text, HEAD "\"x\": ");
	memset(text + n, '[', depth);
	n += depth;
	memset(text + n, ']', depth);
	n += depth;
	n += (size_t)sprintf(text + n, ", \"clips\": []}");
	assert_refused(manifest_parse(text, n, &sess, err, sizeof(err)),
		       "manifest: not valid JSON");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_session_init_defaults),
	    cmocka_unit_test(test_session_audio_and_count),
	    cmocka_unit_test(test_name_ok),
	    cmocka_unit_test(test_round_trip_full),
	    cmocka_unit_test(test_written_shape),
	    cmocka_unit_test(test_empty_session_round_trip),
	    cmocka_unit_test(test_minimal_defaults),
	    cmocka_unit_test(test_bars_computed_when_missing),
	    cmocka_unit_test(test_future_compatible_loads),
	    cmocka_unit_test(test_newer_refused),
	    cmocka_unit_test(test_saved_truncated),
	    cmocka_unit_test(test_whitespace_around_ok),
	    cmocka_unit_test(test_bad_manifests),
	    cmocka_unit_test(test_message_quotes_safely),
	    cmocka_unit_test(test_length_not_nul),
	    cmocka_unit_test(test_huge_refused),
	    cmocka_unit_test(test_deep_nesting_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
