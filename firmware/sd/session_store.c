/* session_store.c -- the session directory on the SD card
 * (session_store.h): clip files written once under names never used
 * before, a manifest replaced atomically, and a sweep of whatever a power
 * cut left behind.
 *
 * The rule that makes it power-cut safe: nothing the current manifest
 * lists is ever written or removed. New clips get new files; the manifest
 * switches to them in one rename (atomic_file.c); only then do the files of
 * the old manifest go. Whatever is found at load that no manifest lists
 * (files of a save that never reached its manifest, or of one whose clean-up
 * was cut short) is swept.
 *
 * Reading a clip checks its file against the manifest (rate, channels,
 * length) and converts it to the running rate and channel count. Loops are
 * resampled as loops: the converter sees the end of the clip before its
 * start and the start after its end, so the seam stays clean.
 */
#include "session_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "manifest.h"
#include "sysmem.h"

#define CHUNK_FRAMES                                                                     \
	4096	      /* a piece of a clip on its way to the file (64 KiB of stack)      \
		       */
#define LOOP_PAD 2048 /* frames of wrap-around the resampler sees */

/* ---- messages ----------------------------------------------------------------- */

/* Formats the message into err; returns ret. */
static int say(int ret, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(int ret, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static int track_of(int slot)
{
	return slot % GL_TRACKS + 1;
}

static int scene_of(int slot)
{
	return slot / GL_TRACKS + 1;
}

/* ---- the directory ------------------------------------------------------------ */

static int open_dir(const char *dir)
{
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
}

/* Opens name in dir_fd for reading without ever blocking (a FIFO or a
 * device on the card would hold the thread in open() or read()): regular
 * files only, never through a symlink. The fd, or -1 with errno (EINVAL:
 * not a regular file). */
static int open_regular(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	/* A regular file never blocks; reads then behave as usual. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* "clip-*.wav": the files this store writes and may remove. */
static bool is_clip_file(const char *name)
{
	size_t len = strlen(name);
	return len > 9 && strncmp(name, "clip-", 5) == 0 &&
	       strcmp(name + len - 4, ".wav") == 0;
}

/* The serial of "clip-...-000042.wav", or 0. */
static uint64_t serial_of(const char *name)
{
	if (!is_clip_file(name))
		return 0;
	const char *end = name + strlen(name) - 4, *p = end;
	while (p > name && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (p == end || p[-1] != '-' || end - p > 19)
		return 0;
	return strtoull(p, NULL, 10);
}

/* Whether s lists name (case-insensitively: on a FAT card "A.wav" and
 * "a.wav" are one file, and removing one would remove the other). */
static bool listed(const struct session *s, const char *name)
{
	for (int i = 0; i < GL_SLOTS; i++)
		if (s->clips[i].present && strcasecmp(s->clips[i].file, name) == 0)
			return true;
	return false;
}

/* Walks the entries of dir_fd (which stays open). */
static DIR *list_dir(int dir_fd)
{
	int fd = dup(dir_fd);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return NULL;
	}
	rewinddir(d);
	return d;
}

/* Removes the clip files s does not list (all of them when s is NULL). */
static void remove_unlisted(int dir_fd, const struct session *s)
{
	DIR *d = list_dir(dir_fd);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (is_clip_file(e->d_name) && (!s || !listed(s, e->d_name)))
			unlinkat(dir_fd, e->d_name, 0);
	closedir(d);
}

/* One past the highest serial in dir or in s. */
static uint64_t next_serial(int dir_fd, const struct session *s)
{
	uint64_t top = 0;
	DIR *d = list_dir(dir_fd);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (serial_of(e->d_name) > top)
				top = serial_of(e->d_name);
		closedir(d);
	}
	for (int i = 0; s && i < GL_SLOTS; i++)
		if (s->clips[i].present && serial_of(s->clips[i].file) > top)
			top = serial_of(s->clips[i].file);
	return top + 1;
}

static bool exists_in(int dir_fd, const char *name)
{
	struct stat st;
	return fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* mkdir that is happy when it is there already. */
static int make_dir(const char *path)
{
	return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int session_store_prepare(const char *dir, char *err, size_t errlen)
{
	char shown_dir[128], parent[4096];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	while (slash && slash > parent && slash[1] == '\0') { /* "a/b/" */
		*slash = '\0';
		slash = strrchr(parent, '/');
	}
	/* Only DIR and its parent: a missing grandparent is a card that is not
	 * mounted, and creating it would write to the root filesystem. */
	if (slash && slash > parent) {
		*slash = '\0';
		if (make_dir(parent) != 0)
			goto failed;
	}
	if (make_dir(dir) != 0)
		goto failed;
	struct stat st;
	if (stat(dir, &st) != 0)
		goto failed;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto failed;
	}
	return 0;
failed:;
	int e = errno;
	return say(-e, err, errlen, "cannot create session directory %s: %s",
		   atomic_file_shown(dir, shown_dir, sizeof(shown_dir)),
		   atomic_file_why(e));
}

/* ---- writing clips ------------------------------------------------------------ */

/* The clip's audio as 32-bit float WAV on fd. 0, or an errno. */
/* The source of a clip whose audio is in memory. */
static int64_t from_memory(void *ctx, int channel, int64_t from, float *dst, int64_t n)
{
	const struct session_clip *c = ctx;
	memcpy(dst, c->audio[channel] + from, (size_t)n * sizeof(float));
	return n;
}

static int write_wav(int fd, const struct session_clip *c, uint32_t rate,
		     session_audio_source src, void *ctx, char *why, size_t whylen)
{
	SF_INFO info = {.samplerate = (int)rate,
			.channels = c->channels,
			.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
	errno = 0;
	SNDFILE *sf = sf_open_fd(fd, SFM_WRITE, &info, 0);
	if (!sf) { /* the header is written here: the card may be full */
		int e = errno ? errno : EIO;
		snprintf(why, whylen, "%s",
			 errno ? atomic_file_why(e) : sf_strerror(NULL));
		return e;
	}
	/* No PEAK chunk: the header then never changes after the first write. */
	sf_command(sf, SFC_SET_ADD_PEAK_CHUNK, NULL, SF_FALSE);
	float buf[CHUNK_FRAMES * 2], piece[2][CHUNK_FRAMES];
	int e = 0;
	for (int64_t at = 0; at < c->frames && !e;) {
		int64_t n = c->frames - at < CHUNK_FRAMES ? c->frames - at : CHUNK_FRAMES;
		for (int ch = 0; ch < c->channels && !e; ch++)
			if (src(ctx, ch, at, piece[ch], n) != n)
				e = EAGAIN; /* the audio went away: not an error of the
					       card */
		if (e) {
			snprintf(why, whylen, "the clip changed while it was saved");
			break;
		}
		for (int64_t i = 0; i < n; i++)
			for (int ch = 0; ch < c->channels; ch++)
				buf[i * c->channels + ch] = piece[ch][i];
		errno = 0;
		if (sf_writef_float(sf, buf, n) != n)
			e = errno ? errno : EIO;
		at += n;
	}
	/* The header with the final sizes, now: sf_close would write it too
	 * but cannot say when that fails. */
	errno = 0;
	if (!e && (sf_command(sf, SFC_UPDATE_HEADER_NOW, NULL, 0), sf_error(sf) != 0))
		e = errno ? errno : EIO;
	if (e)
		snprintf(why, whylen, "%s", atomic_file_why(e));
	sf_close(sf);
	return e;
}

/* A name for slot's new file that dir has never had, from *serial on. */
static int fresh_name(const char *dir, int slot, uint64_t *serial, char *name, size_t len)
{
	int dir_fd = open_dir(dir);
	if (dir_fd < 0)
		return -errno;
	if (*serial == 0)
		*serial = 1;
	do
		snprintf(name, len, "clip-t%d-s%02d-%06llu.wav", track_of(slot),
			 scene_of(slot), (unsigned long long)(*serial)++);
	while (exists_in(dir_fd, name));
	close(dir_fd);
	return 0;
}

static bool clip_writable(const struct session_clip *c)
{
	return c->present && (c->channels == 1 || c->channels == 2) && c->frames > 0 &&
	       c->audio[0] && (c->channels == 1 || c->audio[1]);
}

int session_store_write_clip(const char *dir, struct session *s, int slot,
			     uint64_t *serial, char *err, size_t errlen)
{
	if (slot < 0 || slot >= GL_SLOTS || !clip_writable(&s->clips[slot]))
		return say(-EINVAL, err, errlen, "no clip audio to save in slot %d",
			   slot);
	return session_store_write_clip_from(dir, s, slot, from_memory, &s->clips[slot],
					     serial, err, errlen);
}

int session_store_write_clip_from(const char *dir, struct session *s, int slot,
				  session_audio_source src, void *ctx, uint64_t *serial,
				  char *err, size_t errlen)
{
	if (slot < 0 || slot >= GL_SLOTS || !s->clips[slot].present ||
	    s->clips[slot].frames <= 0 ||
	    (s->clips[slot].channels != 1 && s->clips[slot].channels != 2))
		return say(-EINVAL, err, errlen, "no clip to save in slot %d", slot);
	struct session_clip *c = &s->clips[slot];
	char name[SESSION_NAME_MAX], shown_dir[128];
	int r = fresh_name(dir, slot, serial, name, sizeof(name));
	if (r < 0)
		return say(r, err, errlen, "session directory %s: %s",
			   atomic_file_shown(dir, shown_dir, sizeof(shown_dir)),
			   atomic_file_why(r));

	struct atomic_file f;
	r = atomic_file_begin(&f, dir, name, err, errlen);
	if (r < 0)
		return r;
	char why[128];
	int e = write_wav(f.fd, c, s->rate, src, ctx, why, sizeof(why));
	if (e) {
		atomic_file_abort(&f);
		return say(-e, err, errlen, "%s: %s", name, why);
	}
	r = atomic_file_commit(&f, err, errlen);
	if (r < 0)
		return r;
	snprintf(c->file, sizeof(c->file), "%s", name);
	return 0;
}

/* ---- the manifest ------------------------------------------------------------- */

/* Every present clip names a file that is in dir. */
static int check_listed_files(int dir_fd, const struct session *s, char *err,
			      size_t errlen)
{
	char name[64];
	for (int i = 0; i < GL_SLOTS; i++) {
		const struct session_clip *c = &s->clips[i];
		if (!c->present)
			continue;
		if (!manifest_name_ok(c->file))
			return say(-EINVAL, err, errlen,
				   "track %d, scene %d: bad clip file name \"%s\"",
				   track_of(i), scene_of(i),
				   atomic_file_shown(c->file, name, sizeof(name)));
		if (!exists_in(dir_fd, c->file))
			return say(-ENOENT, err, errlen,
				   "%s is not in the session directory (not saved?)",
				   c->file);
	}
	return 0;
}

int session_store_commit(const char *dir, const struct session *s, char *err,
			 size_t errlen)
{
	char shown_dir[128];
	int dir_fd = open_dir(dir);
	if (dir_fd < 0) {
		int e = errno;
		return say(-e, err, errlen, "session directory %s: %s",
			   atomic_file_shown(dir, shown_dir, sizeof(shown_dir)),
			   atomic_file_why(e));
	}
	int r = check_listed_files(dir_fd, s, err, errlen);
	char *text = r == 0 ? manifest_write(s) : NULL;
	if (r == 0 && !text)
		r = say(-ENOMEM, err, errlen, "out of memory writing the manifest");
	if (r == 0)
		r = atomic_file_write(dir, MANIFEST_FILE, text, strlen(text), err,
				      errlen);
	free(text);
	/* Only now, with the new manifest on the card, can old files go. */
	if (r == 0)
		remove_unlisted(dir_fd, s);
	close(dir_fd);
	return r;
}

/* The manifest's text (malloc'ed, *len bytes): 0, 1 when there is none, -1
 * (message in err). */
static int read_manifest(int dir_fd, char **text, size_t *len, char *err, size_t errlen)
{
	int fd = open_regular(dir_fd, MANIFEST_FILE);
	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0 && (errno == EINVAL || errno == ELOOP))
		return say(-1, err, errlen, MANIFEST_FILE " is not a regular file");
	if (fd < 0)
		return say(-1, err, errlen, MANIFEST_FILE ": %s", atomic_file_why(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size > MANIFEST_MAX_SIZE) {
		close(fd);
		return say(-1, err, errlen,
			   MANIFEST_FILE " is too big (%lld bytes, at most %d)",
			   (long long)st.st_size, MANIFEST_MAX_SIZE);
	}
	size_t cap = (size_t)st.st_size, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return say(-1, err, errlen, "out of memory reading " MANIFEST_FILE);
	}
	while (n < cap) { /* a file that shrinks under us ends early */
		ssize_t got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			free(buf);
			close(fd);
			return say(-1, err, errlen, MANIFEST_FILE ": %s",
				   atomic_file_why(e));
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

/* The manifest of dir into s; with tidy, the sweep of temporaries and
 * unlisted clip files too, and *serial (may be NULL without tidy). */
static int load(const char *dir, struct session *s, bool tidy, uint64_t *serial,
		char *err, size_t errlen)
{
	char shown_dir[128];
	int dir_fd = open_dir(dir);
	if (dir_fd < 0) {
		int e = errno;
		atomic_file_shown(dir, shown_dir, sizeof(shown_dir));
		if (e == ENOENT)
			return say(
			    -1, err, errlen,
			    "session directory %s does not exist (SD card not mounted?)",
			    shown_dir);
		return say(-1, err, errlen, "session directory %s: %s", shown_dir,
			   atomic_file_why(e));
	}
	if (tidy)
		atomic_file_sweep(dir);
	char *text = NULL;
	size_t len = 0;
	int r = read_manifest(dir_fd, &text, &len, err, errlen);
	if (r == 0) {
		char why[256];
		if (manifest_parse(text, len, s, why, sizeof(why)) != 0)
			r = say(-1, err, errlen, MANIFEST_FILE ": %s", why);
		free(text);
	}
	/* Unlisted clips go only when a manifest says what is listed: with no
	 * manifest (or a damaged one) nothing is removed. */
	if (r == 0 && tidy)
		remove_unlisted(dir_fd, s);
	if (r >= 0 && serial)
		*serial = next_serial(dir_fd, r == 0 ? s : NULL);
	close(dir_fd);
	return r;
}

int session_store_load(const char *dir, struct session *s, uint64_t *serial, char *err,
		       size_t errlen)
{
	return load(dir, s, true, serial, err, errlen);
}

int session_store_read(const char *dir, struct session *s, char *err, size_t errlen)
{
	return load(dir, s, false, NULL, err, errlen);
}

/* ---- reading clips ------------------------------------------------------------ */

struct audio {
	float *ch[2];
	int channels;
	int64_t frames;
};

static void audio_free(struct audio *a)
{
	free(a->ch[0]);
	free(a->ch[1]);
	a->ch[0] = a->ch[1] = NULL;
}

static bool audio_alloc(struct audio *a, int channels, int64_t frames)
{
	a->channels = channels;
	a->frames = frames;
	a->ch[0] = a->ch[1] = NULL;
	size_t bytes = (size_t)frames * sizeof(float);
	if (frames <= 0 || (uint64_t)frames > SIZE_MAX / sizeof(float))
		return false;
	for (int c = 0; c < channels; c++)
		if (!(a->ch[c] = malloc(bytes))) {
			audio_free(a);
			return false;
		}
	return true;
}

static const char *channels_name(int channels, char *buf, size_t len)
{
	if (channels == 1 || channels == 2)
		return channels == 1 ? "mono" : "stereo";
	snprintf(buf, len, "%d channels", channels);
	return buf;
}

/* Checks an open sound file against the manifest's clip. */
static int check_wav(const SF_INFO *info, const struct session *s,
		     const struct session_clip *c, char *err, size_t errlen)
{
	if ((uint32_t)info->samplerate != s->rate)
		return say(-1, err, errlen, "%s: %d Hz, the manifest says %u Hz", c->file,
			   info->samplerate, s->rate);
	if (info->channels != c->channels) {
		char file_has[32], manifest_has[32];
		return say(
		    -1, err, errlen, "%s: %s, the manifest says %s", c->file,
		    channels_name(info->channels, file_has, sizeof(file_has)),
		    channels_name(c->channels, manifest_has, sizeof(manifest_has)));
	}
	if (info->frames != c->frames)
		return say(
		    -1, err, errlen, "%s: %lld frames, the manifest says %lld (%s)",
		    c->file, (long long)info->frames, (long long)c->frames,
		    info->frames < c->frames ? "file cut short?" : "not its file?");
	return 0;
}

/* Every frame of sf into a, separating the channels. */
static int read_frames(SNDFILE *sf, struct audio *a, const char *file, char *err,
		       size_t errlen)
{
	float buf[CHUNK_FRAMES * 2];
	for (int64_t at = 0; at < a->frames;) {
		int64_t n = a->frames - at < CHUNK_FRAMES ? a->frames - at : CHUNK_FRAMES;
		sf_count_t got = sf_readf_float(sf, buf, n);
		if (got != n)
			return say(-1, err, errlen, "%s: cut short at frame %lld (%s)",
				   file, (long long)(at + (got > 0 ? got : 0)),
				   sf_strerror(sf));
		for (int64_t i = 0; i < n; i++)
			for (int ch = 0; ch < a->channels; ch++)
				a->ch[ch][at + i] = buf[i * a->channels + ch];
		at += n;
	}
	return 0;
}

/* Whether bytes more can be had; else -1 with a message naming the file,
 * the MB needed and the MB available. */
static int check_memory(const char *file, double bytes, char *err, size_t errlen)
{
	/* MemAvailable and the cgroup's room; a restored take is locked only
	 * as far as RLIMIT_MEMLOCK lets the keeper, which copes itself. */
	struct sysmem_room room;
	sysmem_read("", false, &room);
	uint64_t avail = sysmem_least(&room);
	if (bytes <= (double)avail)
		return 0;
	return say(-1, err, errlen, "%s: needs %.0f MB of memory, %llu MB available",
		   file, bytes / 1048576.0, (unsigned long long)(avail >> 20));
}

/* Opens the clip's file and checks it against the manifest. 0 with *sf and
 * *fd open, or -1 (message in err). */
static int open_clip(const char *dir, const struct session *s,
		     const struct session_clip *c, SNDFILE **sf, int *fd, char *err,
		     size_t errlen)
{
	int dir_fd = open_dir(dir);
	*fd = -1;
	if (dir_fd >= 0) {
		*fd = open_regular(dir_fd, c->file);
		int e = errno;
		close(dir_fd);
		errno = e;
	}
	if (*fd < 0 && errno == ENOENT)
		return say(-1, err, errlen, "%s is missing from the session directory",
			   c->file);
	if (*fd < 0 && (errno == EINVAL || errno == ELOOP))
		return say(-1, err, errlen,
			   "%s is not a regular file (a link, folder, pipe or device)",
			   c->file);
	if (*fd < 0)
		return say(-1, err, errlen, "%s: %s", c->file, atomic_file_why(errno));
	SF_INFO info;
	memset(&info, 0, sizeof(info));
	*sf = sf_open_fd(*fd, SFM_READ, &info, 0);
	if (!*sf) {
		close(*fd);
		return say(-1, err, errlen, "%s: not a sound file gridloop can read (%s)",
			   c->file, sf_strerror(NULL));
	}
	if (check_wav(&info, s, c, err, errlen)) {
		sf_close(*sf);
		close(*fd);
		return -1;
	}
	return 0;
}

/* The clip's file, as it is, into a (allocated here). */
static int read_wav(const char *dir, const struct session *s,
		    const struct session_clip *c, struct audio *a, char *err,
		    size_t errlen)
{
	SNDFILE *sf;
	int fd;
	if (open_clip(dir, s, c, &sf, &fd, err, errlen))
		return -1;
	/* The file's own length (checked against the manifest in open_clip)
	 * bounds what is allocated, and it must fit what memory is left. */
	int r = check_memory(c->file, (double)c->frames * c->channels * sizeof(float),
			     err, errlen);
	if (r == 0 && !audio_alloc(a, c->channels, c->frames))
		r = say(-1, err, errlen, "%s: out of memory (%lld frames)", c->file,
			(long long)c->frames);
	if (r == 0 && (r = read_frames(sf, a, c->file, err, errlen)) != 0)
		audio_free(a);
	sf_close(sf);
	close(fd);
	return r;
}

/* A clip that can be read: in the session, named as a manifest may name
 * it (checked again here: never a path). 0 or -1 (message in err). */
static int clip_to_read(const struct session *s, int slot, char *err, size_t errlen)
{
	if (slot < 0 || slot >= GL_SLOTS || !s->clips[slot].present)
		return say(-1, err, errlen, "slot %d has no clip", slot);
	const char *file = s->clips[slot].file;
	char name[64];
	if (!manifest_name_ok(file) || strchr(file, '/'))
		return say(-1, err, errlen,
			   "track %d, scene %d: bad clip file name \"%s\"",
			   track_of(slot), scene_of(slot),
			   atomic_file_shown(file, name, sizeof(name)));
	return 0;
}

int session_store_check_clip(const char *dir, const struct session *s, int slot,
			     uint32_t rate, int channels, char *err, size_t errlen)
{
	if (clip_to_read(s, slot, err, errlen))
		return -1;
	const struct session_clip *c = &s->clips[slot];
	if (rate == 0 || s->rate == 0 || (channels != 1 && channels != 2))
		return say(-1, err, errlen, "%s: cannot read at %u Hz, %d channels",
			   c->file, rate, channels);
	SNDFILE *sf;
	int fd;
	if (open_clip(dir, s, c, &sf, &fd, err, errlen))
		return -1;
	sf_close(sf);
	close(fd);
	/* The take at the engine's rate, and for another rate the whole file
	 * and the converter's buffers (resample_loop) besides. */
	double out = (double)c->frames * rate / s->rate * channels * sizeof(float);
	double bytes = out;
	if (rate != s->rate)
		bytes +=
		    (double)(c->frames + 2 * LOOP_PAD) * c->channels * sizeof(float) +
		    2 * out;
	return check_memory(c->file, bytes, err, errlen);
}

int session_store_stream_clip(const char *dir, const struct session *s, int slot,
			      int channels, session_audio_sink sink, void *ctx, char *err,
			      size_t errlen)
{
	if (clip_to_read(s, slot, err, errlen))
		return -1;
	const struct session_clip *c = &s->clips[slot];
	if (channels != 1 && channels != 2)
		return say(-1, err, errlen, "%s: cannot read as %d channels", c->file,
			   channels);
	SNDFILE *sf;
	int fd;
	if (open_clip(dir, s, c, &sf, &fd, err, errlen))
		return -1;
	float buf[CHUNK_FRAMES * 2], piece[2][CHUNK_FRAMES];
	int r = 0, in = c->channels;
	for (int64_t at = 0; at < c->frames && r == 0;) {
		int64_t n = c->frames - at < CHUNK_FRAMES ? c->frames - at : CHUNK_FRAMES;
		sf_count_t got = sf_readf_float(sf, buf, n);
		if (got != n) {
			r = say(-1, err, errlen, "%s: cut short at frame %lld (%s)",
				c->file, (long long)(at + (got > 0 ? got : 0)),
				sf_strerror(sf));
			break;
		}
		/* Channels as the track takes them: mono to both sides, stereo to
		 * their average (as session_store_read_clip). */
		for (int64_t i = 0; i < n; i++) {
			float l = buf[i * in], rr = in == 2 ? buf[i * in + 1] : l;
			if (channels == 1) {
				piece[0][i] = in == 2 ? 0.5f * (l + rr) : l;
			} else {
				piece[0][i] = l;
				piece[1][i] = rr;
			}
		}
		for (int ch = 0; ch < channels; ch++)
			sink(ctx, ch, at, piece[ch], n);
		at += n;
	}
	sf_close(sf);
	close(fd);
	return r;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* One channel of a loop from rate `from` to `to`, exactly out_frames long
 * (malloc'ed; NULL when out of memory or the converter fails). The input is
 * wrapped around by `pad` frames on both sides, a whole number of output
 * frames, so output frame i is input time i * from / to with no shift;
 * stretch: out_frames is not the rate's own length (resample). */
static float *resample_loop(const float *in, int64_t frames, uint32_t from, uint32_t to,
			    int64_t out_frames, bool stretch)
{
	int64_t pad, pad_out;
	double ratio;
	if (stretch) {
		/* The loop onto exactly out_frames (a few frames from the
		 * rate's own length: whole cycles); the start shifts by less
		 * than one output frame. */
		pad = LOOP_PAD;
		ratio = (double)out_frames / (double)frames;
		pad_out = llround((double)pad * ratio);
	} else {
		/* input frames per whole output frame */
		uint64_t step = from / gcd(from, to);
		pad = (int64_t)(step * ((LOOP_PAD + step - 1) / step));
		ratio = (double)to / from;
		pad_out = pad * (int64_t)to / (int64_t)from;
	}
	int64_t ext = frames + 2 * pad;
	int64_t ext_out = llround((double)ext * ratio) + 64;
	float *wrapped = malloc((size_t)ext * sizeof(float));
	float *conv = malloc((size_t)ext_out * sizeof(float));
	float *out = malloc((size_t)out_frames * sizeof(float));
	if (!wrapped || !conv || !out)
		goto failed;
	for (int64_t k = 0; k < ext; k++)
		wrapped[k] = in[((k - pad) % frames + frames) % frames];
	SRC_DATA d = {.data_in = wrapped,
		      .data_out = conv,
		      .input_frames = (long)ext,
		      .output_frames = (long)ext_out,
		      .src_ratio = ratio};
	if (src_simple(&d, SRC_SINC_BEST_QUALITY, 1) != 0 || d.output_frames_gen <= 0)
		goto failed;
	/* Exact length: the converter may give a frame less at the very end. */
	for (int64_t i = 0; i < out_frames; i++) {
		int64_t k = pad_out + i;
		out[i] = conv[k < d.output_frames_gen ? k : d.output_frames_gen - 1];
	}
	free(wrapped);
	free(conv);
	return out;
failed:
	free(wrapped);
	free(conv);
	free(out);
	return NULL;
}

/* cycles: the loop is that many whole cycles (a multiplied or inserted
 * take), and stays so: its converted length a multiple of it. */
static int resample(struct audio *a, uint32_t from, uint32_t to, int64_t cycles)
{
	int64_t out_frames = llround((double)a->frames * to / from);
	bool stretch = false;
	if (cycles > 1 && out_frames % cycles) {
		out_frames = cycles * llround((double)out_frames / (double)cycles);
		stretch = true;
	}
	if (out_frames < 1)
		out_frames = 1;
	for (int c = 0; c < a->channels; c++) {
		float *out =
		    resample_loop(a->ch[c], a->frames, from, to, out_frames, stretch);
		if (!out)
			return -1;
		free(a->ch[c]);
		a->ch[c] = out;
	}
	a->frames = out_frames;
	return 0;
}

/* Stereo to mono: the average of both sides. */
static void to_mono(struct audio *a)
{
	for (int64_t i = 0; i < a->frames; i++)
		a->ch[0][i] = 0.5f * (a->ch[0][i] + a->ch[1][i]);
	free(a->ch[1]);
	a->ch[1] = NULL;
	a->channels = 1;
}

/* Mono to stereo: the same on both sides. */
static int to_stereo(struct audio *a)
{
	a->ch[1] = malloc((size_t)a->frames * sizeof(float));
	if (!a->ch[1])
		return -1;
	memcpy(a->ch[1], a->ch[0], (size_t)a->frames * sizeof(float));
	a->channels = 2;
	return 0;
}

/* A converted clip's cycle and seams, at its new length (frames, whole
 * cycles): the cycle its share of the length; each seam where its time now
 * is, dropped if it lands on a cycle line or on the seam before it. */
static void scale_cycle(struct session_clip *c, int64_t old_frames, int64_t cycles)
{
	c->cycle = cycles > 1 ? c->frames / cycles : 0;
	int n = 0;
	for (int i = 0; i < c->nseams; i++) {
		int64_t x =
		    llround((double)c->seams[i] * (double)c->frames / (double)old_frames);
		if (x <= 0 || x >= c->frames || (c->cycle && x % c->cycle == 0) ||
		    (n && x <= c->seams[n - 1]))
			continue;
		c->seams[n++] = x;
	}
	c->nseams = n;
}

int session_store_read_clip(const char *dir, struct session *s, int slot, uint32_t rate,
			    int channels, char *err, size_t errlen)
{
	if (clip_to_read(s, slot, err, errlen))
		return -1;
	struct session_clip *c = &s->clips[slot];
	if (rate == 0 || s->rate == 0 || (channels != 1 && channels != 2))
		return say(-1, err, errlen, "%s: cannot read at %u Hz, %d channels",
			   c->file, rate, channels);

	struct audio a;
	if (read_wav(dir, s, c, &a, err, errlen) != 0)
		return -1;
	if (channels < a.channels)
		to_mono(&a); /* before resampling: half the work */
	const int64_t file_frames = a.frames;
	const int64_t cycles =
	    c->cycle > 0 && file_frames % c->cycle == 0 ? file_frames / c->cycle : 1;
	if ((rate != s->rate && resample(&a, s->rate, rate, cycles) != 0) ||
	    (channels > a.channels && to_stereo(&a) != 0)) {
		audio_free(&a);
		return say(-1, err, errlen, "%s: out of memory converting it", c->file);
	}
	free(c->audio[0]);
	free(c->audio[1]);
	c->audio[0] = a.ch[0];
	c->audio[1] = a.ch[1];
	c->channels = a.channels;
	c->frames = a.frames;
	if (a.frames != file_frames)
		scale_cycle(c, file_frames, cycles);
	return 0;
}

int session_store_check_mount(const char *mount_point, char *err, size_t errlen)
{
	char parent[4096], shown_dir[128];
	struct stat here, up;
	snprintf(parent, sizeof(parent), "%s/..", mount_point);
	if (stat(mount_point, &here) || stat(parent, &up))
		return say(-1, err, errlen,
			   "the SD card's data partition is not mounted at %s (%s)",
			   atomic_file_shown(mount_point, shown_dir, sizeof(shown_dir)),
			   strerror(errno));
	if (here.st_dev == up.st_dev && here.st_ino != up.st_ino)
		return say(
		    -1, err, errlen,
		    "the SD card's data partition is not mounted at %s: nothing is "
		    "written there",
		    atomic_file_shown(mount_point, shown_dir, sizeof(shown_dir)));
	return 0;
}

void session_store_clean_path(char *path)
{
	if (!path || !*path)
		return;
	bool absolute = path[0] == '/';
	char *out = path, *in = path;
	while (*in) {
		while (*in == '/')
			in++;
		size_t n = strcspn(in, "/");
		if (n == 0)
			break;
		if (!(n == 1 && in[0] == '.')) { /* "." says nothing */
			if (out > path || absolute)
				*out++ = '/';
			memmove(out, in, n);
			out += n;
		}
		in += n;
	}
	if (out == path)
		*out++ = absolute ? '/' : '.';
	*out = '\0';
}

/* Moves the session's own files (the manifest and the clip files) from
 * dir into a new folder inside it, when dir itself cannot be renamed (a
 * mount point: EBUSY): same file system, so nothing is copied. 0 or -1
 * (errno set). */
static int set_aside_inside(const char *dir, const char *sub)
{
	int dir_fd = open_dir(dir);
	if (dir_fd < 0)
		return -1;
	int r = mkdirat(dir_fd, sub, 0755);
	DIR *d = r == 0 ? list_dir(dir_fd) : NULL;
	if (!d) {
		int e = errno;
		close(dir_fd);
		errno = e;
		return -1;
	}
	int sub_fd = openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct dirent *e;
	/* The manifest last: until it goes, the next start sees the old
	 * session (and tries again) rather than half of one. */
	while (sub_fd >= 0 && r == 0 && (e = readdir(d)) != NULL)
		if (is_clip_file(e->d_name))
			r = renameat(dir_fd, e->d_name, sub_fd, e->d_name);
	if (sub_fd >= 0 && r == 0 && exists_in(dir_fd, MANIFEST_FILE))
		r = renameat(dir_fd, MANIFEST_FILE, sub_fd, MANIFEST_FILE);
	int err = errno;
	if (sub_fd >= 0) {
		fsync(sub_fd);
		close(sub_fd);
	} else {
		r = -1;
	}
	fsync(dir_fd);
	closedir(d);
	close(dir_fd);
	errno = err;
	return r;
}

int session_store_aside_name(const char *dir, const char *why, char *aside, size_t len)
{
	char stamp[32], clean[4096];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d_%H%M%S", &tm);
	snprintf(clean, sizeof(clean), "%s", dir);
	session_store_clean_path(clean); /* "dir/" cannot be renamed to "dir/.x" */
	/* Two in one second (restarts) get -2, -3...: never onto another. */
	struct stat st;
	int n = 1, w;
	do
		w = snprintf(aside, len, n == 1 ? "%s.%s-%s" : "%s.%s-%s-%d", clean, why,
			     stamp, n);
	while (w >= 0 && (size_t)w < len && lstat(aside, &st) == 0 && ++n < 100);
	return w < 0 || (size_t)w >= len ? -1 : 0;
}

int session_store_set_aside_as(const char *dir, char *aside, size_t len)
{
	char clean[4096], sub[96];
	snprintf(clean, sizeof(clean), "%s", dir);
	session_store_clean_path(clean);
	size_t n = strlen(clean);
	if (strncmp(aside, clean, n) || aside[n] != '.' || !aside[n + 1]) {
		fprintf(stderr,
			"gridloop: cannot set %s aside as %s: not a name beside it\n",
			clean, aside);
		return -1;
	}
	if (rename(clean, aside) == 0)
		return 0;
	int e = errno;
	snprintf(sub, sizeof(sub), "%s", aside + n + 1);
	if (set_aside_inside(clean, sub) == 0) {
		fprintf(
		    stderr,
		    "gridloop: cannot rename %s (%s): its session is moved into %s/%s "
		    "instead\n",
		    clean, strerror(e), clean, sub);
		snprintf(aside, len, "%s/%s", clean, sub);
		return 0;
	}
	fprintf(
	    stderr,
	    "gridloop: cannot set the session in %s aside (rename: %s; into %s: %s)\n",
	    clean, strerror(e), sub, strerror(errno));
	return -1;
}

int session_store_set_aside(const char *dir, const char *why, char *aside, size_t len)
{
	if (session_store_aside_name(dir, why, aside, len)) {
		fprintf(stderr, "gridloop: cannot set %s aside: its path is too long\n",
			dir);
		return -1;
	}
	return session_store_set_aside_as(dir, aside, len);
}

/* ---- the instance lock -------------------------------------------------------- */

int session_store_beside(const char *dir, const char *suffix, char *out, size_t len)
{
	char clean[4096];
	snprintf(clean, sizeof(clean), "%s", dir);
	session_store_clean_path(clean);
	char *slash = strrchr(clean, '/');
	const char *base = slash ? slash + 1 : clean;
	int n;
	if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
		n = snprintf(out, len, "%s/.gridloop%s", clean, suffix);
	else if (!slash)
		n = snprintf(out, len, ".%s%s", base, suffix);
	else if (slash == clean)
		n = snprintf(out, len, "/.%s%s", base, suffix);
	else
		n = snprintf(out, len, "%.*s/.%s%s", (int)(slash - clean), clean, base,
			     suffix);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int session_store_lock(const char *dir, bool shared, pid_t *holder, char *err,
		       size_t errlen)
{
	char path[4200], shown[128];
	*holder = 0;
	if (session_store_beside(dir, ".lock", path, sizeof(path)))
		return say(-2, err, errlen, "session directory path too long");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0 && (errno == EROFS || errno == EACCES)) {
		/* A card that cannot be written may still hold a lock file to
		   read; when it holds none, why it cannot be written is the
		   news, not that the file is missing. */
		int first = errno;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0 && errno == ENOENT)
			errno = first;
	}
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
		errno = EINVAL;
	}
	if (fd < 0) {
		int e = errno;
		return say(-2, err, errlen, "cannot lock the session directory (%s): %s",
			   atomic_file_shown(path, shown, sizeof(shown)),
			   e == EINVAL ? "not a regular file" : atomic_file_why(e));
	}
	if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
		int e = errno;
		char text[32] = "";
		ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
		text[n > 0 ? n : 0] = '\0';
		long pid = strtol(text, NULL, 10);
		*holder = pid > 0 ? (pid_t)pid : 0;
		close(fd);
		if (e == EWOULDBLOCK)
			return say(-1, err, errlen,
				   "session directory %s is in use%s%.0ld",
				   atomic_file_shown(dir, shown, sizeof(shown)),
				   *holder ? " by pid " : "", (long)*holder);
		return say(-2, err, errlen, "cannot lock the session directory: %s",
			   strerror(e));
	}
	if (!shared) { /* who holds it, for the message of the next one */
		char text[32];
		int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)n, 0) == n)
			fdatasync(fd);
	}
	return fd;
}
