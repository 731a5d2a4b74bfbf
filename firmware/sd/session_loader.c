/* session_loader.c -- the last session restored in the background (see
 * session_loader.h).
 */
#include "session_loader.h"

#include "thread.h"
#include "log_line.h"
#include "mono_clock.h"
#include "clipmem.h"
#include "session_store.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Where clips come from: the manifest's directory, and an earlier
 * conversion's original for the slots the manifest leaves empty. */
struct source {
	char *dir;
	struct session sess; /* the loader's own copy: clips read one at a time */
};

struct session_loader {
	struct session_loader_config cfg;
	struct source src[2]; /* [1]: dir NULL when there is none */
	char *dir;	      /* src[0].dir */
	struct session sess;  /* src[0].sess's settings */
	pthread_t thread;
	bool started;
	bool abandoned; /* its thread did not end: never freed */
	atomic_bool stop;
	pthread_mutex_t lock;
	struct session_loader_stats stats;
};

struct session_loader *session_loader_create(const struct session_loader_config *cfg)
{
	struct session_loader *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->cfg = *cfg;
	l->dir = l->src[0].dir = strdup(cfg->dir);
	l->src[1].dir = cfg->more_dir ? strdup(cfg->more_dir) : NULL;
	if (!l->dir || (cfg->more_dir && !l->src[1].dir)) {
		free(l->src[0].dir);
		free(l->src[1].dir);
		free(l);
		return NULL;
	}
	l->cfg.dir = l->dir;
	l->src[0].sess = *cfg->manifest;
	if (cfg->more_dir)
		l->src[1].sess = *cfg->more;
	for (int i = 0; i < 2; i++)
		for (int s = 0; s < GL_SLOTS; s++) {
			struct session_clip *c = &l->src[i].sess.clips[s];
			c->audio[0] = c->audio[1] = NULL;
			/* A slot the manifest fills is its, never the other's. */
			if (i == 1 && (!l->src[1].dir || l->src[0].sess.clips[s].present))
				c->present = false;
		}
	l->sess = l->src[0].sess;
	l->cfg.manifest = l->cfg.more = NULL;
	l->cfg.more_dir = NULL;
	l->stats.clips = session_clip_count(&l->src[0].sess) +
			 (l->src[1].dir ? session_clip_count(&l->src[1].sess) : 0);
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

/* The session's settings, at once: before any clip can be played. */
static void send(struct session_loader *l, enum command_type type, int track, float value)
{
	while (!engine_send(l->cfg.engine, SOURCE_SESSION, type, track, 0, value, 0)) {
		if (atomic_load(&l->stop))
			return; /* shutting down: the audio no longer runs */
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL); /* the queue empties every period */
	}
}

static void send_settings(struct session_loader *l)
{
	const struct session *s = &l->sess;
	if (s->tempo > 0)
		send(l, CMD_SET_TEMPO, 0, (float)s->tempo);
	send(l, CMD_SET_METER, 0, (float)s->beats_per_bar);
	send(l, CMD_SET_QUANTISE, 0, (float)s->quantise);
	send(l, CMD_METRONOME, 0, s->metronome ? 1.0f : 0.0f);
	send(l, CMD_MASTER_VOLUME, 0, s->master_volume);
	for (int t = 0; t < GL_TRACKS; t++) {
		send(l, CMD_TRACK_VOLUME, t, s->tracks[t].volume);
		send(l, CMD_MUTE, t, s->tracks[t].mute ? 1.0f : 0.0f);
	}
}

static void skipped(struct session_loader *l, const struct source *src, int slot,
		    const char *why)
{
	log_line("restore: track %d scene %d (%s): %s; skipped, the rest of the session "
		 "plays",
		 slot % GL_TRACKS + 1, slot / GL_TRACKS + 1, src->sess.clips[slot].file,
		 why);
	pthread_mutex_lock(&l->lock);
	l->stats.skipped++;
	pthread_mutex_unlock(&l->lock);
}

static void into_take(void *ctx, int channel, int64_t from, const float *src, int64_t n)
{
	keeper_take_write(ctx, channel, from, src, n);
}

/* The clip's cycle and seams as saved, or as the conversion made them
 * (session_store_read_clip: whole cycles still). */
static void offered(struct session_loader *l, struct keeper_take *take, int slot,
		    const struct source *src)
{
	const struct session_clip *c = &src->sess.clips[slot];
	keeper_take_set_cycle(take, c->cycle);
	keeper_take_set_seams(take, c->seams, c->nseams);
	keeper_take_set_flags(take, (c->muted ? CLIP_FLAG_MUTED : 0) |
					(c->reversed ? CLIP_FLAG_REVERSE : 0) |
					(c->speed == 0.5 ? CLIP_FLAG_HALF_SPEED : 0) |
					(c->speed == 2 ? CLIP_FLAG_DOUBLE_SPEED : 0));
	keeper_offer_take(l->cfg.keeper, take);
	pthread_mutex_lock(&l->lock);
	l->stats.offered++;
	pthread_mutex_unlock(&l->lock);
}

/* At the engine's rate the file goes straight into the take, a piece at a
 * time; at another it is read whole and converted first. */
static void restore_clip(struct session_loader *l, struct source *src, int slot)
{
	struct engine *e = l->cfg.engine;
	int t = slot % GL_TRACKS, sc = slot / GL_TRACKS;
	uint32_t rate = engine_config(e)->rate;
	int channels = engine_clip_channels(e, t, sc);
	char err[512];
	struct session_clip *c = &src->sess.clips[slot];
	struct keeper_take *take;
	/* The file first, then memory: a manifest's `frames` is only a claim,
	 * and mapping (and locking) that much before the file is seen could
	 * take all of the RAM. */
	/* Only here may the thread be cancelled (a stop that is not heard:
	 * session_loader_stop): in the file calls, never with a lock held. */
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	int bad = session_store_check_clip(src->dir, &src->sess, slot, rate, channels,
					   err, sizeof(err));
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	if (bad) {
		skipped(l, src, slot, err);
		return;
	}
	if (src->sess.rate == rate) {
		take = keeper_take_new(l->cfg.keeper, t, sc, c->frames);
		if (!take) {
			skipped(l, src, slot,
				"not enough memory (or over [looper] memory_limit_mb)");
			return;
		}
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		bad = session_store_stream_clip(src->dir, &src->sess, slot, channels,
						into_take, take, err, sizeof(err));
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (bad) {
			keeper_take_free(l->cfg.keeper, take);
			skipped(l, src, slot, err);
			return;
		}
		offered(l, take, slot, src);
		return;
	}
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	bad = session_store_read_clip(src->dir, &src->sess, slot, rate, channels, err,
				      sizeof(err));
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	if (bad) {
		skipped(l, src, slot, err);
		return;
	}
	take = keeper_take_new(l->cfg.keeper, t, sc, c->frames);
	if (!take) {
		skipped(l, src, slot,
			"not enough memory (or over [looper] memory_limit_mb)");
	} else {
		for (int ch = 0; ch < keeper_take_channels(take); ch++)
			keeper_take_write(take, ch, 0, c->audio[ch], c->frames);
		offered(l, take, slot, src);
	}
	free(c->audio[0]);
	free(c->audio[1]);
	c->audio[0] = c->audio[1] = NULL;
}

void session_loader_run(struct session_loader *l)
{
	send_settings(l);
	for (int slot = 0; slot < GL_SLOTS && !atomic_load(&l->stop); slot++)
		for (int i = 0; i < 2; i++)
			if (l->src[i].dir && l->src[i].sess.clips[slot].present)
				restore_clip(l, &l->src[i], slot);
	int64_t ms = (mono_ns() - l->cfg.start_ns) / 1000000;
	pthread_mutex_lock(&l->lock);
	l->stats.done = true;
	l->stats.done_ms = ms;
	struct session_loader_stats st = l->stats;
	pthread_mutex_unlock(&l->lock);
	log_line("session restored from %s: %d of %d clips read in %lld ms after start "
		 "(%d skipped)",
		 l->dir, st.offered, st.clips, (long long)ms, st.skipped);
	/* A conversion is done once every clip went through and the writer
	 * has saved them: until then its marker stays, and the next start
	 * converts what the session is still missing. */
	if (l->cfg.conversion_writer && !atomic_load(&l->stop) && st.skipped == 0 &&
	    st.offered == st.clips)
		sd_writer_restore_complete(l->cfg.conversion_writer, st.offered);
	else if (l->cfg.conversion_writer)
		log_line("restore: the conversion is not finished (%d of %d clips); the "
			 "next start converts the rest",
			 st.offered, st.clips);
}

#define FIRST_PERIOD_WAIT_MS 1000 /* a device still missing: restore anyway */
#define LOADER_STOP_WAIT_MS  3000 /* a stop is heard between two file calls */

static void *loader_main(void *arg)
{
	struct session_loader *l = arg;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (int ms = 0;
	     l->cfg.audio_now && ms < FIRST_PERIOD_WAIT_MS && !atomic_load(&l->stop) &&
	     atomic_load_explicit(l->cfg.audio_now, memory_order_acquire) == 0;
	     ms += 2) {
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	session_loader_run(l);
	return NULL;
}

int session_loader_start(struct session_loader *l)
{
	int err = background_start(&l->thread, loader_main, l, "gl-restore");
	if (err)
		return err;
	l->started = true;
	return 0;
}

/* Waits for the thread up to ms: true when it ended. */
static bool joined_within(struct session_loader *l, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	return pthread_timedjoin_np(l->thread, NULL, &until) == 0;
}

void session_loader_stop(struct session_loader *l)
{
	if (!l || !l->started)
		return;
	atomic_store(&l->stop, true);
	l->started = false;
	if (joined_within(l, LOADER_STOP_WAIT_MS))
		return;
	/* Stuck in a file call (a card that does not answer): cancelled there. */
	log_line("restore: the restore thread does not stop (a file on the card does "
		 "not answer); cancelling it");
	pthread_cancel(l->thread);
	if (joined_within(l, LOADER_STOP_WAIT_MS))
		return;
	log_line("restore: the restore thread cannot be stopped; leaving it");
	l->abandoned = true;
}

void session_loader_destroy(struct session_loader *l)
{
	if (!l || l->abandoned) /* a thread that never ended may still read it */
		return;
	session_free_audio(&l->src[0].sess);
	session_free_audio(&l->src[1].sess);
	pthread_mutex_destroy(&l->lock);
	free(l->src[0].dir);
	free(l->src[1].dir);
	free(l);
}

void session_loader_get_stats(struct session_loader *l, struct session_loader_stats *st)
{
	pthread_mutex_lock(&l->lock);
	*st = l->stats;
	pthread_mutex_unlock(&l->lock);
}
