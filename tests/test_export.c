/* test_export.c -- exporting a session's clips: folder and file names, the
 * formats, every format read back with libsndfile (float bit-exact, 16 and
 * 24 bits within one step, overs clipped), export.txt, a second export in
 * the same minute, clips read from the session directory (and a missing
 * one skipped), and failures that leave no partial folder behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sndfile.h>

#include "atomic_file.h"
#include "export.h"
#include "fsfault/fsfault_child.h"
#include "session_store.h"
#include "tmp_dir.h"

#define WHEN	   ((time_t)1795642200) /* 2026-11-25 21:30:00 UTC */
#define FOLDER	   "2026-11-25_2130"
#define RATE	   48000
#define SLOT(t, s) ((s)*GL_TRACKS + (t))

static const enum export_format all_formats[] = {
    EXPORT_WAV16, EXPORT_WAV24, EXPORT_WAV_FLOAT, EXPORT_FLAC16, EXPORT_FLAC24,
};
#define FORMATS ((int)(sizeof(all_formats) / sizeof(all_formats[0])))

struct fixture {
	char root[64];	       /* a fresh temporary directory */
	char exports[128];     /* root/exports (not made) */
	char session_dir[128]; /* root/session (made) */
	char folder[512];      /* what export_session() said it made */
	char err[512];
	struct session s;
};

/* ---- helpers ------------------------------------------------------------ */

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_true(tmp_dir_make(f->root, sizeof(f->root), "test_export"));
	snprintf(f->exports, sizeof(f->exports), "%s/exports", f->root);
	snprintf(f->session_dir, sizeof(f->session_dir), "%s/session", f->root);
	assert_int_equal(mkdir(f->session_dir, 0755), 0);
	session_init(&f->s, RATE);
	f->s.tempo = 120;
	snprintf(f->s.saved_at, sizeof(f->s.saved_at), "2026-11-25T21:29:58Z");
	setenv("TZ", "UTC", 1);
	tzset();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	chmod(f->root, 0755);
	tmp_dir_remove(f->root);
	session_free_audio(&f->s);
	free(f);
	return 0;
}

/* A sample of a test signal in -0.9..0.9 that differs on every frame and
 * channel, so a swapped or shifted frame shows. */
static float signal_at(int64_t i, int ch)
{
	return 0.9f * sinf((float)i * 0.01f + (float)ch * 1.3f) *
	       (float)(1.0 - 0.5 * (double)((i * 7 + ch) % 13) / 13.0);
}

/* Puts a clip with the test signal in slot (in memory). */
static void add_clip(struct session *s, int track, int scene, int channels,
		     int64_t frames)
{
	struct session_clip *c = &s->clips[SLOT(track, scene)];
	c->present = true;
	c->channels = channels;
	c->frames = frames;
	c->bars = (double)frames / (RATE * 2.0); /* 4/4 at 120 BPM: 2 s a bar */
	snprintf(c->file, sizeof(c->file), "clip-t%d-s%02d-%06d.wav", track + 1,
		 scene + 1, SLOT(track, scene));
	for (int ch = 0; ch < channels; ch++) {
		c->audio[ch] = malloc(sizeof(float) * (size_t)frames);
		assert_non_null(c->audio[ch]);
		for (int64_t i = 0; i < frames; i++)
			c->audio[ch][i] = signal_at(i, ch);
	}
}

/* A file's audio, interleaved (malloc'ed), and its info. */
static float *read_audio(const char *path, SF_INFO *info)
{
	memset(info, 0, sizeof(*info));
	SNDFILE *sf = sf_open(path, SFM_READ, info);
	if (sf == NULL)
		fail_msg("cannot read %s: %s", path, sf_strerror(NULL));
	float *buf = malloc(sizeof(float) * (size_t)(info->frames * info->channels) + 1);
	assert_non_null(buf);
	assert_int_equal(sf_readf_float(sf, buf, info->frames), info->frames);
	sf_close(sf);
	return buf;
}

static void path_in(char *out, size_t len, const char *dir, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* The largest error allowed when reading f back: one step of its integers. */
static double tolerance(enum export_format f)
{
	switch (f) {
	case EXPORT_WAV16:
	case EXPORT_FLAC16:
		return 1.0 / 32768.0;
	case EXPORT_WAV24:
	case EXPORT_FLAC24:
		return 1.0 / 8388608.0 + 1e-9;
	default:
		return 0;
	}
}

static int expected_format(enum export_format f)
{
	switch (f) {
	case EXPORT_WAV16:
		return SF_FORMAT_WAV | SF_FORMAT_PCM_16;
	case EXPORT_WAV24:
		return SF_FORMAT_WAV | SF_FORMAT_PCM_24;
	case EXPORT_WAV_FLOAT:
		return SF_FORMAT_WAV | SF_FORMAT_FLOAT;
	case EXPORT_FLAC16:
		return SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
	default:
		return SF_FORMAT_FLAC | SF_FORMAT_PCM_24;
	}
}

/* The exported file of slot matches its clip in s: rate, channels, frames,
 * format, and every sample. */
static void check_clip_file(const char *folder, const struct session *s, int track,
			    int scene, enum export_format f)
{
	char name[64], path[600];
	const struct session_clip *c = &s->clips[SLOT(track, scene)];
	SF_INFO info;
	export_clip_name(track, scene, f, name, sizeof(name));
	path_in(path, sizeof(path), folder, name);
	float *got = read_audio(path, &info);
	assert_int_equal(info.samplerate, s->rate);
	assert_int_equal(info.channels, c->channels);
	assert_int_equal(info.frames, c->frames);
	assert_int_equal(info.format, expected_format(f));
	double tol = tolerance(f);
	for (int64_t i = 0; i < c->frames; i++) {
		for (int ch = 0; ch < c->channels; ch++) {
			float want = c->audio[ch][i], have = got[i * c->channels + ch];
			if (tol == 0 ? memcmp(&want, &have, sizeof(float)) != 0
				     : fabs((double)want - (double)have) > tol)
				fail_msg("%s frame %lld ch %d: %.9g, wrote %.9g", name,
					 (long long)i, ch, (double)have, (double)want);
		}
	}
	free(got);
}

/* Names in dir, sorted, joined by spaces ("" when empty). */
static void list_dir(const char *dir, char *out, size_t len)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	out[0] = '\0';
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") != 0 &&
		    strcmp(names[i]->d_name, "..") != 0) {
			size_t used = strlen(out);
			snprintf(out + used, len - used, "%s%s", used ? " " : "",
				 names[i]->d_name);
		}
		free(names[i]);
	}
	free(names);
}

/* The whole of a text file (malloc'ed). */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL)
		fail_msg("cannot open %s", path);
	char *text = calloc(1, 65536);
	assert_non_null(text);
	size_t n = fread(text, 1, 65535, fp);
	text[n] = '\0';
	fclose(fp);
	return text;
}

/* The row of export.txt that starts with name, split into its columns. */
static int txt_row(const char *text, const char *name, char cols[8][32])
{
	const char *line = text;
	while (line != NULL && *line) {
		if (strncmp(line, name, strlen(name)) == 0 && line[strlen(name)] == ' ')
			return sscanf(line, "%31s %31s %31s %31s %31s %31s %31s %31s",
				      cols[0], cols[1], cols[2], cols[3], cols[4],
				      cols[5], cols[6], cols[7]);
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return 0;
}

/* Writes a clip's audio as the session store keeps it: 32-bit float WAV at
 * the session's rate, named by its `file`. */
static void write_store_file(const char *dir, const struct session_clip *c)
{
	char path[600];
	SF_INFO info = {.samplerate = RATE,
			.channels = c->channels,
			.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
	path_in(path, sizeof(path), dir, c->file);
	SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
	assert_non_null(sf);
	for (int64_t i = 0; i < c->frames; i++) {
		float frame[2] = {c->audio[0][i], c->channels == 2 ? c->audio[1][i] : 0};
		assert_int_equal(sf_writef_float(sf, frame, 1), 1);
	}
	assert_int_equal(sf_close(sf), 0);
}

/* ---- names and formats -------------------------------------------------- */

static void test_folder_name(void **state)
{
	(void)state;
	char name[32];
	setenv("TZ", "UTC", 1);
	tzset();
	export_folder_name(WHEN, name, sizeof(name));
	assert_string_equal(name, FOLDER);
	/* Local time: the musician's clock, not UTC. */
	setenv("TZ", "CET-1", 1);
	tzset();
	export_folder_name(WHEN, name, sizeof(name));
	assert_string_equal(name, "2026-11-25_2230");
	setenv("TZ", "UTC", 1);
	tzset();
	export_folder_name(WHEN + 59, name, sizeof(name));
	assert_string_equal(name, FOLDER);
	export_folder_name(WHEN + 60, name, sizeof(name));
	assert_string_equal(name, "2026-11-25_2131");
}

static void test_clip_name(void **state)
{
	(void)state;
	char name[64];
	export_clip_name(4, 2, EXPORT_WAV24, name, sizeof(name));
	assert_string_equal(name, "scene03_track5.wav");
	export_clip_name(0, 0, EXPORT_WAV16, name, sizeof(name));
	assert_string_equal(name, "scene01_track1.wav");
	export_clip_name(GL_TRACKS - 1, GL_SCENES - 1, EXPORT_FLAC16, name, sizeof(name));
	assert_string_equal(name, "scene10_track8.flac");
	export_clip_name(1, 0, EXPORT_FLAC24, name, sizeof(name));
	assert_string_equal(name, "scene01_track2.flac");
	export_clip_name(1, 0, EXPORT_WAV_FLOAT, name, sizeof(name));
	assert_string_equal(name, "scene01_track2.wav");
	/* A short buffer is truncated, never overrun. */
	char small[8];
	memset(small, 'x', sizeof(small));
	export_clip_name(4, 2, EXPORT_WAV24, small, sizeof(small));
	assert_string_equal(small, "scene03");
}

static void test_format_names(void **state)
{
	(void)state;
	enum export_format f;
	for (int i = 0; i < FORMATS; i++) {
		const char *name = export_format_name(all_formats[i]);
		f = (enum export_format) - 1;
		assert_int_equal(export_format_parse(name, &f), 0);
		assert_int_equal(f, all_formats[i]);
	}
	assert_string_equal(export_format_name(EXPORT_WAV16), "wav16");
	assert_string_equal(export_format_name(EXPORT_WAV24), "wav24");
	assert_string_equal(export_format_name(EXPORT_WAV_FLOAT), "wavfloat");
	assert_string_equal(export_format_name(EXPORT_FLAC16), "flac16");
	assert_string_equal(export_format_name(EXPORT_FLAC24), "flac24");
	assert_string_equal(export_format_extension(EXPORT_WAV_FLOAT), "wav");
	assert_string_equal(export_format_extension(EXPORT_FLAC16), "flac");
	assert_int_equal(export_format_parse("wav", &f), 0);
	assert_int_equal(f, EXPORT_WAV24);
	assert_int_equal(export_format_parse("flac", &f), 0);
	assert_int_equal(f, EXPORT_FLAC24);

	const char *bad[] = {"",       "mp3",	"wav32", "wav16x",
			     " wav16", "flac8", "WAVE",	 "ogg"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = EXPORT_FLAC16;
		assert_int_equal(export_format_parse(bad[i], &f), -1);
		assert_int_equal(f, EXPORT_FLAC16); /* untouched */
	}
	assert_int_equal(export_format_parse(NULL, &f), -1);
}

/* ---- exports ------------------------------------------------------------ */

static void test_every_format(void **state)
{
	struct fixture *f = *state;
	/* Lengths that are not whole chunks, and one shorter than a chunk. */
	add_clip(&f->s, 0, 0, 1, 96000);
	add_clip(&f->s, 4, 2, 2, 10007);
	add_clip(&f->s, 7, 9, 2, 100);
	for (int i = 0; i < FORMATS; i++) {
		enum export_format fmt = all_formats[i];
		int rc =
		    export_session(f->exports, &f->s, NULL, fmt, WHEN + 60 * i, f->folder,
				   sizeof(f->folder), f->err, sizeof(f->err));
		if (rc != 0)
			fail_msg("%s: %d %s", export_format_name(fmt), rc, f->err);
		assert_string_equal(f->err, "");
		char name[32], want[256], have[256];
		export_folder_name(WHEN + 60 * i, name, sizeof(name));
		snprintf(want, sizeof(want), "%s/%s", f->exports, name);
		assert_string_equal(f->folder, want);
		const char *ext = export_format_extension(fmt);
		snprintf(
		    want, sizeof(want),
		    "export.txt scene01_track1.%s scene03_track5.%s scene10_track8.%s",
		    ext, ext, ext);
		list_dir(f->folder, have, sizeof(have));
		assert_string_equal(have, want);
		check_clip_file(f->folder, &f->s, 0, 0, fmt);
		check_clip_file(f->folder, &f->s, 4, 2, fmt);
		check_clip_file(f->folder, &f->s, 7, 9, fmt);
	}
	/* One folder per export, no partial ones. */
	char have[256];
	list_dir(f->exports, have, sizeof(have));
	assert_string_equal(have, "2026-11-25_2130 2026-11-25_2131 2026-11-25_2132 "
				  "2026-11-25_2133 2026-11-25_2134");
}

/* Integer formats clip overs at full scale instead of wrapping them. */
static void test_overs_clip(void **state)
{
	struct fixture *f = *state;
	static const float overs[] = {1.5f, -1.5f, 1.0f,    -1.0f,
				      4.0f, -4.0f, 1.0001f, 0.5f};
	const int n = (int)(sizeof(overs) / sizeof(overs[0]));
	add_clip(&f->s, 2, 0, 2, n);
	struct session_clip *c = &f->s.clips[SLOT(2, 0)];
	for (int i = 0; i < n; i++) {
		c->audio[0][i] = overs[i];
		c->audio[1][i] = -overs[i];
	}
	for (int i = 0; i < FORMATS; i++) {
		enum export_format fmt = all_formats[i];
		assert_int_equal(
		    export_session(f->exports, &f->s, NULL, fmt, WHEN + 60 * i, f->folder,
				   sizeof(f->folder), f->err, sizeof(f->err)),
		    0);
		char name[32], path[600];
		SF_INFO info;
		export_clip_name(2, 0, fmt, name, sizeof(name));
		path_in(path, sizeof(path), f->folder, name);
		float *got = read_audio(path, &info);
		assert_int_equal(info.frames, n);
		for (int k = 0; k < n * 2; k++) {
			double want = k % 2 ? -overs[k / 2] : overs[k / 2];
			if (fmt != EXPORT_WAV_FLOAT)
				want = want > 1 ? 1 : want < -1 ? -1 : want;
			/* Full scale positive is one step short of 1. */
			double tol = tolerance(fmt) * 1.001;
			if (fabs(got[k] - want) > tol)
				fail_msg("%s sample %d: %.9g, want %.9g", name, k,
					 (double)got[k], want);
		}
		free(got);
	}
}

static void test_export_txt(void **state)
{
	struct fixture *f = *state;
	add_clip(&f->s, 0, 0, 1, 96000);  /* 1 bar */
	add_clip(&f->s, 1, 0, 2, 192000); /* 2 bars */
	add_clip(&f->s, 4, 2, 1, 144000); /* 1.5 bars */
	add_clip(&f->s, 7, 9, 2, 32000);  /* a third of a bar */
	f->s.clips[SLOT(1, 0)].bars = 2.0;
	f->s.clips[SLOT(4, 2)].bars = 1.5;
	f->s.clips[SLOT(7, 9)].bars = 1.0 / 3.0;
	f->s.tracks[4].volume = 0.5f;
	f->s.tracks[4].mute = true;
	assert_int_equal(export_session(f->exports, &f->s, NULL, EXPORT_WAV24, WHEN,
					f->folder, sizeof(f->folder), f->err,
					sizeof(f->err)),
			 0);
	char path[600];
	path_in(path, sizeof(path), f->folder, "export.txt");
	char *text = slurp(path);
	assert_non_null(strstr(text, "gridloop export " FOLDER "\n"));
	assert_non_null(strstr(text, "session saved 2026-11-25T21:29:58Z\n"));
	assert_non_null(strstr(text, "rate 48000 Hz, format wav24\n"));
	assert_non_null(strstr(text, "tempo 120.000 BPM, meter 4/4\n"));

	static const struct {
		const char *cols[8];
	} rows[] = {
	    {{"scene01_track1.wav", "1", "1", "1", "96000", "mono", "1.00", "no"}},
	    {{"scene01_track2.wav", "2", "1", "2", "192000", "stereo", "1.00", "no"}},
	    {{"scene03_track5.wav", "5", "3", "1.5", "144000", "mono", "0.50", "yes"}},
	    {{"scene10_track8.wav", "8", "10", "0.333", "32000", "stereo", "1.00", "no"}},
	};
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		char cols[8][32];
		assert_int_equal(txt_row(text, rows[r].cols[0], cols), 8);
		for (int k = 0; k < 8; k++)
			assert_string_equal(cols[k], rows[r].cols[k]);
	}
	/* The header row names the columns in that order. */
	char cols[8][32];
	assert_int_equal(txt_row(text, "file", cols), 8);
	assert_string_equal(cols[3], "bars");
	assert_string_equal(cols[4], "frames");
	free(text);
}

static void test_export_txt_no_tempo(void **state)
{
	struct fixture *f = *state;
	f->s.tempo = 0;
	f->s.beats_per_bar = 3;
	f->s.saved_at[0] = '\0';
	add_clip(&f->s, 0, 0, 1, 1000);
	f->s.clips[0].bars = 0;
	assert_int_equal(export_session(f->exports, &f->s, NULL, EXPORT_FLAC16, WHEN,
					f->folder, sizeof(f->folder), f->err,
					sizeof(f->err)),
			 0);
	char path[600];
	path_in(path, sizeof(path), f->folder, "export.txt");
	char *text = slurp(path);
	assert_non_null(strstr(text, "tempo unknown, meter 3/4\n"));
	assert_non_null(strstr(text, "format flac16\n"));
	char cols[8][32];
	assert_int_equal(txt_row(text, "scene01_track1.flac", cols), 8);
	assert_string_equal(cols[3], "-");
	assert_string_equal(cols[4], "1000");
	free(text);
}

static void test_same_minute_gets_suffix(void **state)
{
	struct fixture *f = *state;
	add_clip(&f->s, 0, 0, 1, 1000);
	char want[256];
	for (int n = 1; n <= 3; n++) {
		assert_int_equal(export_session(f->exports, &f->s, NULL, EXPORT_WAV16,
						WHEN + n, f->folder, sizeof(f->folder),
						f->err, sizeof(f->err)),
				 0);
		if (n == 1)
			snprintf(want, sizeof(want), "%s/%s", f->exports, FOLDER);
		else
			snprintf(want, sizeof(want), "%s/%s_%d", f->exports, FOLDER, n);
		assert_string_equal(f->folder, want);
	}
	char have[256];
	list_dir(f->exports, have, sizeof(have));
	assert_string_equal(have, FOLDER " " FOLDER "_2 " FOLDER "_3");
	/* folder may be NULL. */
	assert_int_equal(export_session(f->exports, &f->s, NULL, EXPORT_WAV16, WHEN, NULL,
					0, f->err, sizeof(f->err)),
			 0);
	path_in(want, sizeof(want), f->exports, FOLDER "_4/scene01_track1.wav");
	assert_int_equal(access(want, R_OK), 0);
}

/* A partial folder is never removed by an export (it may be another's,
 * running at the same moment): the export takes the next name. Only the
 * instance lock's holder sweeps them (export_sweep_partials). */
static void test_partial_folder_left_alone(void **state)
{
	struct fixture *f = *state;
	char path[600];
	assert_int_equal(mkdir(f->exports, 0755), 0);
	path_in(path, sizeof(path), f->exports, "." FOLDER ".partial");
	assert_int_equal(mkdir(path, 0755), 0);
	path_in(path, sizeof(path), f->exports, "." FOLDER ".partial/scene09_track9.wav");
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	add_clip(&f->s, 0, 0, 2, 500);
	assert_int_equal(export_session(f->exports, &f->s, NULL, EXPORT_WAV24, WHEN,
					f->folder, sizeof(f->folder), f->err,
					sizeof(f->err)),
			 0);
	char have[256];
	list_dir(f->exports, have, sizeof(have));
	assert_string_equal(have, "." FOLDER ".partial " FOLDER "_2");
	assert_int_equal(access(path, F_OK), 0);
	list_dir(f->folder, have, sizeof(have));
	assert_string_equal(have, "export.txt scene01_track1.wav");
	export_sweep_partials(f->exports);
	list_dir(f->exports, have, sizeof(have));
	assert_string_equal(have, FOLDER "_2");
}

#define RACERS 6

/* Exports at the same moment (`gridloop export` typed while another
 * runs): each ends in a folder of its own, complete, or says why not. */
static void test_concurrent_exports(void **state)
{
	struct fixture *f = *state;
	add_clip(&f->s, 0, 0, 2, 48000);
	add_clip(&f->s, 3, 2, 1, 30000);
	int fds[RACERS][2];
	pid_t pids[RACERS];
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < RACERS; i++) {
			assert_int_equal(pipe(fds[i]), 0);
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				char folder[600], err[512];
				close(fds[i][0]);
				int rc = export_session(f->exports, &f->s, NULL,
							EXPORT_WAV16, WHEN, folder,
							sizeof(folder), err, sizeof(err));
				dprintf(fds[i][1], "%d %s", rc, rc ? err : folder);
				_exit(0);
			}
			close(fds[i][1]);
		}
		char folders[RACERS][600];
		for (int i = 0; i < RACERS; i++) {
			int st;
			ssize_t n = read(fds[i][0], folders[i], sizeof(folders[i]) - 1);
			close(fds[i][0]);
			assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
			folders[i][n > 0 ? n : 0] = '\0';
			if (strncmp(folders[i], "0 ", 2) != 0) {
				print_message("export %d failed: %s\n", i, folders[i]);
				fail();
			}
			memmove(folders[i], folders[i] + 2, strlen(folders[i] + 2) + 1);
			char have[256];
			list_dir(folders[i], have, sizeof(have));
			assert_string_equal(have, "export.txt scene01_track1.wav "
						  "scene03_track4.wav");
			for (int j = 0; j < i; j++)
				assert_string_not_equal(folders[i], folders[j]);
		}
	}
	char have[2048];
	list_dir(f->exports, have, sizeof(have));
	assert_null(strstr(have, "partial"));
}

/* Clips with no audio in memory are read from the session directory. */
static void test_from_session_dir(void **state)
{
	struct fixture *f = *state;
	struct session mem;
	session_init(&mem, RATE);
	add_clip(&mem, 0, 0, 1, 48000);
	add_clip(&mem, 3, 1, 2, 20000);
	add_clip(&f->s, 0, 0, 1, 48000);
	add_clip(&f->s, 3, 1, 2, 20000);
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		if (!mem.clips[slot].present)
			continue;
		write_store_file(f->session_dir, &mem.clips[slot]);
		free(f->s.clips[slot].audio[0]);
		free(f->s.clips[slot].audio[1]);
		f->s.clips[slot].audio[0] = f->s.clips[slot].audio[1] = NULL;
	}
	assert_int_equal(export_session(f->exports, &f->s, f->session_dir,
					EXPORT_WAV_FLOAT, WHEN, f->folder,
					sizeof(f->folder), f->err, sizeof(f->err)),
			 0);
	assert_string_equal(f->err, "");
	/* The session handed in was not given audio it would have to free. */
	assert_null(f->s.clips[0].audio[0]);
	check_clip_file(f->folder, &mem, 0, 0, EXPORT_WAV_FLOAT);
	check_clip_file(f->folder, &mem, 3, 1, EXPORT_WAV_FLOAT);
	char have[256];
	list_dir(f->folder, have, sizeof(have));
	assert_string_equal(have, "export.txt scene01_track1.wav scene02_track4.wav");
	session_free_audio(&mem);
}

/* The same through the session store's own writer: what it saves, the
 * export reads back bit for bit. */
static void test_from_session_store(void **state)
{
	struct fixture *f = *state;
	struct session mem;
	uint64_t serial = 1;
	session_init(&mem, RATE);
	add_clip(&mem, 2, 4, 2, 30000);
	add_clip(&mem, 6, 0, 1, 7000);
	add_clip(&f->s, 2, 4, 2, 30000);
	add_clip(&f->s, 6, 0, 1, 7000);
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		if (!f->s.clips[slot].present)
			continue;
		if (session_store_write_clip(f->session_dir, &f->s, slot, &serial, f->err,
					     sizeof(f->err)) != 0)
			fail_msg("session_store_write_clip: %s", f->err);
	}
	session_free_audio(&f->s);
	assert_int_equal(export_session(f->exports, &f->s, f->session_dir, EXPORT_FLAC24,
					WHEN, f->folder, sizeof(f->folder), f->err,
					sizeof(f->err)),
			 0);
	assert_string_equal(f->err, "");
	check_clip_file(f->folder, &mem, 2, 4, EXPORT_FLAC24);
	check_clip_file(f->folder, &mem, 6, 0, EXPORT_FLAC24);
	session_free_audio(&mem);
}

/* A clip whose file is gone is skipped, said so, and the rest exported. */
static void test_missing_clip_file_skipped(void **state)
{
	struct fixture *f = *state;
	add_clip(&f->s, 0, 0, 1, 4800);
	add_clip(&f->s, 1, 0, 2, 4800);
	add_clip(&f->s, 2, 0, 1, 100); /* stays in memory */
	for (int t = 0; t < 2; t++) {
		struct session_clip *c = &f->s.clips[SLOT(t, 0)];
		if (t == 0)
			write_store_file(f->session_dir, c);
		free(c->audio[0]);
		free(c->audio[1]);
		c->audio[0] = c->audio[1] = NULL;
	}
	assert_int_equal(export_session(f->exports, &f->s, f->session_dir, EXPORT_WAV16,
					WHEN, f->folder, sizeof(f->folder), f->err,
					sizeof(f->err)),
			 0);
	/* err names the missing file and the clip left out. */
	assert_non_null(strstr(f->err, f->s.clips[SLOT(1, 0)].file));
	assert_non_null(strstr(f->err, "skipped scene01_track2.wav"));
	assert_null(strstr(f->err, f->s.clips[SLOT(0, 0)].file));
	char have[256];
	list_dir(f->folder, have, sizeof(have));
	assert_string_equal(have, "export.txt scene01_track1.wav scene01_track3.wav");
	char path[600];
	path_in(path, sizeof(path), f->folder, "export.txt");
	char *text = slurp(path);
	char cols[8][32];
	assert_int_equal(txt_row(text, "scene01_track1.wav", cols), 8);
	assert_int_equal(txt_row(text, "scene01_track3.wav", cols), 8);
	const char *skip = strstr(text, "scene01_track2.wav");
	assert_non_null(skip);
	assert_non_null(strstr(skip, "skipped"));
	assert_non_null(strstr(skip, f->s.clips[SLOT(1, 0)].file));
	free(text);
}

/* ---- refusals and failures ---------------------------------------------- */

static void test_nothing_to_export(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(export_session(f->exports, &f->s, NULL, EXPORT_WAV16, WHEN,
					f->folder, sizeof(f->folder), f->err,
					sizeof(f->err)),
			 -ENODATA);
	assert_non_null(strstr(f->err, "nothing to export"));
	assert_int_equal(access(f->exports, F_OK), -1); /* the card untouched */
	add_clip(&f->s, 0, 0, 1, 10);
	assert_int_equal(export_session(f->exports, &f->s, NULL, (enum export_format)99,
					WHEN, f->folder, sizeof(f->folder), f->err,
					sizeof(f->err)),
			 -EINVAL);
	assert_int_equal(access(f->exports, F_OK), -1);
}

static void test_missing_parent(void **state)
{
	struct fixture *f = *state;
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/not-mounted/exports", f->root);
	add_clip(&f->s, 0, 0, 1, 10);
	assert_int_equal(export_session(dir, &f->s, NULL, EXPORT_WAV16, WHEN, f->folder,
					sizeof(f->folder), f->err, sizeof(f->err)),
			 -ENOENT);
	assert_non_null(strstr(f->err, "not mounted"));
	assert_non_null(strstr(f->err, dir));
	char have[256];
	list_dir(f->root, have, sizeof(have));
	assert_string_equal(have, "session");
}

/* The export directory cannot be made: read-only parent (when not root,
 * which ignores permissions) and a parent that is a file. */
static void test_unwritable_parent(void **state)
{
	struct fixture *f = *state;
	char dir[256], have[256];
	add_clip(&f->s, 0, 0, 1, 10);
	if (geteuid() != 0) {
		assert_int_equal(chmod(f->root, 0555), 0);
		int rc =
		    export_session(f->exports, &f->s, NULL, EXPORT_WAV16, WHEN, f->folder,
				   sizeof(f->folder), f->err, sizeof(f->err));
		assert_int_equal(rc, -EACCES);
		assert_non_null(strstr(f->err, f->exports));
		assert_non_null(strstr(f->err, atomic_file_why(EACCES)));
		assert_int_equal(chmod(f->root, 0755), 0);
	}
	snprintf(dir, sizeof(dir), "%s/card/exports", f->root);
	path_in(have, sizeof(have), f->root, "card");
	FILE *fp = fopen(have, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(export_session(dir, &f->s, NULL, EXPORT_WAV16, WHEN, f->folder,
					sizeof(f->folder), f->err, sizeof(f->err)),
			 -ENOTDIR);
	assert_non_null(strstr(f->err, dir));
	/* The export directory itself is a file. */
	assert_int_equal(export_session(have, &f->s, NULL, EXPORT_WAV16, WHEN, f->folder,
					sizeof(f->folder), f->err, sizeof(f->err)),
			 -ENOTDIR);
	list_dir(f->root, have, sizeof(have));
	assert_string_equal(have, "card session");
}

/* A write that fails part way (the file size limit standing in for a full
 * card) names the file, returns -errno and leaves no folder at all. */
static void test_write_failure_cleans_up(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, small = {.rlim_cur = 64 * 1024};
	add_clip(&f->s, 0, 0, 1, 1000);	  /* fits */
	add_clip(&f->s, 1, 0, 2, 100000); /* does not */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = export_session(f->exports, &f->s, NULL, EXPORT_WAV_FLOAT, WHEN,
				f->folder, sizeof(f->folder), f->err, sizeof(f->err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, was);
	assert_int_equal(rc, -EFBIG);
	assert_non_null(strstr(f->err, "scene01_track2.wav"));
	assert_non_null(strstr(f->err, atomic_file_why(EFBIG)));
	char have[256];
	list_dir(f->exports, have, sizeof(have));
	assert_string_equal(have, "");
	/* The next export, with room, works and takes the plain name. */
	assert_int_equal(export_session(f->exports, &f->s, NULL, EXPORT_WAV_FLOAT, WHEN,
					f->folder, sizeof(f->folder), f->err,
					sizeof(f->err)),
			 0);
	list_dir(f->exports, have, sizeof(have));
	assert_string_equal(have, FOLDER);
}

/* ---- the card failing (tests/fsfault in a child process) ----------------- */

/* The session the child exports: small, so a power cut can be tried before
 * every single change it makes. */
static void child_session(struct session *s)
{
	session_init(s, RATE);
	s->tempo = 120;
	add_clip(s, 0, 0, 1, 3000);
	add_clip(s, 5, 1, 2, 5000);
}

/* In the child: one export into argv[2], "rc<TAB>err" on stdout. */
static int child_main(const char *export_dir)
{
	struct session s;
	char folder[512], err[512];
	child_session(&s);
	int rc = export_session(export_dir, &s, NULL, EXPORT_WAV16, WHEN, folder,
				sizeof(folder), err, sizeof(err));
	printf("%d\t%s\n", rc, err);
	fflush(stdout);
	session_free_audio(&s);
	return 0;
}

/* Runs child_main(f->exports) with the card under f->root failing as spec
 * says. 1: it finished (rc and err set), 0: it was killed (a power cut). */
static int run_child(struct fixture *f, const char *spec, int *rc)
{
	static struct fsfault_child child;
	if (!child.self[0])
		fsfault_find(&child);
	struct fsfault_outcome o;
	char *args[] = {f->exports, NULL};
	if (!fsfault_run(&child, spec, f->root, args, 1, &o))
		skip(); /* no shim, or cannot start again (qemu-user) */
	if (WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGKILL)
		return 0;
	if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0)
		fail_msg("child (%s) ended badly: status %d, said %s", spec, o.status,
			 o.text);
	char *tab = strchr(o.text, '\t');
	assert_non_null(tab);
	*rc = atoi(o.text);
	snprintf(f->err, sizeof(f->err), "%s", tab + 1);
	char *nl = strchr(f->err, '\n');
	if (nl != NULL)
		*nl = '\0';
	return 1;
}

static bool have_shim(void)
{
	const char *shim = getenv("FSFAULT_SO");
	return shim != NULL && access(shim, R_OK) == 0;
}

/* A failure the card gives: -errno, the musician's words for it, the file
 * named, and no folder of any kind left in the export directory. */
static void check_card_failure(void **state, const char *spec, int want_rc,
			       const char *want_words, const char *want_file)
{
	struct fixture *f = *state;
	int rc = 0;
	if (!have_shim())
		skip();
	assert_int_equal(run_child(f, spec, &rc), 1);
	if (rc != want_rc)
		fail_msg("%s: rc %d (%s), want %d", spec, rc, f->err, want_rc);
	if (strstr(f->err, want_words) == NULL || strstr(f->err, want_file) == NULL)
		fail_msg("%s: message \"%s\" lacks \"%s\" or \"%s\"", spec, f->err,
			 want_words, want_file);
	char have[256];
	if (access(f->exports, F_OK) == 0) {
		list_dir(f->exports, have, sizeof(have));
		assert_string_equal(have, "");
	}
}

static void test_card_read_only(void **state)
{
	struct fixture *f = *state;
	check_card_failure(state, "erofs", -EROFS, "SD card is read-only", f->exports);
}

static void test_card_full(void **state)
{
	/* The first clip (6 KB) fits, the second does not. */
	check_card_failure(state, "enospc_after=12000", -ENOSPC, "SD card full",
			   "scene02_track6.wav");
}

static void test_card_io_error(void **state)
{
	check_card_failure(state, "eio_after=100", -EIO, "I/O error",
			   "scene01_track1.wav");
}

static void test_card_fsync_fails(void **state)
{
	struct fixture *f = *state;
	/* A new export directory is flushed first: that fails on its own. */
	check_card_failure(state, "fsync_eio", -EIO, "I/O error", f->exports);
	/* An existing one: the first clip file's flush fails. */
	check_card_failure(state, "fsync_eio", -EIO, "I/O error", "scene01_track1.wav");
}

/* Every plain-named folder in the export directory is a whole export. */
static void check_only_whole_exports(struct fixture *f, const struct session *s)
{
	DIR *d = opendir(f->exports);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char folder[600], path[700];
		path_in(folder, sizeof(folder), f->exports, e->d_name);
		check_clip_file(folder, s, 0, 0, EXPORT_WAV16);
		check_clip_file(folder, s, 5, 1, EXPORT_WAV16);
		path_in(path, sizeof(path), folder, "export.txt");
		char *text = slurp(path);
		char cols[8][32];
		assert_int_equal(txt_row(text, "scene02_track6.wav", cols), 8);
		free(text);
	}
	closedir(d);
}

/* The power goes before each change the export makes, one after another:
 * the card never shows a plain-named folder that is not whole, and the next
 * export after the power comes back works (taking a stale partial away). */
static void test_power_cut_at_every_step(void **state)
{
	struct fixture *f = *state;
	struct session s;
	if (!have_shim())
		skip();
	child_session(&s);
	int cuts = 0, rc = 0;
	for (int n = 1; n < 1000; n++) {
		char spec[64];
		snprintf(spec, sizeof(spec), "kill_after_ops=%d", n);
		tmp_dir_remove(f->exports);
		if (run_child(f, spec, &rc)) {
			assert_int_equal(rc, 0);
			break;
		}
		cuts++;
		check_only_whole_exports(f, &s);
		/* The next start (the instance lock's holder) sweeps what the
		 * cut left; an export never removes a partial folder itself. */
		export_sweep_partials(f->exports);
		assert_int_equal(export_session(f->exports, &s, NULL, EXPORT_WAV16, WHEN,
						f->folder, sizeof(f->folder), f->err,
						sizeof(f->err)),
				 0);
		check_only_whole_exports(f, &s);
		char have[256];
		list_dir(f->exports, have, sizeof(have));
		if (strstr(have, ".partial") != NULL)
			fail_msg("cut %d: a partial folder left: %s", n, have);
	}
	/* The export has more steps than that, all of which were tried. */
	assert_true(cuts >= 8);
	print_message("power cut before each of %d changes\n", cuts);
	session_free_audio(&s);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2]);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_folder_name),
	    cmocka_unit_test(test_clip_name),
	    cmocka_unit_test(test_format_names),
	    cmocka_unit_test_setup_teardown(test_every_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overs_clip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_export_txt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_export_txt_no_tempo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_same_minute_gets_suffix, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_partial_folder_left_alone, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_exports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_from_session_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_from_session_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_clip_file_skipped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_to_export, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_parent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unwritable_parent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_failure_cleans_up, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_card_read_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_card_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_card_io_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_card_fsync_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_power_cut_at_every_step, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
