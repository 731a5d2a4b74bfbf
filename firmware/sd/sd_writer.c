/* sd_writer.c -- the SD writer thread (see sd_writer.h): follows the engine's
 * events, copies final clips out of the keeper's memory and saves the
 * session, coalesced; exports on request; a card fault is reported once and
 * retried, never passed on to the audio.
 */
#include "sd_writer.h"

#include "atomic_file.h"
#include "thread.h"
#include "log_line.h"
#include "manifest.h"
#include "mono_clock.h"
#include "session_store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_CAPACITY 4096

struct sd_writer {
	struct sd_writer_config cfg;
	char *session_dir, *export_dir, *mount_point;
	char *conversion_marker; /* NULL: none, or removed */
	struct session sess;	 /* what the card holds, plus what is being saved */
	uint64_t serial;

	/* Where the engine's clips stand, from its events. */
	uint8_t state[GL_SLOTS];
	bool dirty[GL_SLOTS];
	bool muted[GL_SLOTS];	 /* each clip's own mute and direction, as the */
	bool reversed[GL_SLOTS]; /* engine has them */
	double speed[GL_SLOTS];	 /* 0: as recorded */
	/* The session's entry for the slot is audio this instance holds in
	 * the engine: it restored it or saved it itself. Only such an entry
	 * goes when the slot empties (a clear). One it does not hold (not
	 * restored yet, or skipped by the restore: too big, a bad file) is
	 * never dropped: an empty slot then only means the restore has not
	 * filled it, and a take recorded over it keeps the old file in
	 * EXPORT_DIR/not-restored/ first (keep_not_restored). */
	bool held[GL_SLOTS];
	/* The entry is still the one on the card at start (on_card): the one
	 * the restore reads and offers. */
	bool from_card[GL_SLOTS];
	/* A rate conversion's marker goes only once the session on the card
	 * holds what the conversion restored (cfg.conversion_marker): the
	 * offers the loader made (-1: not all made yet), the engine's
	 * answers seen, the slots whose taken clip no commit holds yet
	 * (owed), and those written since the last commit (written). */
	atomic_int handed_over;
	int answers;
	bool owed[GL_SLOTS], written[GL_SLOTS];
	bool settings_dirty;
	/* A commit failed after clips were written: their slots are not
	 * dirty any more, but the manifest on the card does not list them
	 * yet, so the commit is owed (retried as a change). */
	bool uncommitted;
	int64_t first_change_ms, last_change_ms; /* 0: nothing unsaved */
	/* A take or a pass finished: saved this soon, not after the quiet
	 * time (an overdub begun meanwhile would keep it off the card until
	 * that pass ends: the version is odd while it runs). 0: none. */
	int64_t finished_due_ms;
	bool save_asked, export_asked;
	atomic_bool export_signalled;

	struct fanout events;
	pthread_t thread;
	atomic_bool running;
	bool started;

	atomic_int status;
	int64_t status_until_ms; /* STORAGE_EXPORTED goes back to idle then */
	bool fault;
	bool stopping; /* the last save: nothing is retried after it */
	int64_t retry_at_ms;
	char last_fault[256];

	pthread_mutex_t stats_lock;
	struct sd_writer_stats stats;
};

static int64_t mono_ms(void)
{
	return mono_ns() / 1000000;
}

void sd_writer_config_defaults(struct sd_writer_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->export_format = EXPORT_WAV24;
	cfg->quiet_ms = 1500;
	cfg->max_delay_ms = 10000;
	cfg->retry_ms = 5000;
	cfg->export_shown_ms = 3000;
}

struct sd_writer *sd_writer_create(const struct sd_writer_config *cfg)
{
	struct sd_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->cfg = *cfg;
	w->session_dir = strdup(cfg->session_dir);
	w->mount_point = cfg->mount_point ? strdup(cfg->mount_point) : NULL;
	w->export_dir = strdup(cfg->export_dir);
	w->conversion_marker =
	    cfg->conversion_marker ? strdup(cfg->conversion_marker) : NULL;
	if (!w->session_dir || !w->export_dir || (cfg->mount_point && !w->mount_point) ||
	    (cfg->conversion_marker && !w->conversion_marker) ||
	    fanout_init(&w->events, EVENTS_CAPACITY)) {
		free(w->session_dir);
		free(w->export_dir);
		free(w->mount_point);
		free(w->conversion_marker);
		free(w);
		return NULL;
	}
	const struct engine_config *ec = engine_config(cfg->engine);
	if (cfg->on_card) {
		w->sess = *cfg->on_card;
		/* A session saved before any tempo was known: the engine
		 * plays at the configured one (the restore sends none), so
		 * its takes are saved under that. */
		if (w->sess.tempo <= 0)
			w->sess.tempo = ec->tempo;
	} else {
		session_init_settings(&w->sess, ec);
	}
	for (int s = 0; s < GL_SLOTS; s++) {
		w->sess.clips[s].audio[0] = w->sess.clips[s].audio[1] = NULL;
		w->from_card[s] = w->sess.clips[s].present;
	}
	w->serial = cfg->serial;
	w->cfg.on_card = NULL;
	w->cfg.session_dir = w->session_dir;
	w->cfg.export_dir = w->export_dir;
	w->cfg.mount_point = w->mount_point;
	w->cfg.conversion_marker = NULL; /* w->conversion_marker's */
	atomic_init(&w->handed_over, -1);
	pthread_mutex_init(&w->stats_lock, NULL);
	atomic_init(&w->status, STORAGE_IDLE);
	return w;
}

struct fanout *sd_writer_events(struct sd_writer *w)
{
	return &w->events;
}

void sd_writer_request_export(struct sd_writer *w)
{
	atomic_store(&w->export_signalled, true);
	fanout_wake(&w->events);
}

void sd_writer_restore_complete(struct sd_writer *w, int offered)
{
	atomic_store_explicit(&w->handed_over, offered, memory_order_release);
	fanout_wake(&w->events);
}

/* The conversion's marker goes once every offer was answered and no clip
 * taken is still owed to a commit (sd_writer_config.conversion_marker). */
static void finish_conversion(struct sd_writer *w)
{
	if (!w->conversion_marker)
		return;
	int offered = atomic_load_explicit(&w->handed_over, memory_order_acquire);
	if (offered < 0 || w->answers < offered)
		return;
	for (int s = 0; s < GL_SLOTS; s++)
		if (w->owed[s])
			return;
	if (unlink(w->conversion_marker) == 0 || errno == ENOENT)
		log_line("the rate conversion is complete: the session holds every clip "
			 "it restored");
	else /* the next start finds nothing left to convert, and removes it */
		log_line("cannot remove %s: %s", w->conversion_marker,
			 atomic_file_why(errno));
	free(w->conversion_marker);
	w->conversion_marker = NULL;
}

enum storage_status sd_writer_status(const struct sd_writer *w)
{
	return (enum storage_status)atomic_load(&w->status);
}

void sd_writer_get_stats(struct sd_writer *w, struct sd_writer_stats *st)
{
	pthread_mutex_lock(&w->stats_lock);
	*st = w->stats;
	pthread_mutex_unlock(&w->stats_lock);
}

#define STAT_ADD(w, field, n)                                                            \
	do {                                                                             \
		pthread_mutex_lock(&(w)->stats_lock);                                    \
		(w)->stats.field += (n);                                                 \
		pthread_mutex_unlock(&(w)->stats_lock);                                  \
	} while (0)

/* ---- following the engine --------------------------------------------- */

static void changed(struct sd_writer *w)
{
	int64_t now = mono_ms();
	if (!w->first_change_ms)
		w->first_change_ms = now;
	w->last_change_ms = now;
}

#define COPY_BLOCK 65536
/* A finished take is saved this soon (takes ending on the same bar line
 * go in one save); the quiet time is for the rest (volumes, mutes). */
#define FINISHED_SAVE_MS 100

/* A message into err (cut to fit: paths are long). */
static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Copies the regular file `from` to DIR/NAME, atomically (atomic_file.h):
 * for a card whose file system has no hard links (FAT), or an export
 * directory on another one. 0, or -errno with a message in err. */
static int copy_file(const char *from, const char *dir, const char *name, char *err,
		     size_t errlen)
{
	struct atomic_file f;
	char *buf = NULL;
	int in = open(from, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), rc = 0;
	struct stat st;
	if (in < 0 || fstat(in, &st)) {
		rc = -errno;
		say(err, errlen, "%s: %s", from, atomic_file_why(-rc));
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) { /* never block on a FIFO, never copy a device */
		rc = -EINVAL;
		say(err, errlen, "%s: not a regular file", from);
		goto cleanup;
	}
	buf = malloc(COPY_BLOCK);
	if (!buf) {
		rc = -ENOMEM;
		say(err, errlen, "out of memory");
		goto cleanup;
	}
	rc = atomic_file_begin(&f, dir, name, err, errlen);
	if (rc)
		goto cleanup;
	for (;;) {
		ssize_t n = read(in, buf, COPY_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0) {
				rc = -errno;
				say(err, errlen, "%s: %s", from, atomic_file_why(-rc));
			}
			break;
		}
		for (ssize_t done = 0; done < n && !rc;) {
			ssize_t m = write(f.fd, buf + done, (size_t)(n - done));
			if (m < 0 && errno == EINTR)
				continue;
			if (m < 0) {
				rc = -errno;
				say(err, errlen, "%s/%s: %s", dir, name,
				    atomic_file_why(-rc));
			} else {
				done += m;
			}
		}
		if (rc)
			break;
	}
	if (rc)
		atomic_file_abort(&f);
	else
		rc = atomic_file_commit(&f, err, errlen);
cleanup:
	if (in >= 0)
		close(in);
	free(buf);
	return rc;
}

/* A saved clip that this instance does not hold (not restored, or not yet)
 * and that a new take on its pad is about to replace in the session: the
 * commit would remove its file, so it gets a second name first,
 * EXPORT_DIR/not-restored/, and stays on the card (a hard link: nothing is
 * copied, and it survives the old name going; a copy where there are no
 * hard links). 0, or -1 with the reason in err: then the save must not
 * replace it. */
/* Whether the regular files a and b hold the same bytes (an earlier copy
 * of a, made by a save that was then retried). */
static bool same_bytes(const char *a, const char *b)
{
	bool same = false;
	char x[4096], y[4096];
	int fa = open(a, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	int fb = open(b, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	struct stat sa, sb;
	if (fa < 0 || fb < 0 || fstat(fa, &sa) || fstat(fb, &sb) ||
	    !S_ISREG(sa.st_mode) || !S_ISREG(sb.st_mode) || sa.st_size != sb.st_size)
		goto cleanup;
	for (;;) {
		ssize_t n = read(fa, x, sizeof(x));
		if (n <= 0) {
			same = n == 0;
			break;
		}
		if (read(fb, y, (size_t)n) != n || memcmp(x, y, (size_t)n))
			break;
	}
cleanup:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

/* The name under which `from` (the session's `file`) is kept in dir: the
 * file's own, or, when dir holds another clip of that name (a session
 * converted to another rate starts its serials again, so names come back),
 * NAME.2.wav, NAME.3.wav, ...: a kept clip is never replaced by another.
 * 1: already kept under *name (the same file, or the same bytes: a save
 * retried); 0: *name is free; -1: no free name. */
static int kept_name(const char *dir, const char *file, const char *from, char *name,
		     size_t namelen)
{
	struct stat sf, st;
	bool have_from = stat(from, &sf) == 0;
	size_t stem = strlen(file);
	if (stem > 4 && strcmp(file + stem - 4, ".wav") == 0)
		stem -= 4;
	for (int n = 1; n <= 999; n++) {
		if (n == 1)
			snprintf(name, namelen, "%s", file);
		else
			snprintf(name, namelen, "%.*s.%d.wav", (int)stem, file, n);
		char path[1500];
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (lstat(path, &st) != 0)
			return errno == ENOENT ? 0 : -1;
		if (have_from && ((st.st_dev == sf.st_dev && st.st_ino == sf.st_ino) ||
				  same_bytes(from, path)))
			return 1;
	}
	return -1;
}

static int keep_not_restored(struct sd_writer *w, int slot, char *err, size_t errlen)
{
	const struct session_clip *c = &w->sess.clips[slot];
	char dir[1100], from[1200], to[1500], why[600], name[300];
	snprintf(dir, sizeof(dir), "%s/not-restored", w->export_dir);
	(void)mkdir(w->export_dir, 0755); /* else link() says why */
	(void)mkdir(dir, 0755);
	snprintf(from, sizeof(from), "%s/%s", w->session_dir, c->file);
	struct stat st;
	if (lstat(from, &st) != 0 && errno == ENOENT) {
		/* A missing file the restore skipped: nothing to keep. */
		log_line("track %d scene %d: the saved clip %s, not restored, is not in "
			 "%s either; the new take replaces its entry",
			 slot % GL_TRACKS + 1, slot / GL_TRACKS + 1, c->file,
			 w->session_dir);
		return 0;
	}
	int rc = 0;
	int kept = kept_name(dir, c->file, from, name, sizeof(name));
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	if (kept < 0) {
		rc = -EEXIST;
		say(why, sizeof(why), "no free name for it there");
	} else if (kept == 0 && link(from, to)) {
		rc = -errno;
		/* No hard links here (FAT), or another file system: a copy. */
		if (rc == -EXDEV || rc == -EPERM || rc == -EOPNOTSUPP || rc == -EMLINK)
			rc = copy_file(from, dir, name, why, sizeof(why));
		else
			say(why, sizeof(why), "%s", atomic_file_why(-rc));
	}
	if (rc) {
		say(err, errlen,
		    "track %d scene %d: the saved clip %s (not restored) cannot be kept "
		    "as %s before the new take replaces it: %s",
		    slot % GL_TRACKS + 1, slot / GL_TRACKS + 1, c->file, to, why);
		return -1;
	}
	log_line("track %d scene %d: the saved clip was not restored (recorded over); "
		 "it is kept as %s",
		 slot % GL_TRACKS + 1, slot / GL_TRACKS + 1, to);
	return 0;
}

static void set_setting(struct sd_writer *w, const struct event *ev)
{
	double v = (double)ev->value / 1e6;
	struct session *s = &w->sess;
	int t = ev->track % GL_TRACKS;
	bool moved = true;
	switch (ev->aux) {
	case CMD_CLIP_MUTE: {
		/* A take's own: saved with its entry (a new take starts
		 * unmuted, EV_RECORD_DONE). */
		int slot = (ev->scene % GL_SCENES) * GL_TRACKS + t;
		w->muted[slot] = v != 0;
		struct session_clip *c = &s->clips[slot];
		moved = c->present && c->muted != (v != 0);
		if (c->present)
			c->muted = v != 0;
		break;
	}
	case CMD_REVERSE: {
		int slot = (ev->scene % GL_SCENES) * GL_TRACKS + t;
		w->reversed[slot] = v != 0;
		struct session_clip *c = &s->clips[slot];
		moved = c->present && c->reversed != (v != 0);
		if (c->present)
			c->reversed = v != 0;
		break;
	}
	case CMD_SPEED: {
		int slot = (ev->scene % GL_SCENES) * GL_TRACKS + t;
		double sp = v == 0.5 || v == 2 ? v : 1;
		w->speed[slot] = sp;
		struct session_clip *c = &s->clips[slot];
		moved = c->present && (c->speed ? c->speed : 1) != sp;
		if (c->present)
			c->speed = sp;
		break;
	}
	case CMD_TRACK_VOLUME:
		moved = fabsf(s->tracks[t].volume - (float)v) > 1e-6f;
		s->tracks[t].volume = (float)v;
		break;
	case CMD_MUTE:
		moved = s->tracks[t].mute != (v != 0);
		s->tracks[t].mute = v != 0;
		break;
	case CMD_MASTER_VOLUME:
		moved = fabsf(s->master_volume - (float)v) > 1e-6f;
		s->master_volume = (float)v;
		break;
	case CMD_SET_QUANTISE:
		moved = s->quantise != (enum quantise)(int)v;
		s->quantise = (enum quantise)(int)v;
		break;
	case CMD_METRONOME:
		moved = s->metronome != (v != 0);
		s->metronome = v != 0;
		break;
	default: /* input monitoring is the player's, not the session's */
		return;
	}
	if (moved) {
		w->settings_dirty = true;
		changed(w);
	}
}

static void follow(struct sd_writer *w, const struct event *ev)
{
	int slot = ev->scene * GL_TRACKS + ev->track;
	if (slot >= GL_SLOTS)
		return;
	switch (ev->type) {
	case EV_CLIP_STATE:
		w->state[slot] = (uint8_t)ev->value;
		/* Empty is a clear only of a clip this instance holds: a slot
		 * whose saved clip is not restored yet is empty too (and a
		 * record queued there and cancelled says so again). */
		/* A converted clip cleared: superseded, no commit owes it. */
		if (ev->value == CLIP_EMPTY)
			w->owed[slot] = false;
		if (ev->value == CLIP_EMPTY && w->sess.clips[slot].present &&
		    w->held[slot]) {
			w->dirty[slot] = true;
			changed(w);
		}
		break;
	case EV_RECORD_DONE:
		w->muted[slot] = w->reversed[slot] = false;
		w->speed[slot] = 1;
		/* fall through */
	case EV_OVERDUB_DONE:
		w->dirty[slot] = true;
		changed(w);
		if (!w->finished_due_ms)
			w->finished_due_ms = mono_ms() + FINISHED_SAVE_MS;
		break;
	case EV_RESTORED:
		w->answers++;
		/* Refused (recorded over): the saved clip stays listed until
		 * the new take is saved, which keeps it in not-restored/. */
		if (!ev->aux)
			break;
		w->owed[slot] = w->conversion_marker != NULL;
		/* Taken: the engine holds the card's entry now, and nothing
		 * else of the slot is left to save (a take recorded over it
		 * and cleared before a save). It is written anew when
		 * converted, or when its entry was replaced meanwhile (a take
		 * recorded over it, saved, and cleared). */
		if (w->from_card[slot] && !w->cfg.resave_restored) {
			w->held[slot] = true;
			w->dirty[slot] = false;
		} else {
			w->dirty[slot] = true;
			changed(w);
		}
		break;
	case EV_TEMPO: {
		double bpm = (double)ev->value / 1000.0;
		if (fabs(bpm - w->sess.tempo) > 1e-6 ||
		    w->sess.beats_per_bar != (uint32_t)ev->aux) {
			w->sess.tempo = bpm;
			w->sess.beats_per_bar = (uint32_t)ev->aux;
			w->settings_dirty = true;
			changed(w);
		}
		break;
	}
	case EV_SETTING:
		set_setting(w, ev);
		break;
	case EV_REQUEST:
		if (ev->value == REQUEST_SAVE)
			w->save_asked = true;
		else if (ev->value == REQUEST_EXPORT)
			w->export_asked = true;
		break;
	default:
		break;
	}
}

static void drain(struct sd_writer *w)
{
	struct event ev;
	fanout_clear(&w->events);
	while (fanout_pop(&w->events, &ev))
		follow(w, &ev);
	if (atomic_exchange(&w->export_signalled, false))
		w->export_asked = true;
}

/* ---- saving ------------------------------------------------------------ */

static void set_status(struct sd_writer *w, enum storage_status st)
{
	if (atomic_exchange(&w->status, st) != (int)st)
		wake_signal(w->cfg.status_wake);
}

static void card_fault(struct sd_writer *w, const char *what, const char *why)
{
	char msg[sizeof(w->last_fault)];
	snprintf(msg, sizeof(msg), "%s: %s", what, why);
	/* The last save at shutdown has no retry: what it could not write is
	 * lost, and the musician must hear that, not "nothing is lost". */
	if (w->stopping)
		log_line("%s; the session is NOT saved: what changed since the last save "
			 "is lost (the card keeps the session saved before)",
			 msg);
	/* Said once per fault, not every retry. */
	else if (!w->fault || strcmp(msg, w->last_fault))
		log_line("%s; nothing is lost: the session stays in memory and is saved "
			 "when the card works again",
			 msg);
	snprintf(w->last_fault, sizeof(w->last_fault), "%s", msg);
	w->fault = true;
	w->retry_at_ms = mono_ms() + w->cfg.retry_ms;
	set_status(w, STORAGE_FAULT);
}

static double bars_of(const struct session *s, int64_t frames)
{
	if (s->tempo <= 0 || s->beats_per_bar == 0)
		return 0;
	double bar = 60.0 * s->rate * s->beats_per_bar / s->tempo;
	return floor((double)frames / bar * 1000.0 + 0.5) / 1000.0;
}

/* The keeper's memory as a session_audio_source: the clip goes to its file
 * a piece at a time, never copied whole. */
struct keeper_source {
	struct keeper *keeper;
	int track, scene;
};

static int64_t from_keeper(void *ctx, int channel, int64_t from, float *dst, int64_t n)
{
	const struct keeper_source *k = ctx;
	return keeper_clip_copy(k->keeper, k->track, k->scene, channel, from, dst, n);
}

/* Writes a clip's audio as a new file, straight from the keeper's memory,
 * and fills out (its entry, file named). final: the audio thread has
 * stopped, so a take still being recorded or dubbed is taken as far as it
 * got. 1: written; 0: not final, or it changed while it was written (its
 * next event brings it back; the file, listed nowhere, goes with the next
 * commit); -1: the card failed (message in err). */
static int write_clip(struct sd_writer *w, int slot, struct session_clip *out, bool final,
		      char *err, size_t errlen)
{
	struct engine *e = w->cfg.engine;
	int t = slot % GL_TRACKS, sc = slot / GL_TRACKS;
	uint32_t v = engine_clip_version(e, t, sc);
	int64_t len;
	if (v & 1) {
		if (!final)
			return 0;
		/* Nothing runs: safe. A take whose end was pressed but not
		 * reached is as long as what was recorded of it, not as long
		 * as it was going to be. */
		len = engine_clip_stored_length(e, t, sc);
	} else {
		len = engine_clip_final_length(e, t, sc);
	}
	if (len <= 0)
		return 0;
	struct session_clip *c = &w->sess.clips[slot], old = *c;
	memset(c, 0, sizeof(*c));
	c->present = true;
	c->channels = engine_clip_channels(e, t, sc);
	c->frames = len;
	c->bars = bars_of(&w->sess, len);
	int64_t cycle = engine_clip_final_cycle(e, t, sc);
	c->cycle = v & 1 || cycle <= 0 || cycle >= len || len % cycle ? 0 : cycle;
	c->nseams = v & 1 ? 0 : engine_clip_final_seams(e, t, sc, c->seams);
	struct keeper_source src = {.keeper = w->cfg.keeper, .track = t, .scene = sc};
	int rc = session_store_write_clip_from(
	    w->session_dir, &w->sess, slot, from_keeper, &src, &w->serial, err, errlen);
	*out = *c;
	*c = old; /* the caller takes the new entry when it is good */
	if (rc == -EAGAIN ||
	    (rc == 0 && !final && !engine_clip_version_still(e, t, sc, v))) {
		STAT_ADD(w, copies_discarded, 1);
		return 0;
	}
	return rc ? -1 : 1;
}

static void stamp(struct session *s)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(s->saved_at, sizeof(s->saved_at), "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool anything_dirty(const struct sd_writer *w)
{
	if (w->settings_dirty || w->uncommitted)
		return true;
	for (int s = 0; s < GL_SLOTS; s++)
		if (w->dirty[s])
			return true;
	return false;
}

/* One save: the clips whose audio changed as new files, then the manifest.
 * 0; 1 when it was saved but for a take that would replace a clip that
 * cannot be kept (keep_not_restored: that take stays dirty); or -1 (a
 * fault: what is unsaved stays dirty). */
static int save(struct sd_writer *w, bool final)
{
	char err[512];
	int64_t t0 = mono_ms();
	log_line("saving the session...");
	set_status(w, STORAGE_SAVING);
	if ((w->mount_point &&
	     session_store_check_mount(w->mount_point, err, sizeof(err))) ||
	    session_store_prepare(w->session_dir, err, sizeof(err))) {
		card_fault(w, "cannot save the session", err);
		STAT_ADD(w, save_failures, 1);
		return -1;
	}
	if (w->cfg.card_unknown) {
		/* The card came later: what it holds was never loaded, so it
		 * must not be overwritten by this session's first save. */
		char aside[1200];
		struct stat st;
		char manifest[1100];
		snprintf(manifest, sizeof(manifest), "%s/%s", w->session_dir,
			 MANIFEST_FILE);
		if (stat(manifest, &st) == 0 &&
		    !session_store_set_aside(w->session_dir, "found", aside,
					     sizeof(aside))) {
			log_line("the SD card is there now; the session it holds was not "
				 "loaded at "
				 "start and is kept as %s",
				 aside);
			session_store_prepare(w->session_dir, err, sizeof(err));
		} else if (stat(manifest, &st) == 0) { /* saving would delete it */
			card_fault(w, "cannot save the session",
				   "the session found on the card cannot be set aside");
			return -1;
		}
		w->cfg.card_unknown = false;
	}
	int written = 0;
	char unkept[sizeof(err)] = "";
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		if (!w->dirty[slot])
			continue;
		struct session_clip *c = &w->sess.clips[slot];
		if (w->state[slot] == CLIP_EMPTY) {
			/* Cleared: the next commit drops it; but only a clip
			 * this instance holds (see held). */
			if (w->held[slot]) {
				memset(c, 0, sizeof(*c));
				w->from_card[slot] = false;
			}
			w->held[slot] = false;
			w->dirty[slot] = false;
			continue;
		}
		struct session_clip fresh;
		int got = write_clip(w, slot, &fresh, final, err, sizeof(err));
		if (got < 0) {
			card_fault(w, "cannot save the session", err);
			STAT_ADD(w, save_failures, 1);
			return -1;
		}
		if (got == 0) {
			w->dirty[slot] =
			    false; /* changing: its next event brings it back */
			continue;
		}
		if (c->present && !w->held[slot] &&
		    keep_not_restored(w, slot, err, sizeof(err))) {
			/* The saved clip stays listed and the take dirty; the
			 * rest is saved (the take's file, listed nowhere, goes
			 * with the commit). */
			snprintf(unkept, sizeof(unkept), "%s", err);
			continue;
		}
		fresh.muted = w->muted[slot];
		fresh.reversed = w->reversed[slot];
		fresh.speed = w->speed[slot];
		*c = fresh;
		w->written[slot] = true;
		w->held[slot] = true;
		w->from_card[slot] = false;
		STAT_ADD(w, clips_written, 1);
		STAT_ADD(w, bytes_written,
			 (uint64_t)fresh.frames * (uint64_t)fresh.channels *
			     sizeof(float));
		w->dirty[slot] = false;
		written++;
	}
	stamp(&w->sess);
	if (session_store_commit(w->session_dir, &w->sess, err, sizeof(err))) {
		w->uncommitted = true;
		card_fault(w, "cannot save the session", err);
		STAT_ADD(w, save_failures, 1);
		return -1;
	}
	w->settings_dirty = w->uncommitted = false;
	/* Written since the last commit (a failed one too): on the card now. */
	for (int s = 0; s < GL_SLOTS; s++) {
		w->owed[s] = w->owed[s] && !w->written[s];
		w->written[s] = false;
	}
	finish_conversion(w);
	if (w->fault && !unkept[0])
		log_line("the SD card works again: session saved");
	w->fault = false;
	w->first_change_ms = w->last_change_ms = 0;
	w->finished_due_ms = 0;
	set_status(w, STORAGE_IDLE);
	int64_t took = mono_ms() - t0;
	pthread_mutex_lock(&w->stats_lock);
	w->stats.saves++;
	w->stats.last_save_ms = (uint64_t)took;
	pthread_mutex_unlock(&w->stats_lock);
	log_line("session saved: %d clips, %d written, in %lld ms",
		 session_clip_count(&w->sess), written, (long long)took);
	if (unkept[0]) {
		log_line("%s; that take is %s", unkept,
			 w->stopping ? "NOT saved (the saved clip stays in the session)"
				     : "not saved yet: tried again in a few seconds");
		say(w->last_fault, sizeof(w->last_fault), "%s", unkept);
		w->fault = true;
		w->retry_at_ms = mono_ms() + w->cfg.retry_ms;
		set_status(w, STORAGE_FAULT);
		return 1;
	}
	return 0;
}

/* ---- exporting --------------------------------------------------------- */

static void export_outcome(struct sd_writer *w, const char *line)
{
	char err[256];
	/* An export that failed before making the export directory (nothing to
	 * export on a fresh card) still has an outcome: `gridloop export` waits
	 * for it. One level, as export.c makes it: its parent is the card. */
	(void)mkdir(w->export_dir, 0755); /* else atomic_file_write says why */
	if (atomic_file_write(w->export_dir, SD_WRITER_LAST_EXPORT, line, strlen(line),
			      err, sizeof(err)))
		log_line("cannot write %s/%s: %s", w->export_dir, SD_WRITER_LAST_EXPORT,
			 err);
}

static void export_now(struct sd_writer *w)
{
	char err[512] = "", folder[1024], line[1600];
	w->export_asked = false;
	set_status(w, STORAGE_EXPORTING);
	/* Saved but for one take (1): the session on the card is whole and
	 * is exported. */
	if (save(w, false) < 0) {
		snprintf(line, sizeof(line),
			 "failed: the session could not be saved: %s\n", w->last_fault);
		goto failed;
	}
	set_status(w, STORAGE_EXPORTING);
	int64_t t0 = mono_ms();
	if (export_session(w->export_dir, &w->sess, w->session_dir, w->cfg.export_format,
			   time(NULL), folder, sizeof(folder), err, sizeof(err))) {
		snprintf(line, sizeof(line), "failed: %s\n", err);
		goto failed;
	}
	/* A clip file that could not be read is skipped, the rest exported:
	 * say which. */
	log_line("exported the session to %s (%s) in %lld ms%s%s", folder,
		 export_format_name(w->cfg.export_format), (long long)(mono_ms() - t0),
		 err[0] ? "; but: " : "", err);
	if (err[0])
		snprintf(line, sizeof(line), "ok %s (but: %s)\n", folder, err);
	else
		snprintf(line, sizeof(line), "ok %s\n", folder);
	export_outcome(w, line);
	STAT_ADD(w, exports, 1);
	set_status(w, STORAGE_EXPORTED);
	w->status_until_ms = mono_ms() + w->cfg.export_shown_ms;
	return;
failed:
	log_line("export %s", line);
	export_outcome(w, line);
	STAT_ADD(w, export_failures, 1);
	set_status(w, STORAGE_EXPORT_FAILED);
	w->status_until_ms = 0;
}

/* ---- the thread -------------------------------------------------------- */

static int64_t next_deadline(const struct sd_writer *w)
{
	int64_t d = INT64_MAX;
	if (anything_dirty(w)) {
		int64_t quiet = w->last_change_ms + w->cfg.quiet_ms;
		int64_t latest = w->first_change_ms + w->cfg.max_delay_ms;
		d = quiet < latest ? quiet : latest;
		if (w->finished_due_ms && w->finished_due_ms < d)
			d = w->finished_due_ms;
		if (w->fault && w->retry_at_ms > d)
			d = w->retry_at_ms;
	}
	if (w->status_until_ms && w->status_until_ms < d)
		d = w->status_until_ms;
	return d;
}

static void *writer_main(void *arg)
{
	struct sd_writer *w = arg;
	struct pollfd pfd = {.fd = fanout_fd(&w->events), .events = POLLIN};
	while (atomic_load_explicit(&w->running, memory_order_acquire)) {
		int64_t now = mono_ms(), d = next_deadline(w);
		/* Asleep until an event, an export or the stop, or a save or a
		 * status due. */
		int64_t ms = d == INT64_MAX ? -1 : d <= now ? 0 : d - now;
		int timeout = ms > INT32_MAX ? INT32_MAX : (int)ms;
		poll(&pfd, 1, timeout);
		drain(w);
		finish_conversion(w); /* nothing owed: e.g. every offer refused */
		now = mono_ms();
		if (w->status_until_ms && now >= w->status_until_ms) {
			w->status_until_ms = 0;
			if (sd_writer_status(w) == STORAGE_EXPORTED)
				set_status(w, w->fault ? STORAGE_FAULT : STORAGE_IDLE);
		}
		if (w->export_asked) {
			export_now(w);
			continue;
		}
		bool due =
		    w->save_asked || (anything_dirty(w) && next_deadline(w) <= now);
		if (due) {
			w->save_asked = false;
			save(w, false);
		}
	}
	return NULL;
}

int sd_writer_start(struct sd_writer *w)
{
	atomic_store(&w->running, true);
	int err = background_start(&w->thread, writer_main, w, "gl-sd-writer");
	if (err) {
		atomic_store(&w->running, false);
		return err;
	}
	w->started = true;
	return 0;
}

int sd_writer_stop(struct sd_writer *w)
{
	if (w->started) {
		atomic_store_explicit(&w->running, false, memory_order_release);
		fanout_wake(&w->events);
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	drain(w);
	if (w->export_asked)
		export_now(w);
	/* Whatever is not final now is as final as it gets: the audio thread
	 * has stopped. */
	struct engine *e = w->cfg.engine;
	for (int s = 0; s < GL_SLOTS; s++)
		if (w->state[s] != CLIP_EMPTY &&
		    (engine_clip_version(e, s % GL_TRACKS, s / GL_TRACKS) & 1))
			w->dirty[s] = true;
	finish_conversion(w);
	if (!anything_dirty(w) && !w->fault)
		return 0;
	w->stopping = true;
	return save(w, true) ? -1 : 0;
}

void sd_writer_destroy(struct sd_writer *w)
{
	if (!w)
		return;
	if (w->started) { /* a start-up that failed later: no save */
		atomic_store_explicit(&w->running, false, memory_order_release);
		fanout_wake(&w->events);
		pthread_join(w->thread, NULL);
	}
	fanout_free(&w->events);
	pthread_mutex_destroy(&w->stats_lock);
	free(w->session_dir);
	free(w->export_dir);
	free(w->mount_point);
	free(w->conversion_marker);
	free(w);
}
