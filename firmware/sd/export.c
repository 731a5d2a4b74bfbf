/* export.c -- a session's clips as audio files a musician takes home.
 *
 * One export is one new folder under the export directory. It is built as
 * ".NAME.partial" (each file written and fsync'ed, export.txt last), the
 * folder itself is fsync'ed, renamed to NAME, and the export directory is
 * fsync'ed: a folder with a plain name on the card is always complete. Any
 * failure removes the partial folder.
 *
 * Audio goes through libsndfile with virtual I/O on our own fd, so a failed
 * write keeps its errno ("SD card full" rather than "system error"). Clips
 * are written in interleaved chunks, and a clip read from the session
 * directory is the only one in memory at a time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sndfile.h>

#include "atomic_file.h"
#include "export.h"
#include "session_store.h"

#define EXPORT_CHUNK	  4096 /* frames per sf_writef_float call */
#define EXPORT_TXT	  "export.txt"
#define EXPORT_MAX_SUFFIX 999 /* "_2" .. "_999" in one minute is plenty */
#define EXPORT_FOLDER_MAX 64
#define EXPORT_PATH_MAX	  4096

/* ---- formats ------------------------------------------------------------ */

struct format_info {
	const char *name;
	const char *extension;
	int sf_format;
	bool integer; /* clip overs instead of wrapping them */
};

static const struct format_info formats[] = {
    [EXPORT_WAV16] = {"wav16", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, true},
    [EXPORT_WAV24] = {"wav24", "wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, true},
    [EXPORT_WAV_FLOAT] = {"wavfloat", "wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, false},
    [EXPORT_FLAC16] = {"flac16", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, true},
    [EXPORT_FLAC24] = {"flac24", "flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, true},
};

#define FORMAT_COUNT ((int)(sizeof(formats) / sizeof(formats[0])))

static bool format_valid(enum export_format f)
{
	return (int)f >= 0 && (int)f < FORMAT_COUNT;
}

int export_format_parse(const char *text, enum export_format *f)
{
	if (text == NULL)
		return -1;
	/* The short names pick the best integer format of each container. */
	if (strcmp(text, "wav") == 0) {
		*f = EXPORT_WAV24;
		return 0;
	}
	if (strcmp(text, "flac") == 0) {
		*f = EXPORT_FLAC24;
		return 0;
	}
	for (int i = 0; i < FORMAT_COUNT; i++) {
		if (strcmp(text, formats[i].name) == 0) {
			*f = (enum export_format)i;
			return 0;
		}
	}
	return -1;
}

const char *export_format_name(enum export_format f)
{
	return format_valid(f) ? formats[f].name : "unknown";
}

const char *export_format_extension(enum export_format f)
{
	return format_valid(f) ? formats[f].extension : "wav";
}

/* ---- names -------------------------------------------------------------- */

void export_folder_name(time_t t, char *out, size_t len)
{
	struct tm tm;
	if (len == 0)
		return;
	if (localtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%d_%H%M", &tm) == 0)
		snprintf(out, len, "export");
}

void export_clip_name(int track, int scene, enum export_format f, char *out, size_t len)
{
	snprintf(out, len, "scene%02d_track%d.%s", scene + 1, track + 1,
		 export_format_extension(f));
}

/* ---- small helpers ------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Appends to a message that may already say something. */
static void add_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || errlen == 0)
		return;
	size_t used = strnlen(err, errlen);
	if (used + 1 >= errlen)
		return;
	if (used > 0) {
		snprintf(err + used, errlen - used, "; ");
		used = strnlen(err, errlen);
	}
	va_start(ap, fmt);
	vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
}

/* An errno from a failed call, never 0 (some paths lose it). */
static int errno_or(int fallback)
{
	return errno != 0 ? errno : fallback;
}

static int join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno_or(EIO);
	int rc = fsync(fd) < 0 ? -errno_or(EIO) : 0;
	close(fd);
	return rc;
}

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

/* Removes a folder and what is in it (a partial export: plain files). */
static void remove_tree(const char *path)
{
	nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 || errno != ENOENT;
}

/* ---- the export directory and the folder -------------------------------- */

/* The directory a path is in ("." for a bare name). */
static void parent_of(const char *path, char *out, size_t len)
{
	snprintf(out, len, "%s", path);
	char *end = out + strlen(out);
	while (end > out + 1 && end[-1] == '/') /* "a/b/" is in "a" too */
		*--end = '\0';
	char *slash = strrchr(out, '/');
	if (slash == NULL)
		snprintf(out, len, ".");
	else
		slash[slash == out ? 1 : 0] = '\0';
}

/* Makes the export directory (one level: its parent is the card), and
 * puts a new one on the card before anything goes in it. */
static int prepare_export_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	char parent[EXPORT_PATH_MAX];
	int rc = 0;
	if (mkdir(dir, 0755) == 0) {
		parent_of(dir, parent, sizeof(parent));
		rc = fsync_dir(parent);
	} else if (errno != EEXIST) {
		rc = -errno_or(EIO);
	}
	if (rc == 0 && stat(dir, &st) < 0)
		rc = -errno_or(EIO);
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc < 0)
		set_err(err, errlen, "export folder %s: %s", dir, atomic_file_why(-rc));
	return rc;
}

/* The first free name of base, base_2, base_3... */
static int pick_folder(const char *dir, time_t when, int *from, char *name,
		       size_t namelen, char *err, size_t errlen)
{
	char base[EXPORT_FOLDER_MAX], path[EXPORT_PATH_MAX];
	export_folder_name(when, base, sizeof(base));
	for (int n = *from; n <= EXPORT_MAX_SUFFIX; n++) {
		*from = n + 1;
		if (n == 1)
			snprintf(name, namelen, "%s", base);
		else
			snprintf(name, namelen, "%s_%d", base, n);
		if (join(path, sizeof(path), dir, name) < 0) {
			set_err(err, errlen, "export folder %s: %s", dir,
				strerror(ENAMETOOLONG));
			return -ENAMETOOLONG;
		}
		if (!exists(path))
			return 0;
	}
	set_err(err, errlen, "export folder %s: too many exports named %s", dir, base);
	return -EEXIST;
}

/* ---- writing audio ------------------------------------------------------ */

/* libsndfile virtual I/O over our fd: the first errno is kept. */
struct sink {
	int fd;
	int error;
};

static sf_count_t sink_length(void *user)
{
	struct sink *k = user;
	struct stat st;
	return fstat(k->fd, &st) < 0 ? -1 : (sf_count_t)st.st_size;
}

static sf_count_t sink_seek(sf_count_t offset, int whence, void *user)
{
	struct sink *k = user;
	off_t at = lseek(k->fd, (off_t)offset, whence);
	if (at < 0 && k->error == 0)
		k->error = errno_or(EIO);
	return (sf_count_t)at;
}

static sf_count_t sink_read(void *ptr, sf_count_t count, void *user)
{
	struct sink *k = user;
	ssize_t n = read(k->fd, ptr, (size_t)count);
	return n < 0 ? 0 : (sf_count_t)n;
}

static sf_count_t sink_write(const void *ptr, sf_count_t count, void *user)
{
	struct sink *k = user;
	const char *p = ptr;
	sf_count_t done = 0;
	while (done < count) {
		ssize_t n = write(k->fd, p + done, (size_t)(count - done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (k->error == 0)
				k->error = n < 0 ? errno_or(EIO) : ENOSPC;
			break;
		}
		done += n;
	}
	return done;
}

static sf_count_t sink_tell(void *user)
{
	struct sink *k = user;
	return (sf_count_t)lseek(k->fd, 0, SEEK_CUR);
}

static SF_VIRTUAL_IO sink_io = {sink_length, sink_seek, sink_read, sink_write, sink_tell};

/* One clip's audio: channels separate, frames each. */
struct clip_audio {
	const float *ch[2];
	int channels;
	int64_t frames;
};

/* Writes the audio in chunks, interleaving stereo through buf. */
static int write_frames(SNDFILE *sf, const struct clip_audio *a, float *buf)
{
	for (int64_t at = 0; at < a->frames; at += EXPORT_CHUNK) {
		int64_t n = a->frames - at < EXPORT_CHUNK ? a->frames - at : EXPORT_CHUNK;
		const float *src = a->ch[0] + at;
		if (a->channels == 2) {
			for (int64_t i = 0; i < n; i++) {
				buf[2 * i] = a->ch[0][at + i];
				buf[2 * i + 1] = a->ch[1][at + i];
			}
			src = buf;
		}
		if (sf_writef_float(sf, src, n) != n)
			return -1;
	}
	return 0;
}

/* Encodes a into the open fd; 0 or -errno. */
static int encode(int fd, const struct clip_audio *a, uint32_t rate, enum export_format f,
		  float *buf)
{
	struct sink k = {fd, 0};
	SF_INFO info = {0};
	info.samplerate = (int)rate;
	info.channels = a->channels;
	info.format = formats[f].sf_format;
	if (!sf_format_check(&info))
		return -EINVAL;
	SNDFILE *sf = sf_open_virtual(&sink_io, SFM_WRITE, &info, &k);
	if (sf == NULL)
		return -(k.error ? k.error : EIO);
	if (formats[f].integer)
		sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
	int bad = write_frames(sf, a, buf);
	/* Closing writes the final header (and FLAC's last block). */
	if (sf_close(sf) != 0)
		bad = -1;
	if (k.error)
		return -k.error;
	return bad ? -EIO : 0;
}

/* DIR/NAME holding a's audio, on the card (fsync'ed) when this returns 0. */
static int write_clip_file(const char *dir, const char *name, const struct clip_audio *a,
			   uint32_t rate, enum export_format f, float *buf)
{
	char path[EXPORT_PATH_MAX];
	if (join(path, sizeof(path), dir, name) < 0)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno_or(EIO);
	int rc = encode(fd, a, rate, f, buf);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno_or(EIO);
	if (close(fd) < 0 && rc == 0)
		rc = -errno_or(EIO);
	return rc;
}

/* ---- export.txt --------------------------------------------------------- */

/* "2", "1.5", "0.333": up to 3 decimals, no trailing zeros. */
static void format_bars(double bars, char *out, size_t len)
{
	if (!(bars > 0)) {
		snprintf(out, len, "-");
		return;
	}
	snprintf(out, len, "%.3f", bars);
	char *dot = strchr(out, '.');
	if (dot == NULL)
		return;
	char *end = out + strlen(out) - 1;
	while (end > dot && *end == '0')
		*end-- = '\0';
	if (end == dot)
		*end = '\0';
}

static void write_txt_head(FILE *fp, const struct session *s, const char *folder,
			   enum export_format f)
{
	fprintf(fp, "gridloop export %s\n", folder);
	fprintf(fp, "session saved %s\n", s->saved_at[0] ? s->saved_at : "unknown");
	fprintf(fp, "rate %u Hz, format %s\n", s->rate, export_format_name(f));
	if (s->tempo > 0)
		fprintf(fp, "tempo %.3f BPM, meter %u/4\n", s->tempo, s->beats_per_bar);
	else
		fprintf(fp, "tempo unknown, meter %u/4\n", s->beats_per_bar);
	fprintf(fp, "every file is one whole loop: set the DAW to this tempo and "
		    "place the files on a bar line\n\n");
	fprintf(fp, "%-22s %-5s %-5s %-7s %-9s %-9s %-6s %s\n", "file", "track", "scene",
		"bars", "frames", "channels", "volume", "mute");
}

static void write_txt_clip(FILE *fp, const struct session *s, int slot, const char *name,
			   int64_t frames, int channels)
{
	int track = slot % GL_TRACKS, scene = slot / GL_TRACKS;
	char bars[32];
	format_bars(s->clips[slot].bars, bars, sizeof(bars));
	fprintf(fp, "%-22s %-5d %-5d %-7s %-9lld %-9s %-6.2f %s\n", name, track + 1,
		scene + 1, bars, (long long)frames, channels == 2 ? "stereo" : "mono",
		(double)s->tracks[track].volume, s->tracks[track].mute ? "yes" : "no");
}

/* ---- the export --------------------------------------------------------- */

/* Everything one export needs while it runs. */
struct job {
	const struct session *s;
	const char *session_dir;
	enum export_format f;
	const char *partial;  /* EXPORT_DIR/.NAME.partial */
	struct session *copy; /* for clips read from session_dir */
	float *buf;	      /* EXPORT_CHUNK stereo frames */
	FILE *txt;	      /* export.txt, built in memory */
	char *txt_data;
	size_t txt_len;
	int skipped;
};

/* The audio of a present clip, from memory or read into job->copy. 1: ok,
 * 0: skipped (its file missing or unreadable: why says so), -errno. */
static int clip_audio_get(struct job *j, int slot, struct clip_audio *a, char *why,
			  size_t whylen)
{
	const struct session_clip *c = &j->s->clips[slot];
	if ((c->channels != 1 && c->channels != 2) || c->frames <= 0)
		return -EINVAL;
	if (c->audio[0] != NULL) {
		if (c->channels == 2 && c->audio[1] == NULL)
			return -EINVAL;
		*a = (struct clip_audio){
		    {c->audio[0], c->audio[1]}, c->channels, c->frames};
		return 1;
	}
	if (j->session_dir == NULL) {
		snprintf(why, whylen, "%s: no audio and no session directory", c->file);
		return 0;
	}
	if (session_store_read_clip(j->session_dir, j->copy, slot, j->s->rate,
				    c->channels, why, whylen) < 0) {
		session_free_audio(j->copy);
		if (why[0] == '\0')
			snprintf(why, whylen, "%s: unreadable", c->file);
		return 0;
	}
	const struct session_clip *r = &j->copy->clips[slot];
	*a = (struct clip_audio){{r->audio[0], r->audio[1]}, c->channels, r->frames};
	return 1;
}

/* Exports one clip into the partial folder and lists it in export.txt. */
static int export_clip(struct job *j, int slot, char *err, size_t errlen)
{
	char name[SESSION_NAME_MAX], why[256] = "";
	struct clip_audio a;
	export_clip_name(slot % GL_TRACKS, slot / GL_TRACKS, j->f, name, sizeof(name));
	int got = clip_audio_get(j, slot, &a, why, sizeof(why));
	if (got < 0) {
		set_err(err, errlen, "exporting %s: clip %s has no usable audio", name,
			j->s->clips[slot].file);
		return got;
	}
	if (got == 0) {
		fprintf(j->txt, "%-22s skipped: %s\n", name, why);
		add_err(err, errlen, "skipped %s (%s)", name, why);
		j->skipped++;
		return 0;
	}
	int rc = write_clip_file(j->partial, name, &a, j->s->rate, j->f, j->buf);
	session_free_audio(j->copy); /* at most this clip's audio */
	if (rc < 0) {
		set_err(err, errlen, "exporting %s: %s", name, atomic_file_why(-rc));
		return rc;
	}
	write_txt_clip(j->txt, j->s, slot, name, a.frames, a.channels);
	return 0;
}

/* export.txt, written last and flushed. */
static int write_txt(struct job *j, char *err, size_t errlen)
{
	char path[EXPORT_PATH_MAX];
	if (fflush(j->txt) != 0 || ferror(j->txt)) {
		set_err(err, errlen, "exporting %s: %s", EXPORT_TXT, strerror(ENOMEM));
		return -ENOMEM;
	}
	if (join(path, sizeof(path), j->partial, EXPORT_TXT) < 0)
		return -ENAMETOOLONG;
	int rc = 0, fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		rc = -errno_or(EIO);
	for (size_t done = 0; rc == 0 && done < j->txt_len;) {
		ssize_t n = write(fd, j->txt_data + done, j->txt_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = n < 0 ? -errno_or(EIO) : -ENOSPC;
		else
			done += (size_t)n;
	}
	if (fd >= 0 && rc == 0 && fsync(fd) < 0)
		rc = -errno_or(EIO);
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno_or(EIO);
	if (rc < 0)
		set_err(err, errlen, "exporting %s: %s", EXPORT_TXT,
			atomic_file_why(-rc));
	return rc;
}

/* Every present clip, then export.txt, into the partial folder. */
static int export_all(struct job *j, const char *folder, char *err, size_t errlen)
{
	write_txt_head(j->txt, j->s, folder, j->f);
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		if (!j->s->clips[slot].present)
			continue;
		int rc = export_clip(j, slot, err, errlen);
		if (rc < 0)
			return rc;
	}
	return write_txt(j, err, errlen);
}

/* Memory for a job; the copy has no audio of its own yet. */
static int job_open(struct job *j, const struct session *s, const char *session_dir,
		    enum export_format f, const char *partial)
{
	*j = (struct job){.s = s, .session_dir = session_dir, .f = f, .partial = partial};
	j->copy = calloc(1, sizeof(*j->copy)); /* no audio to free yet */
	j->buf = malloc(sizeof(float) * 2 * EXPORT_CHUNK);
	j->txt = open_memstream(&j->txt_data, &j->txt_len);
	if (j->copy == NULL || j->buf == NULL || j->txt == NULL)
		return -ENOMEM;
	memcpy(j->copy, s, sizeof(*s));
	for (int i = 0; i < GL_SLOTS; i++)
		j->copy->clips[i].audio[0] = j->copy->clips[i].audio[1] = NULL;
	return 0;
}

static void job_close(struct job *j)
{
	if (j->copy != NULL)
		session_free_audio(j->copy);
	free(j->copy);
	free(j->buf);
	if (j->txt != NULL)
		fclose(j->txt);
	free(j->txt_data);
}

/* Renames the finished partial folder into place, both on the card. */
static int publish(const char *export_dir, const char *partial, const char *final,
		   char *err, size_t errlen)
{
	int rc = fsync_dir(partial);
	/* Never over another export's folder (one of the same name that
	 * finished first): -EEXIST, and the caller picks the next name. */
	if (rc == 0 &&
	    renameat2(AT_FDCWD, partial, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
		rc = -errno_or(EIO);
		if (rc == -EINVAL) /* a file system without it: a full folder is
				      never replaced by rename either */
			rc = rename(partial, final) < 0 ? -errno_or(EIO) : 0;
		if (rc == -ENOTEMPTY)
			rc = -EEXIST;
		if (rc == -EEXIST)
			return rc;
	}
	if (rc == 0)
		rc = fsync_dir(export_dir);
	if (rc < 0)
		set_err(err, errlen, "finishing export %s: %s", final,
			atomic_file_why(-rc));
	return rc;
}

/* Makes a fresh partial folder: 1 when the name is taken (another export
 * running at the same moment, or one a power cut left: never removed
 * here, it may be another's), 0, or -errno. */
static int make_partial(const char *partial, char *err, size_t errlen)
{
	if (mkdir(partial, 0755) < 0) {
		int e = errno_or(EIO);
		if (e == EEXIST)
			return 1;
		set_err(err, errlen, "export folder %s: %s", partial, atomic_file_why(e));
		return -e;
	}
	return 0;
}

void export_sweep_partials(const char *export_dir)
{
	DIR *d = opendir(export_dir);
	if (d == NULL)
		return;
	struct dirent *e;
	char path[EXPORT_PATH_MAX];
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.' && n > 9 &&
		    strcmp(e->d_name + n - 8, ".partial") == 0 &&
		    join(path, sizeof(path), export_dir, e->d_name) == 0)
			remove_tree(path);
	}
	closedir(d);
}

/* Tells the log about clips that were left out (the caller sees err too). */
static void report_skipped(int skipped, const char *final, const char *err)
{
	if (skipped > 0)
		fprintf(stderr, "export %s: %d clip(s) skipped: %s\n", final, skipped,
			err);
}

/* Refuses what cannot be exported before touching the card. */
static int check_request(const struct session *s, enum export_format f, char *err,
			 size_t errlen)
{
	if (!format_valid(f)) {
		set_err(err, errlen, "export: unknown format");
		return -EINVAL;
	}
	if (s == NULL || s->rate == 0) {
		set_err(err, errlen, "export: no session");
		return -EINVAL;
	}
	if (session_clip_count(s) == 0) {
		set_err(err, errlen, "export: nothing to export (no clips)");
		return -ENODATA;
	}
	return 0;
}

/* EXPORT_DIR/NAME and EXPORT_DIR/.NAME.partial. */
static int folder_paths(const char *export_dir, const char *name, char *final,
			char *partial, size_t len, char *err, size_t errlen)
{
	char partial_name[EXPORT_FOLDER_MAX + 32];
	snprintf(partial_name, sizeof(partial_name), ".%s.partial", name);
	if (join(final, len, export_dir, name) < 0 ||
	    join(partial, len, export_dir, partial_name) < 0) {
		set_err(err, errlen, "export folder %s: %s", export_dir,
			strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	return 0;
}

int export_session(const char *export_dir, const struct session *s,
		   const char *session_dir, enum export_format f, time_t when,
		   char *folder, size_t folderlen, char *err, size_t errlen)
{
	char name[EXPORT_FOLDER_MAX + 16];
	char final[EXPORT_PATH_MAX], partial[EXPORT_PATH_MAX];
	struct job j;
	int rc;

	set_err(err, errlen, "%s", "");
	if ((rc = check_request(s, f, err, errlen)) < 0 ||
	    (rc = prepare_export_dir(export_dir, err, errlen)) < 0)
		return rc;
	/* A name is ours once its partial folder is made (mkdir is atomic):
	 * exports at the same moment take the next ones. */
	int next = 1;
	do {
		if ((rc = pick_folder(export_dir, when, &next, name, sizeof(name), err,
				      errlen)) < 0 ||
		    (rc = folder_paths(export_dir, name, final, partial, sizeof(final),
				       err, errlen)) < 0 ||
		    (rc = make_partial(partial, err, errlen)) < 0)
			return rc;
	} while (rc == 1);

	rc = job_open(&j, s, session_dir, f, partial);
	if (rc < 0)
		set_err(err, errlen, "export: out of memory");
	else
		rc = export_all(&j, name, err, errlen);
	int skipped = j.skipped;
	job_close(&j);
	if (rc == 0)
		rc = publish(export_dir, partial, final, err, errlen);
	/* Another export took the final name meanwhile: ours goes under the
	 * next free one (its partial folder kept until then). */
	while (rc == -EEXIST) {
		char taken[EXPORT_PATH_MAX];
		snprintf(taken, sizeof(taken), "%s", partial);
		rc =
		    pick_folder(export_dir, when, &next, name, sizeof(name), err, errlen);
		if (rc == 0)
			rc = folder_paths(export_dir, name, final, partial, sizeof(final),
					  err, errlen);
		if (rc == 0) {
			snprintf(partial, sizeof(partial), "%s", taken);
			rc = publish(export_dir, partial, final, err, errlen);
		}
		if (rc < 0 && rc != -EEXIST)
			snprintf(partial, sizeof(partial), "%s", taken);
	}
	if (rc < 0) {
		remove_tree(partial);
		return rc;
	}
	report_skipped(skipped, final, err != NULL && errlen > 0 ? err : "");
	if (folder != NULL && folderlen > 0)
		snprintf(folder, folderlen, "%s", final);
	return 0;
}
