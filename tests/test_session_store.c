/* test_session_store.c -- firmware/sd/session_store.c: sessions saved on the
 * card come back bit for bit, whatever moment the power goes, and damaged
 * or foreign clip files are refused by name.
 *
 * Card faults and power cuts come from the fsfault shim
 * (tests/fsfault/fsfault.c), preloaded into a child that is this program
 * again: "test_session_store --child save-b DIR" saves session B over
 * whatever is in DIR. The shim's path is $FSFAULT_SO (scripts/run-tests
 * sets it), else fsfault.so next to the tests/ directory holding this
 * binary; without it those tests are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "manifest.h"
#include "session.h"
#include "session_store.h"
#include "sysmem.h"
#include "fsfault/fsfault_child.h"

static struct fsfault_child child; /* this binary and the shim */
static char dir[PATH_MAX];	   /* the session directory of the test */
static char err[512];

/* ---- the scratch directory ---------------------------------------------------- */

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_session_store.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static void empty_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    unlinkat(dirfd(d), e->d_name, 0) != 0 && errno == EISDIR) {
			char sub[PATH_MAX + 300];
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			empty_dir(sub);
			unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		}
	closedir(d);
}

static int remove_dir(void **state)
{
	(void)state;
	empty_dir(dir);
	return rmdir(dir);
}

static void path_in(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* Entries of dir, and how many are clip files. */
static int count_entries(int *clips, int *temporaries)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	*clips = *temporaries = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		*clips += strncmp(e->d_name, "clip-", 5) == 0;
		*temporaries += e->d_name[0] == '.';
	}
	closedir(d);
	return n;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* ---- sessions A and B ---------------------------------------------------------- */

/* Audio that tells clips apart, with values a lossy path would change:
 * full scale, over full scale, a denormal, minus zero. */
static void fill(float *x, int64_t frames, unsigned seed)
{
	uint32_t r = seed * 2654435761u + 7;
	for (int64_t i = 0; i < frames; i++) {
		r = r * 1664525u + 1013904223u;
		x[i] = (float)((double)r / 4294967296.0 * 2.0 - 1.0);
	}
	static const float special[] = {1.0f, -1.0f, 1.5f, 1e-40f, -0.0f};
	for (size_t i = 0; i < 5 && (int64_t)i < frames; i++)
		x[i] = special[i];
}

static void set_clip(struct session *s, int slot, int channels, int64_t frames,
		     unsigned seed)
{
	struct session_clip *c = &s->clips[slot];
	c->present = true;
	c->channels = channels;
	c->frames = frames;
	for (int ch = 0; ch < channels; ch++) {
		c->audio[ch] = malloc((size_t)frames * sizeof(float));
		assert_non_null(c->audio[ch]);
		fill(c->audio[ch], frames, seed * 2 + (unsigned)ch);
	}
}

#define SLOT(track, scene) (((scene)-1) * GL_TRACKS + (track)-1)

static void session_a(struct session *s)
{
	session_init(s, 48000);
	s->tempo = 120;
	s->master_volume = 0.8f;
	s->tracks[1].mute = true;
	set_clip(s, SLOT(1, 1), 1, 2000, 1);
	set_clip(s, SLOT(2, 2), 2, 1500, 2);
	set_clip(s, SLOT(8, 10), 1, 777, 3);
}

/* B keeps A's first clip (same file), drops one, changes one, adds one. */
static void session_b(struct session *s)
{
	session_init(s, 48000);
	s->tempo = 90.5;
	s->beats_per_bar = 3;
	s->metronome = true;
	s->tracks[4].volume = 0.25f;
	set_clip(s, SLOT(1, 1), 1, 2000, 1);
	set_clip(s, SLOT(8, 10), 2, 3000, 4);
	set_clip(s, SLOT(3, 5), 1, 2500, 5);
}

static int save(struct session *s, bool commit, char *why, size_t whylen)
{
	struct session old;
	uint64_t serial = 0;
	int r = session_store_load(dir, &old, &serial, why, whylen);
	if (r < 0)
		return r;
	for (int i = 0; i < GL_SLOTS; i++) {
		if (!s->clips[i].present)
			continue;
		/* An unchanged clip keeps its file: only B's first clip is. */
		if (r == 0 && i == SLOT(1, 1) && old.clips[i].present &&
		    old.clips[i].frames == s->clips[i].frames &&
		    old.clips[i].channels == s->clips[i].channels) {
			memcpy(s->clips[i].file, old.clips[i].file,
			       sizeof(s->clips[i].file));
			continue;
		}
		if ((r = session_store_write_clip(dir, s, i, &serial, why, whylen)) != 0)
			return r;
	}
	return commit ? session_store_commit(dir, s, why, whylen) : 0;
}

static void save_ok(struct session *s)
{
	if (save(s, true, err, sizeof(err)) != 0) {
		print_message("save: %s\n", err);
		fail();
	}
}

/* Whether dir holds exactly want (settings, clips, audio bit for bit);
 * why says what differs. */
static bool holds(const struct session *want, char *why, size_t whylen)
{
	struct session s;
	uint64_t serial = 0;
	int r = session_store_load(dir, &s, &serial, why, whylen);
	if (r != 0) {
		if (r == 1)
			snprintf(why, whylen, "no session");
		return false;
	}
	bool same = s.rate == want->rate && s.tempo == want->tempo &&
		    s.beats_per_bar == want->beats_per_bar &&
		    s.quantise == want->quantise && s.metronome == want->metronome &&
		    s.master_volume == want->master_volume;
	for (int t = 0; t < GL_TRACKS; t++)
		same = same && s.tracks[t].volume == want->tracks[t].volume &&
		       s.tracks[t].mute == want->tracks[t].mute;
	if (!same)
		snprintf(why, whylen, "settings differ");
	for (int i = 0; same && i < GL_SLOTS; i++) {
		const struct session_clip *w = &want->clips[i];
		struct session_clip *c = &s.clips[i];
		if (c->present != w->present ||
		    (w->present &&
		     (c->frames != w->frames || c->channels != w->channels))) {
			snprintf(why, whylen, "slot %d differs", i);
			same = false;
		} else if (w->present &&
			   (session_store_read_clip(dir, &s, i, s.rate, w->channels, why,
						    whylen) != 0 ||
			    memcmp(c->audio[0], w->audio[0], (size_t)w->frames * 4) !=
				0 ||
			    (w->channels == 2 && memcmp(c->audio[1], w->audio[1],
							(size_t)w->frames * 4) != 0))) {
			if (!strstr(why, ".wav"))
				snprintf(why, whylen, "slot %d's audio differs", i);
			same = false;
		}
	}
	session_free_audio(&s);
	return same;
}

static void expect_holds(const struct session *want)
{
	char why[512] = "";
	if (!holds(want, why, sizeof(why))) {
		print_message("the directory does not hold the session: %s\n", why);
		fail();
	}
}

/* ---- children under the shim --------------------------------------------------- */

/* Runs this program as "--child args..." with the shim and FSFAULT=fault
 * on dir, its stderr in o->text. false: no shim (the caller skips). */
static bool run_faulty(const char *fault, char *const args[], struct fsfault_outcome *o)
{
	return fsfault_run(&child, fault, dir, args, 2, o);
}

/* The child: "save-b DIR". Exit 0, or 1 with the message on stderr. */
static int child_main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[2], "set-aside") == 0) {
		char aside[PATH_MAX + 64];
		int r =
		    session_store_set_aside(argv[3], "previous", aside, sizeof(aside));
		fprintf(stderr, "%d %s\n", r, r == 0 ? aside : "");
		return 0;
	}
	if (argc != 4 || strcmp(argv[2], "save-b") != 0)
		return 2;
	snprintf(dir, sizeof(dir), "%s", argv[3]);
	struct session b;
	session_b(&b);
	int r = save(&b, true, err, sizeof(err));
	session_free_audio(&b);
	if (r != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}

static bool save_b_faulty(const char *fault, struct fsfault_outcome *o)
{
	char *args[] = {"save-b", dir, NULL};
	return run_faulty(fault, args, o);
}

/* ---- saving and loading ---------------------------------------------------------- */

static void test_save_and_load_bit_exact(void **state)
{
	(void)state;
	struct session a;
	session_a(&a);
	save_ok(&a);
	expect_holds(&a);
	int clips, temporaries;
	assert_int_equal(count_entries(&clips, &temporaries), 4);
	assert_int_equal(clips, 3);
	assert_int_equal(temporaries, 0);
	session_free_audio(&a);
}

static void test_names_and_serials(void **state)
{
	(void)state;
	struct session a;
	session_a(&a);
	save_ok(&a);
	assert_string_equal(a.clips[SLOT(1, 1)].file, "clip-t1-s01-000001.wav");
	assert_string_equal(a.clips[SLOT(2, 2)].file, "clip-t2-s02-000002.wav");
	assert_string_equal(a.clips[SLOT(8, 10)].file, "clip-t8-s10-000003.wav");
	struct session s;
	uint64_t serial = 0;
	assert_int_equal(session_store_load(dir, &s, &serial, err, sizeof(err)), 0);
	assert_int_equal(serial, 4);
	/* A name that is taken is never written over. */
	char path[PATH_MAX + 64];
	path_in(path, sizeof(path), "clip-t1-s01-000004.wav");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(
	    session_store_write_clip(dir, &a, SLOT(1, 1), &serial, err, sizeof(err)), 0);
	assert_string_equal(a.clips[SLOT(1, 1)].file, "clip-t1-s01-000005.wav");
	assert_int_equal(serial, 6);
	session_free_audio(&a);
}

static void test_resave_removes_old_files(void **state)
{
	(void)state;
	struct session a, b;
	session_a(&a);
	session_b(&b);
	save_ok(&a);
	save_ok(&b);
	assert_string_equal(b.clips[SLOT(1, 1)].file, a.clips[SLOT(1, 1)].file);
	expect_holds(&b);
	int clips, temporaries;
	assert_int_equal(count_entries(&clips, &temporaries), 4);
	assert_int_equal(clips, 3);
	session_free_audio(&a);
	session_free_audio(&b);
}

/* Clips written, manifest not: the old session, and the orphans go. */
static void test_interrupted_save_keeps_the_old_session(void **state)
{
	(void)state;
	struct session a, b;
	session_a(&a);
	session_b(&b);
	save_ok(&a);
	assert_int_equal(save(&b, false, err, sizeof(err)), 0);
	char tmp[PATH_MAX + 64];
	path_in(tmp, sizeof(tmp), ".clip-t1-s01-000099.wav.tmp");
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	fclose(f);
	int clips, temporaries;
	assert_int_equal(count_entries(&clips, &temporaries), 7);
	expect_holds(&a);
	assert_int_equal(count_entries(&clips, &temporaries), 4);
	assert_int_equal(clips, 3);
	assert_int_equal(temporaries, 0);
	session_free_audio(&a);
	session_free_audio(&b);
}

static void test_fresh_directory(void **state)
{
	(void)state;
	struct session s;
	session_init(&s, 48000);
	uint64_t serial = 0;
	assert_int_equal(session_store_load(dir, &s, &serial, err, sizeof(err)), 1);
	assert_int_equal(serial, 1);
	/* Clips of a first save that never got its manifest are kept (no
	 * manifest says they are not wanted), and never reused. */
	struct session a;
	session_a(&a);
	assert_int_equal(save(&a, false, err, sizeof(err)), 0);
	assert_int_equal(session_store_load(dir, &s, &serial, err, sizeof(err)), 1);
	assert_int_equal(serial, 4);
	session_free_audio(&a);
}

static void test_missing_directory(void **state)
{
	(void)state;
	char missing[PATH_MAX + 32];
	path_in(missing, sizeof(missing), "card/gridloop");
	struct session s;
	uint64_t serial = 0;
	assert_int_equal(session_store_load(missing, &s, &serial, err, sizeof(err)), -1);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want),
		 "session directory %s does not exist (SD card not mounted?)", missing);
	if (strlen(want) < 120)
		assert_string_equal(err, want);
	else
		assert_non_null(strstr(err, "does not exist (SD card not mounted?)"));

	/* prepare makes DIR and its parent, and no more. */
	assert_int_equal(session_store_prepare(missing, err, sizeof(err)), 0);
	assert_int_equal(session_store_load(missing, &s, &serial, err, sizeof(err)), 1);
	path_in(missing, sizeof(missing), "no/card/gridloop");
	assert_int_equal(session_store_prepare(missing, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "SD card not mounted"));
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[PATH_MAX + 64];
	path_in(path, sizeof(path), name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_damaged_manifest_is_refused_and_nothing_removed(void **state)
{
	(void)state;
	struct session a, s;
	session_a(&a);
	save_ok(&a);
	write_file(MANIFEST_FILE, "{\"format\": \"gridloop-session\", \"clips\": [", 41);
	uint64_t serial = 0;
	assert_int_equal(session_store_load(dir, &s, &serial, err, sizeof(err)), -1);
	assert_non_null(strstr(err, MANIFEST_FILE));
	int clips, temporaries;
	count_entries(&clips, &temporaries);
	assert_int_equal(clips, 3);

	char *big = malloc(MANIFEST_MAX_SIZE + 10);
	assert_non_null(big);
	memset(big, ' ', MANIFEST_MAX_SIZE + 10);
	write_file(MANIFEST_FILE, big, MANIFEST_MAX_SIZE + 10);
	free(big);
	assert_int_equal(session_store_load(dir, &s, &serial, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too big"));
	session_free_audio(&a);
}

/* ---- reading clips ------------------------------------------------------------- */

static void load_ok(struct session *s)
{
	uint64_t serial;
	if (session_store_load(dir, s, &serial, err, sizeof(err)) != 0) {
		print_message("load: %s\n", err);
		fail();
	}
}

static void test_missing_clip_file(void **state)
{
	(void)state;
	struct session a, s;
	session_a(&a);
	save_ok(&a);
	char path[PATH_MAX + 128];
	path_in(path, sizeof(path), a.clips[SLOT(2, 2)].file);
	assert_int_equal(unlink(path), 0);
	load_ok(&s);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(2, 2), 48000, 2, err, sizeof(err)), -1);
	assert_string_equal(
	    err, "clip-t2-s02-000002.wav is missing from the session directory");
	assert_null(s.clips[SLOT(2, 2)].audio[0]);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(1, 1), 48000, 1, err, sizeof(err)), 0);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(8, 10), 48000, 1, err, sizeof(err)), 0);
	assert_memory_equal(s.clips[SLOT(8, 10)].audio[0], a.clips[SLOT(8, 10)].audio[0],
			    777 * 4);
	session_free_audio(&s);
	session_free_audio(&a);
}

static void test_damaged_clip_files_are_refused(void **state)
{
	(void)state;
	struct session a, s;
	session_a(&a);
	save_ok(&a);
	load_ok(&s);

	/* Cut short: the header is whole, the audio is not. */
	char path[PATH_MAX + 128];
	path_in(path, sizeof(path), a.clips[SLOT(1, 1)].file);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 1800 * 4), 0);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(1, 1), 48000, 1, err, sizeof(err)), -1);
	assert_string_equal(err,
			    "clip-t1-s01-000001.wav: 200 frames, the manifest says 2000 "
			    "(file cut short?)");

	/* Garbage. */
	unsigned char junk[5000];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 7 + 3);
	write_file(a.clips[SLOT(2, 2)].file, junk, sizeof(junk));
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(2, 2), 48000, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "clip-t2-s02-000002.wav: not a sound file"));
	assert_true(printable(err));

	/* The manifest and the file disagree on channels and on rate. */
	s.clips[SLOT(8, 10)].channels = 2;
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(8, 10), 48000, 2, err, sizeof(err)),
	    -1);
	assert_string_equal(err,
			    "clip-t8-s10-000003.wav: mono, the manifest says stereo");
	s.clips[SLOT(8, 10)].channels = 1;
	s.rate = 44100;
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(8, 10), 48000, 1, err, sizeof(err)),
	    -1);
	assert_string_equal(
	    err, "clip-t8-s10-000003.wav: 48000 Hz, the manifest says 44100 Hz");

	/* Names that are not plain names are never opened; the message stays
	 * readable. */
	memcpy(s.clips[SLOT(8, 10)].file, "../\x01\xff\x1b[2J", 10);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(8, 10), 48000, 1, err, sizeof(err)),
	    -1);
	assert_true(printable(err));
	assert_non_null(strstr(err, "bad clip file name"));
	memset(s.clips[SLOT(8, 10)].file, 'x',
	       SESSION_NAME_MAX); /* not even terminated */
	s.clips[SLOT(8, 10)].file[SESSION_NAME_MAX - 1] = '\0';
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(8, 10), 48000, 1, err, sizeof(err)),
	    -1);
	assert_true(printable(err));
	assert_true(strlen(err) < 200);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(5, 5), 48000, 1, err, sizeof(err)), -1);
	session_free_audio(&s);
	session_free_audio(&a);
}

static void test_channel_conversion(void **state)
{
	(void)state;
	struct session a, s;
	session_a(&a);
	save_ok(&a);
	load_ok(&s);
	/* Mono to stereo: the same on both sides. */
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(1, 1), 48000, 2, err, sizeof(err)), 0);
	const struct session_clip *c = &s.clips[SLOT(1, 1)];
	assert_int_equal(c->channels, 2);
	assert_int_equal(c->frames, 2000);
	assert_memory_equal(c->audio[0], a.clips[SLOT(1, 1)].audio[0], 2000 * 4);
	assert_memory_equal(c->audio[1], a.clips[SLOT(1, 1)].audio[0], 2000 * 4);
	/* Stereo to mono: their average. */
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(2, 2), 48000, 1, err, sizeof(err)), 0);
	c = &s.clips[SLOT(2, 2)];
	assert_int_equal(c->channels, 1);
	assert_null(c->audio[1]);
	const struct session_clip *w = &a.clips[SLOT(2, 2)];
	for (int64_t i = 0; i < 1500; i++)
		assert_true(c->audio[0][i] == 0.5f * (w->audio[0][i] + w->audio[1][i]));
	session_free_audio(&s);
	session_free_audio(&a);
}

/* Streaming a clip (the loader's way into a keeper take): the same audio
 * as reading it whole, piece by piece, channels converted the same way. */
struct collected {
	float *ch[2];
	int64_t frames, pieces;
};

static void collect(void *ctx, int channel, int64_t from, const float *src, int64_t n)
{
	struct collected *k = ctx;
	memcpy(k->ch[channel] + from, src, (size_t)n * sizeof(float));
	if (channel == 0)
		k->pieces++;
}

static void test_stream_clip(void **state)
{
	(void)state;
	struct session a, s;
	session_a(&a);
	save_ok(&a);
	load_ok(&s);
	struct collected k = {.ch = {calloc(2000, 4), calloc(2000, 4)}};
	/* Mono streamed as stereo. */
	assert_int_equal(session_store_stream_clip(dir, &s, SLOT(1, 1), 2, collect, &k,
						   err, sizeof(err)),
			 0);
	assert_memory_equal(k.ch[0], a.clips[SLOT(1, 1)].audio[0], 2000 * 4);
	assert_memory_equal(k.ch[1], a.clips[SLOT(1, 1)].audio[0], 2000 * 4);
	/* Stereo streamed as mono: bit for bit what a whole read gives. */
	assert_int_equal(session_store_stream_clip(dir, &s, SLOT(2, 2), 1, collect, &k,
						   err, sizeof(err)),
			 0);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(2, 2), 48000, 1, err, sizeof(err)), 0);
	assert_memory_equal(k.ch[0], s.clips[SLOT(2, 2)].audio[0], 1500 * 4);
	/* A missing file is refused, naming it. */
	char path[PATH_MAX + SESSION_NAME_MAX + 2];
	snprintf(path, sizeof(path), "%s/%s", dir, s.clips[SLOT(1, 1)].file);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(session_store_stream_clip(dir, &s, SLOT(1, 1), 1, collect, &k,
						   err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, s.clips[SLOT(1, 1)].file));
	assert_non_null(strstr(err, "missing"));
	free(k.ch[0]);
	free(k.ch[1]);
	session_free_audio(&s);
	session_free_audio(&a);
}

/* A sine of `periods` whole periods over `frames` frames at `rate`. */
static void sine(float *x, int64_t frames, double periods)
{
	for (int64_t i = 0; i < frames; i++)
		x[i] =
		    (float)(0.5 * sin(2 * M_PI * periods * (double)i / (double)frames));
}

static int zero_crossings(const float *x, int64_t frames)
{
	int n = 0;
	for (int64_t i = 1; i < frames; i++)
		n += (x[i - 1] < 0) != (x[i] < 0);
	return n;
}

/* A loop of 441 Hz saved at `from`, read at `to`: the right length, the
 * same pitch, and (a whole number of periods) the same sine at the new
 * rate, seam included. */
static void expect_resampled_sine(uint32_t from, uint32_t to, int64_t frames)
{
	struct session a, s;
	session_init(&a, from);
	double periods = 441.0 * (double)frames / from;
	set_clip(&a, SLOT(1, 1), 1, frames, 1);
	sine(a.clips[SLOT(1, 1)].audio[0], frames, periods);
	set_clip(&a, SLOT(2, 1), 2, 10001, 2); /* an odd length */
	save_ok(&a);
	load_ok(&s);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(1, 1), to, 2, err, sizeof(err)), 0);
	const struct session_clip *c = &s.clips[SLOT(1, 1)];
	int64_t want = llround((double)frames * to / from);
	assert_int_equal(c->frames, want);
	assert_int_equal(c->channels, 2);
	int crossings = zero_crossings(c->audio[0], c->frames);
	assert_true(abs(crossings - (int)llround(2 * periods)) <= 1);
	double worst = 0;
	for (int64_t i = 0; i < want; i++) {
		double x = 0.5 * sin(2 * M_PI * periods * (double)i / (double)want);
		worst = fmax(worst, fabs(c->audio[0][i] - x));
	}
	/* libsamplerate drifts by a few hundredths of a frame over a long
	 * input (its position is fixed-point); one whole frame of shift, or a
	 * click at the seam, would be 0.03 and more. */
	if (worst > 1e-2) {
		print_message("%u -> %u Hz: off the sine by up to %g\n", from, to, worst);
		fail();
	}
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(2, 1), to, 2, err, sizeof(err)), 0);
	assert_int_equal(s.clips[SLOT(2, 1)].frames, llround(10001.0 * to / from));
	session_free_audio(&s);
	session_free_audio(&a);
}

static void test_resampled_44100_to_48000(void **state)
{
	(void)state;
	expect_resampled_sine(44100, 48000, 44100);
}

static void test_resampled_48000_to_44100(void **state)
{
	(void)state;
	expect_resampled_sine(48000, 44100, 24000);
}

static void test_resampled_96000_to_48000(void **state)
{
	(void)state;
	expect_resampled_sine(96000, 48000, 96000);
}

/* A multiplied take (three cycles of a sine, an insert's seam in the
 * second) saved at 44100 Hz, read at 48000: the converted length is whole
 * cycles (the rate's own length, 32656.3, is not: 32655), the cycles alike,
 * the loop's own seam clean, the insert's seam where its time is, the one
 * that lands on a cycle line gone. */
static void test_resampled_take_keeps_its_cycles(void **state)
{
	(void)state;
	const int64_t cyc = 10001, frames = 3 * cyc;
	struct session a, s;
	session_init(&a, 44100);
	set_clip(&a, SLOT(1, 1), 1, frames, 1);
	struct session_clip *m = &a.clips[SLOT(1, 1)];
	for (int64_t i = 0; i < frames; i++)
		m->audio[0][i] = (float)(0.5 * sin(2 * M_PI * 100.0 * (double)(i % cyc) /
						   (double)cyc));
	m->cycle = cyc;
	m->seams[0] = 15000;
	m->seams[1] = 2 * cyc + 1; /* just past a line: it stays */
	m->nseams = 2;
	save_ok(&a);
	load_ok(&s);
	assert_int_equal(s.clips[SLOT(1, 1)].cycle, cyc);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(1, 1), 48000, 1, err, sizeof(err)), 0);
	const struct session_clip *c = &s.clips[SLOT(1, 1)];
	assert_int_equal(c->frames, 32655);
	assert_int_equal(c->cycle, 10885);
	assert_int_equal(c->nseams, 2);
	assert_int_equal(c->seams[0], llround(15000.0 * 32655 / frames));
	assert_int_equal(c->seams[1], llround((2.0 * cyc + 1) * 32655 / frames));
	double alike = 0, step = 0;
	for (int64_t i = 0; i < c->frames; i++) {
		if (i + c->cycle < c->frames)
			alike =
			    fmax(alike, fabs(c->audio[0][i] - c->audio[0][i + c->cycle]));
		step =
		    fmax(step, fabs(c->audio[0][(i + 1) % c->frames] - c->audio[0][i]));
	}
	/* 100 periods in 10885 frames: a step of 0.5 * 2 pi * 100 / 10885 =
	 * 0.029 at most; a click at the seam would be far more. */
	if (alike > 1e-2 || step > 0.032) {
		print_message("cycles differ by %g, largest step %g\n", alike, step);
		fail();
	}
	/* A seam that lands on a cycle line is dropped. */
	m->seams[0] = 1; /* the manifest's rule: 0 < x < frames */
	m->seams[1] = cyc;
	save_ok(&a);
	session_free_audio(&s);
	load_ok(&s);
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(1, 1), 48000, 1, err, sizeof(err)), 0);
	assert_int_equal(s.clips[SLOT(1, 1)].nseams, 1);
	assert_int_equal(s.clips[SLOT(1, 1)].seams[0], 1);
	session_free_audio(&s);
	session_free_audio(&a);
}

/* ---- the card failing ----------------------------------------------------------- */

/* B saved under a card fault: the save fails saying why, A stays. */
static void expect_fault_keeps_a(const char *fault, const char *why)
{
	struct session a;
	session_a(&a);
	save_ok(&a);
	struct fsfault_outcome o;
	if (!save_b_faulty(fault, &o))
		skip();
	if (!fsfault_exited(&o, 1) || !strstr(o.text, why)) {
		print_message("%s: status %d, stderr: %s\n", fault, o.status, o.text);
		fail();
	}
	expect_holds(&a);
	int clips, temporaries;
	assert_int_equal(count_entries(&clips, &temporaries), 4);
	assert_int_equal(clips, 3);
	session_free_audio(&a);
}

static void test_card_full(void **state)
{
	(void)state;
	expect_fault_keeps_a("enospc_after=0", "SD card full");
	expect_fault_keeps_a("enospc_after=9000", "SD card full");
	expect_fault_keeps_a("enospc_after=30000", "SD card full");
}

static void test_card_io_error(void **state)
{
	(void)state;
	expect_fault_keeps_a("eio_after=20000", "I/O error (card removed?)");
	expect_fault_keeps_a("fsync_eio", "I/O error (card removed?)");
}

static void test_card_read_only(void **state)
{
	(void)state;
	expect_fault_keeps_a("erofs", "SD card is read-only");
}

/* The power goes before each step of saving B over A in turn (every
 * create, write, fsync, rename and unlink), and takes with it whatever was
 * written but not yet fsync'ed: the next load finds A or B exactly, never a
 * mix or an error. */
static void test_power_cut_at_every_step(void **state)
{
	(void)state;
	struct session a, b;
	session_a(&a);
	session_b(&b);
	save_ok(&a);
	bool completed = false;
	int steps = 0, found_b = 0;
	for (int n = 1; n < 2000 && !completed; n++) {
		char fault[64];
		snprintf(fault, sizeof(fault), "kill_after_ops=%d,lose_unsynced", n);
		struct fsfault_outcome o;
		if (!save_b_faulty(fault, &o))
			skip();
		completed = fsfault_exited(&o, 0);
		if (!completed &&
		    !(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGKILL)) {
			print_message("step %d: status %d, stderr: %s\n", n, o.status,
				      o.text);
			fail();
		}
		char why_a[512] = "", why_b[512] = "";
		bool is_a = holds(&a, why_a, sizeof(why_a));
		bool is_b = !is_a && holds(&b, why_b, sizeof(why_b));
		if (!is_a && !is_b) {
			print_message("cut at step %d: neither A (%s) nor B (%s)\n", n,
				      why_a, why_b);
			fail();
		}
		if (completed)
			assert_true(is_b);
		if (is_b && !completed) {
			/* B is on the card, its save was cut in its clean-up:
			 * put A back for the next step. */
			found_b++;
			save_ok(&a);
		}
		steps = n;
	}
	assert_true(completed);
	assert_true(steps > 10);
	assert_true(found_b > 0); /* cuts after the manifest's rename */
	print_message("power cut at each of %d steps: A or B every time\n", steps);
	session_free_audio(&a);
	session_free_audio(&b);
}

/* A data partition that did not mount is an empty directory on the root
 * filesystem: told apart from a real mount point by its device. */
static void test_mount_point_check(void **state)
{
	(void)state;
	char why[256] = "";
	assert_int_equal(session_store_check_mount("/", why, sizeof(why)), 0);
	assert_int_equal(session_store_check_mount("/proc", why, sizeof(why)), 0);
	char empty[] = "/tmp/test-mount.XXXXXX";
	assert_non_null(mkdtemp(empty));
	assert_int_equal(session_store_check_mount(empty, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not mounted"));
	assert_non_null(strstr(why, empty));
	rmdir(empty);
	assert_int_equal(session_store_check_mount("/no/such/mount", why, sizeof(why)),
			 -1);
	assert_non_null(strstr(why, "not mounted"));
}

/* ---- hostile card inputs -------------------------------------------------------- */

static void test_clean_path(void **state)
{
	(void)state;
	static const char *cases[][2] = {
	    {"/sd/gridloop/session/", "/sd/gridloop/session"},
	    {"/sd//gridloop/./session//", "/sd/gridloop/session"},
	    {"session/", "session"},
	    {"./session", "session"},
	    {"./", "."},
	    {".", "."},
	    {"/", "/"},
	    {"//", "/"},
	    {"/./", "/"},
	    {"a/../b", "a/../b"},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char p[64];
		snprintf(p, sizeof(p), "%s", cases[i][0]);
		session_store_clean_path(p);
		if (strcmp(p, cases[i][1]) != 0) {
			print_message("\"%s\" -> \"%s\", not \"%s\"\n", cases[i][0], p,
				      cases[i][1]);
			fail();
		}
	}
}

/* "[session] dir = /sd/session/": the rename of "dir/" to "dir/.x" gave
 * EINVAL, and the caller then saved over the old session. */
static void test_set_aside_with_trailing_slash(void **state)
{
	(void)state;
	struct session a;
	session_a(&a);
	save_ok(&a);
	char slashed[PATH_MAX + 8], aside[PATH_MAX + 64];
	snprintf(slashed, sizeof(slashed), "%s//", dir);
	assert_int_equal(
	    session_store_set_aside(slashed, "previous", aside, sizeof(aside)), 0);
	assert_int_equal(strncmp(aside, dir, strlen(dir)), 0);
	assert_non_null(strstr(aside, ".previous-"));
	assert_int_equal(access(dir, F_OK), -1);
	/* Twice in one second: a name of its own, never onto the first. */
	assert_int_equal(mkdir(dir, 0755), 0);
	save_ok(&a);
	char second[PATH_MAX + 64];
	assert_int_equal(session_store_set_aside(dir, "previous", second, sizeof(second)),
			 0);
	assert_string_not_equal(aside, second);
	assert_int_equal(rename(second, dir), 0);
	expect_holds(&a);
	empty_dir(dir);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(rename(aside, dir), 0); /* for the teardown */
	expect_holds(&a);
	session_free_audio(&a);
}

/* A session directory that is a mount point cannot be renamed (EBUSY):
 * its files move into a folder inside it, and dir is then free for a new
 * session with nothing of the old one to remove. */
static void test_set_aside_of_a_mount_point(void **state)
{
	(void)state;
	struct session a;
	session_a(&a);
	save_ok(&a);
	struct fsfault_outcome o;
	char *args[] = {"set-aside", dir, NULL};
	if (!run_faulty("mount_point", args, &o))
		skip();
	char aside[PATH_MAX - 64] = ""; /* fits in dir */
	int r = -2;
	char *last = o.text; /* the child's last line: "0 ASIDE" */
	for (char *nl = strchr(o.text, '\n'); nl && nl[1]; nl = strchr(nl + 1, '\n'))
		last = nl + 1;
	_Static_assert(sizeof(aside) == PATH_MAX - 64, "the width below");
	sscanf(last, "%d %4031s", &r, aside); /* PATH_MAX - 65 */
	if (r != 0) {
		print_message("set aside: %s\n", o.text);
		fail();
	}
	assert_int_equal(strncmp(aside, dir, strlen(dir)), 0);
	assert_int_equal(aside[strlen(dir)], '/');
	int clips, temporaries;
	count_entries(&clips, &temporaries);
	assert_int_equal(clips, 0);
	struct session s;
	uint64_t serial;
	assert_int_equal(session_store_load(dir, &s, &serial, err, sizeof(err)), 1);
	char keep[PATH_MAX];
	snprintf(keep, sizeof(keep), "%s", dir);
	snprintf(dir, sizeof(dir), "%s", aside);
	expect_holds(&a);
	snprintf(dir, sizeof(dir), "%s", keep);
	session_free_audio(&a);
}

/* A manifest's frames are a claim: the file says how long it is, and that
 * is checked before any memory is taken for it. */
static void test_lying_frames_checked_first(void **state)
{
	(void)state;
	struct session a, s;
	session_a(&a);
	save_ok(&a);
	load_ok(&s);
	assert_int_equal(
	    session_store_check_clip(dir, &s, SLOT(1, 1), 48000, 2, err, sizeof(err)), 0);
	s.clips[SLOT(1, 1)].frames = 500000000;
	assert_int_equal(
	    session_store_check_clip(dir, &s, SLOT(1, 1), 48000, 2, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "2000 frames, the manifest says 500000000"));
	/* A whole read (another rate, export) refuses it before allocating. */
	assert_int_equal(
	    session_store_read_clip(dir, &s, SLOT(1, 1), 44100, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the manifest says 500000000"));
	assert_null(s.clips[SLOT(1, 1)].audio[0]);
	/* A header that lies as well (a data chunk of 2 GB in a file of 4 KB):
	 * the file's real length is what counts. */
	char path[PATH_MAX + 128];
	path_in(path, sizeof(path), s.clips[SLOT(1, 1)].file);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	char head[512];
	assert_int_equal(pread(fd, head, sizeof(head), 0), sizeof(head));
	const char *data = memmem(head, sizeof(head), "data", 4);
	assert_non_null(data);
	uint32_t huge = 500000000u * 4;
	assert_int_equal(pwrite(fd, &huge, 4, data - head + 4), 4);
	close(fd);
	assert_int_equal(
	    session_store_check_clip(dir, &s, SLOT(1, 1), 48000, 2, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "2000 frames, the manifest says 500000000"));
	struct sysmem_room room;
	sysmem_read("", false, &room);
	assert_true(sysmem_least(&room) > 0);
	session_free_audio(&a);
}

/* Runs fn in a child that gets SIGALRM after 5 s: false when it blocked. */
static bool returns_promptly(void (*fn)(void))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(5);
		fn();
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static struct session fifo_session;

static void read_the_fifo_clip(void)
{
	int r = session_store_read_clip(dir, &fifo_session, SLOT(2, 2), 48000, 2, err,
					sizeof(err));
	_exit(r == -1 && strstr(err, "is not a regular file") ? 0 : 3);
}

static void load_the_fifo_manifest(void)
{
	struct session s;
	uint64_t serial;
	int r = session_store_load(dir, &s, &serial, err, sizeof(err));
	_exit(r == -1 && strstr(err, "not a regular file") ? 0 : 3);
}

/* A FIFO (or device) where a clip file or the manifest should be blocked
 * the restore thread in open() for ever. */
static void test_fifo_never_blocks(void **state)
{
	(void)state;
	struct session a;
	session_a(&a);
	save_ok(&a);
	load_ok(&fifo_session);
	char path[PATH_MAX + 128];
	path_in(path, sizeof(path), a.clips[SLOT(2, 2)].file);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_true(returns_promptly(read_the_fifo_clip));
	/* A symlink to a good clip is no clip either. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(a.clips[SLOT(1, 1)].file, path), 0);
	assert_true(returns_promptly(read_the_fifo_clip));
	path_in(path, sizeof(path), MANIFEST_FILE);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0644), 0);
	assert_true(returns_promptly(load_the_fifo_manifest));
	session_free_audio(&fifo_session);
	session_free_audio(&a);
}

/* The instance lock: one holder exclusively (its pid said to the next),
 * or any number sharing it. */
static void test_instance_lock(void **state)
{
	(void)state;
	char sub[PATH_MAX + 16];
	path_in(sub, sizeof(sub), "session/");
	pid_t holder = -1;
	int fd = session_store_lock(sub, false, &holder, err, sizeof(err));
	assert_true(fd >= 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char same[PATH_MAX + 16];
		path_in(same, sizeof(same), "./session"); /* another spelling */
		pid_t h = 0;
		int a = session_store_lock(same, false, &h, err, sizeof(err));
		bool named = h == getppid() && strstr(err, "in use by pid");
		int b = session_store_lock(same, true, &h, err, sizeof(err));
		_exit(a == -1 && b == -1 && named ? 0 : 3);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fd);
	int s1 = session_store_lock(sub, true, &holder, err, sizeof(err));
	assert_true(s1 >= 0);
	pid = fork();
	if (pid == 0) {
		pid_t h;
		int b = session_store_lock(sub, true, &h, err, sizeof(err));
		int a = session_store_lock(sub, false, &h, err, sizeof(err));
		_exit(b >= 0 && a == -1 ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(s1);
	/* No parent (no card): it cannot be made, and says so. */
	path_in(sub, sizeof(sub), "no/card/session");
	assert_int_equal(session_store_lock(sub, false, &holder, err, sizeof(err)), -2);
	assert_non_null(strstr(err, "cannot lock"));
}

/* A reader that is not the lock holder (an offline export) leaves a
 * running gridloop's save in progress alone. */
static void test_read_touches_nothing(void **state)
{
	(void)state;
	struct session a, s;
	session_a(&a);
	save_ok(&a);
	write_file(".clip-t1-s01-000099.wav.tmp", "x", 1);
	write_file("clip-t1-s01-000098.wav", "y", 1);
	int clips, temporaries;
	int before = count_entries(&clips, &temporaries);
	assert_int_equal(session_store_read(dir, &s, err, sizeof(err)), 0);
	assert_true(s.clips[SLOT(2, 2)].present);
	assert_int_equal(count_entries(&clips, &temporaries), before);
	load_ok(&s);
	assert_int_equal(count_entries(&clips, &temporaries), before - 2);
	session_free_audio(&a);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--child") == 0)
		return child_main(argc, argv);
	fsfault_find(&child);
#define T(fn) cmocka_unit_test_setup_teardown(fn, make_dir, remove_dir)
	const struct CMUnitTest tests[] = {
	    T(test_save_and_load_bit_exact),
	    T(test_names_and_serials),
	    T(test_resave_removes_old_files),
	    T(test_interrupted_save_keeps_the_old_session),
	    T(test_fresh_directory),
	    T(test_missing_directory),
	    T(test_damaged_manifest_is_refused_and_nothing_removed),
	    T(test_missing_clip_file),
	    T(test_damaged_clip_files_are_refused),
	    T(test_channel_conversion),
	    T(test_stream_clip),
	    T(test_resampled_44100_to_48000),
	    T(test_resampled_48000_to_44100),
	    T(test_resampled_take_keeps_its_cycles),
	    T(test_resampled_96000_to_48000),
	    T(test_card_full),
	    T(test_card_io_error),
	    T(test_card_read_only),
	    T(test_power_cut_at_every_step),
	    cmocka_unit_test(test_mount_point_check),
	    cmocka_unit_test(test_clean_path),
	    T(test_set_aside_with_trailing_slash),
	    T(test_set_aside_of_a_mount_point),
	    T(test_lying_frames_checked_first),
	    T(test_fifo_never_blocks),
	    T(test_instance_lock),
	    T(test_read_touches_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
