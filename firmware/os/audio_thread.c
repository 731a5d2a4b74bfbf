/* audio_thread.c -- the real-time audio thread and its duplex loop (see
 * audio_thread.h). The thread's own work between the PCM calls is bracketed
 * by rt_mark_begin/end, so test runs under the real-time guard prove it
 * never allocates, locks or does I/O. */
#include "audio_thread.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "rt_mark.h"
#include "script_feeder.h"
#include "thread.h"
#include "spsc.h"

#define AUDIO_STACK_BYTES    (512 * 1024)
#define AUDIO_STACK_PREFAULT (128 * 1024) /* touched at start, so never faulted later */
#define REPORT_QUEUE_SIZE    256
#define GATE_POLL_NS	     50000L	  /* offline script gate */
#define GATE_GIVE_UP_NS	     2000000000LL /* a stuck feeder must not hang the run */
/* Stalls ridden out one after the other with no period completed between
 * them, before the device is taken for lost (and reopened). */
#define STALLS_BEFORE_LOST 3

struct audio_thread {
	struct audio_thread_config cfg;
	struct audio_alsa *pcm;
	float *in;    /* period x input_channels */
	float *out;   /* period x 2 */
	float *click; /* the engine's own click, when on its own outputs */
	struct spsc reports;
	pthread_t thread;
	bool started;
	const atomic_int_least64_t *gate; /* offline: the script feeder's horizon */
	struct script_feeder *feeder;	  /* poked after each period; NULL: none */
	struct keeper *keeper;		  /* offline: served between periods */

	atomic_bool stop;
	atomic_bool running;
	atomic_int ending; /* enum audio_ending */
	atomic_bool realtime;
	atomic_int_least64_t stop_frame;
	atomic_int_least64_t now;
	atomic_uint_least64_t periods;
	atomic_uint_least64_t xruns;  /* stalls included */
	atomic_uint_least64_t stalls; /* audio_alsa_is_stall() */
	unsigned stalls_in_a_row;     /* the audio thread's own */
	atomic_uint_least64_t slow_periods;
	atomic_uint_least64_t worst_ns;
	atomic_uint_least64_t busy_ns;
	/* audio_thread_clock(): odd while the audio thread writes the pair. */
	atomic_uint_least64_t clock_seq; /* 64 bits: never wraps back to 0 */
	atomic_int_least64_t clock_ns;
	atomic_int_least64_t clock_frame;
	atomic_int_least64_t wake_at; /* audio_thread_wake_at(); GL_NEVER: none */
	/* Ableton Link (cfg.link): this thread's own. */
	struct link_sync sync;
	struct link_heard heard; /* when a period is heard */
	int64_t link_nominal_us; /* the playback buffer less one period */
	atomic_uint_least64_t link_aligns, link_proposals, link_delay_failed;
	atomic_int_least64_t link_worst_offset, link_latency_us;
};

struct audio_thread *audio_thread_create(const struct audio_thread_config *cfg)
{
	struct audio_thread *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *cfg;
	size_t in_bytes = (size_t)cfg->period * cfg->input_channels * sizeof(float);
	size_t out_bytes = (size_t)cfg->period * GL_OUT_CH * sizeof(float);
	t->in = malloc(in_bytes);
	t->out = malloc(out_bytes);
	t->click = calloc(cfg->period, sizeof(float));
	if (!t->in || !t->out || !t->click ||
	    spsc_init(&t->reports, REPORT_QUEUE_SIZE, sizeof(struct audio_report))) {
		free(t->in);
		free(t->out);
		free(t->click);
		free(t);
		return NULL;
	}
	if (cfg->click_out)
		engine_set_click_out(cfg->engine, t->click);
	/* Touch every page now, not on the real-time thread. */
	memset(t->in, 0, in_bytes);
	memset(t->out, 0, out_bytes);
	atomic_init(&t->stop_frame, GL_NEVER);
	atomic_init(&t->wake_at, GL_NEVER);
	return t;
}

void audio_thread_destroy(struct audio_thread *t)
{
	if (!t)
		return;
	spsc_free(&t->reports);
	free(t->in);
	free(t->out);
	free(t->click);
	free(t);
}

void audio_thread_set_stop_frame(struct audio_thread *t, int64_t frame)
{
	atomic_store(&t->stop_frame, frame);
}

void audio_thread_set_offline(struct audio_thread *t,
			      const atomic_int_least64_t *script_horizon,
			      struct keeper *keeper)
{
	t->gate = script_horizon;
	t->keeper = keeper;
}

void audio_thread_set_feeder(struct audio_thread *t, struct script_feeder *f)
{
	t->feeder = f;
}

void audio_thread_wake_at(struct audio_thread *t, int64_t frame)
{
	atomic_store_explicit(&t->wake_at, frame, memory_order_relaxed);
}

const atomic_int_least64_t *audio_thread_now(const struct audio_thread *t)
{
	return &t->now;
}

bool audio_thread_clock(const struct audio_thread *t, int64_t *mono_ns, int64_t *frame)
{
	/* The writer never waits; a reader that catches it mid-write tries
	 * again (a handful of instructions: it soon succeeds). */
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t before =
		    atomic_load_explicit(&t->clock_seq, memory_order_acquire);
		if (before & 1)
			continue;
		int64_t ns = atomic_load_explicit(&t->clock_ns, memory_order_relaxed);
		int64_t f = atomic_load_explicit(&t->clock_frame, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->clock_seq, memory_order_relaxed) != before)
			continue;
		if (before == 0)
			return false; /* no period yet */
		*mono_ns = ns;
		*frame = f;
		return true;
	}
	return false;
}

bool audio_thread_pop_report(struct audio_thread *t, struct audio_report *r)
{
	return spsc_pop(&t->reports, r);
}

void audio_thread_get_stats(const struct audio_thread *t, struct audio_stats *s)
{
	s->frames = atomic_load(&t->now);
	s->periods = atomic_load(&t->periods);
	s->xruns = atomic_load(&t->xruns);
	s->stalls = atomic_load(&t->stalls);
	s->slow_periods = atomic_load(&t->slow_periods);
	s->worst_ns = atomic_load(&t->worst_ns);
	s->busy_ns = atomic_load(&t->busy_ns);
	s->realtime = atomic_load(&t->realtime);
	s->link_aligns = atomic_load(&t->link_aligns);
	s->link_proposals = atomic_load(&t->link_proposals);
	s->link_worst_offset = atomic_load(&t->link_worst_offset);
	s->link_latency_us = atomic_load(&t->link_latency_us);
	s->link_nominal_us = t->link_nominal_us;
	s->link_delay_failed = atomic_load(&t->link_delay_failed);
}

bool audio_thread_running(const struct audio_thread *t)
{
	return atomic_load(&t->running);
}

/* ---- the real-time side --------------------------------------------------- */

static void report(struct audio_thread *t, uint8_t type, int64_t value)
{
	struct audio_report r = {
	    .frame = engine_now(t->cfg.engine), .value = value, .type = type};
	spsc_push(&t->reports, &r); /* full: counted as dropped, never waits */
}

static uint64_t clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Publishes the pair audio_thread_clock() reads (a sequence lock: the
 * count is odd while the pair changes). */
static void publish_clock(struct audio_thread *t, uint64_t ns, int64_t frame)
{
	uint64_t seq = atomic_load_explicit(&t->clock_seq, memory_order_relaxed);
	atomic_store_explicit(&t->clock_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&t->clock_ns, (int64_t)ns, memory_order_relaxed);
	atomic_store_explicit(&t->clock_frame, frame, memory_order_relaxed);
	atomic_store_explicit(&t->clock_seq, seq + 2, memory_order_release);
}

/* How many elements the producer (this thread) has pushed so far: a
 * change over a period means the consumer has work. */
static size_t pushed(struct spsc *q)
{
	return atomic_load_explicit(&q->head, memory_order_relaxed);
}

/* After a period: wake whoever got work in it (audio_thread_config). At
 * most one eventfd write per consumer, none when nothing happened. */
static void wake_consumers(struct audio_thread *t, size_t events0, size_t reports0,
			   size_t memory0, int64_t now)
{
	struct engine *e = t->cfg.engine;
	/* Asked for (the MIDI clock's next tick): once, then off unless
	 * asked again meanwhile (a lock-free compare-exchange). */
	bool timed = false;
	int64_t at = atomic_load_explicit(&t->wake_at, memory_order_relaxed);
	if (now > at) {
		timed = true;
		atomic_compare_exchange_strong_explicit(&t->wake_at, &at, GL_NEVER,
							memory_order_relaxed,
							memory_order_relaxed);
	}
	if (timed || pushed(engine_events(e)) != events0 ||
	    pushed(&t->reports) != reports0 ||
	    atomic_load_explicit(&t->periods, memory_order_relaxed) == 1)
		wake_signal(t->cfg.wake_events);
	if (pushed(engine_memory_requests(e)) != memory0)
		wake_signal(t->cfg.wake_memory);
}

/* Fault in the stack the loop will use while we may still take the time. */
static __attribute__((noinline)) void prefault_stack(void)
{
	volatile unsigned char stack[AUDIO_STACK_PREFAULT];
	for (size_t i = 0; i < sizeof(stack); i += 4096)
		stack[i] = 0;
}

/* Offline runs: hold the period until the script commands due in it are
 * queued, or the script's queue is full: more are due than it holds, and
 * only this period's run makes room (waiting stalled every queueful for
 * GATE_GIVE_UP_NS; they act late, and are counted, either way). Outside the
 * real-time marks: this is the PCM's pace, not work. */
static void wait_for_script(struct audio_thread *t, int64_t period_end)
{
	const struct timespec poll = {0, GATE_POLL_NS};
	struct spsc *queue = engine_commands(t->cfg.engine, SOURCE_SCRIPT);
	uint64_t t0 = clock_ns();
	while (atomic_load_explicit(t->gate, memory_order_acquire) < period_end &&
	       spsc_count(queue) < spsc_capacity(queue) &&
	       !atomic_load_explicit(&t->stop, memory_order_relaxed) &&
	       clock_ns() - t0 < (uint64_t)GATE_GIVE_UP_NS) {
		if (t->feeder) {
			/* Woken by its fill; the timeout only covers a poke
			 * that came as the feeder was about to sleep. */
			script_feeder_poke(t->feeder, true);
			script_feeder_wait(t->feeder, 1);
		} else {
			nanosleep(&poll, NULL); /* a bare gate (tests) */
		}
	}
}

/* Offline runs: the engine's events are never dropped for want of time.
 * A period may push up to a command queue's worth (a script flooding one
 * frame), so before each one the supervisor is given the time to take all
 * but a quarter of the queue (woken, then looked at every GATE_POLL_NS: the
 * producer's side, offline only; a live run never waits). */
static void wait_for_events(struct audio_thread *t)
{
	const struct timespec poll = {0, GATE_POLL_NS};
	struct spsc *q = engine_events(t->cfg.engine);
	uint64_t t0 = clock_ns();
	while (spsc_count(q) > spsc_capacity(q) / 4 &&
	       !atomic_load_explicit(&t->stop, memory_order_relaxed) &&
	       clock_ns() - t0 < (uint64_t)GATE_GIVE_UP_NS) {
		wake_signal(t->cfg.wake_events);
		nanosleep(&poll, NULL);
	}
}

/* An xrun, a suspend or a stall: count it, then do what latency.c does.
 * false when the device cannot be restarted. */
static bool recover(struct audio_thread *t, int err)
{
	atomic_fetch_add_explicit(&t->xruns, 1, memory_order_relaxed);
	report(t, AUDIO_XRUN, err);
	/* The restart queues a new prefill: the old delays say nothing. */
	link_heard_reset(&t->heard);
	wake_signal(t->cfg.wake_events);
	int rc = audio_alsa_restart(t->pcm);
	if (rc < 0) {
		report(t, AUDIO_DEVICE_ERROR, rc);
		return false;
	}
	return true;
}

/* The end of the loop for a PCM error that is not ridden out. */
static enum audio_ending pcm_failed(struct audio_thread *t, int err)
{
	if (err == -ENODATA) {
		report(t, AUDIO_INPUT_ENDED, err);
		return AUDIO_ENDED_INPUT_ENDED;
	}
	report(t, AUDIO_DEVICE_ERROR, err);
	return AUDIO_ENDED_DEVICE_LOST;
}

/* A PCM read or write failed. An xrun or a suspend is restarted, and so is
 * a stall (a board or device that stopped for a while is not a lost
 * device) unless STALLS_BEFORE_LOST of them came with no period completed
 * between them: true, go on. Anything else, or a restart that fails: false,
 * *ending says how the loop ends. */
static bool ride_out(struct audio_thread *t, int err, enum audio_ending *ending)
{
	if (audio_alsa_is_stall(err)) {
		atomic_fetch_add_explicit(&t->stalls, 1, memory_order_relaxed);
		if (++t->stalls_in_a_row > STALLS_BEFORE_LOST) {
			*ending = pcm_failed(t, err);
			return false;
		}
	} else if (!audio_alsa_is_xrun(err)) {
		*ending = pcm_failed(t, err);
		return false;
	}
	if (!recover(t, err)) {
		*ending = AUDIO_ENDED_DEVICE_LOST;
		return false;
	}
	return true;
}

static void account(struct audio_thread *t, uint64_t ns, uint32_t frames)
{
	atomic_fetch_add_explicit(&t->busy_ns, ns, memory_order_relaxed);
	if (ns > atomic_load_explicit(&t->worst_ns, memory_order_relaxed))
		atomic_store_explicit(&t->worst_ns, ns, memory_order_relaxed);
	uint64_t period_ns = (uint64_t)frames * 1000000000u / t->cfg.rate;
	if (ns > period_ns) {
		atomic_fetch_add_explicit(&t->slow_periods, 1, memory_order_relaxed);
		report(t, AUDIO_SLOW_PERIOD, (int64_t)ns);
	}
}

/* Any clip queued, recording or playing: what Link's start/stop state
 * says of gridloop. */
static bool engine_active(const struct engine *e)
{
	for (int tr = 0; tr < GL_TRACKS; tr++)
		for (int sc = 0; sc < GL_SCENES; sc++) {
			enum clip_state st = engine_clip_state(e, tr, sc);
			if (st != CLIP_EMPTY && st != CLIP_STOPPED)
				return true;
		}
	return false;
}

static void sync_command(struct audio_thread *t, uint8_t type, int scene, float value,
			 int64_t frame)
{
	struct command c = {
	    .frame = frame, .value = value, .type = type, .scene = (uint8_t)scene};
	spsc_push(engine_commands(t->cfg.engine, SOURCE_SYNC), &c);
}

/* What link_period() is given of the period: the playback delay read
 * after the capture read (outside the real-time marks: alsa-lib locks),
 * and Link's clock then. A second reading before the write goes straight
 * to link_heard (link_sync.h: on JACK it is the smaller one more often). */
struct link_reading {
	bool ok; /* the delay was read */
	int64_t delay_frames;
	int64_t clock_us;
};

static void link_read(struct audio_thread *t, struct link_reading *r)
{
	r->ok = audio_alsa_playback_delay(t->pcm, &r->delay_frames) == 0;
	r->clock_us = gl_link_clock_us(t->cfg.link);
}

/* Once per period, before the engine runs it: Link's audio session state
 * at the time this period's first frame will be heard (link_heard), against
 * the engine's grid (link_sync.h); the answer goes to the engine as
 * commands on this thread's own queue, and to Link in the same commit. */
static void link_period(struct audio_thread *t, int64_t now, const struct link_reading *r)
{
	struct gl_link *l = t->cfg.link;
	struct engine *e = t->cfg.engine;
	uint32_t bpb = engine_beats_per_bar(e);
	int64_t heard_us =
	    link_heard_period(&t->heard, now, r->clock_us, r->ok, r->delay_frames);
	if (!r->ok)
		atomic_fetch_add_explicit(&t->link_delay_failed, 1, memory_order_relaxed);
	atomic_store_explicit(&t->link_latency_us, heard_us - r->clock_us,
			      memory_order_relaxed);
	gl_link_capture(l);
	double bpm = engine_tempo(e);
	struct link_sync_in in = {
	    .frame = now,
	    .rate = t->cfg.rate,
	    .link_bpm = gl_link_tempo(l),
	    .link_beat = gl_link_beat_at(l, heard_us, bpb),
	    .link_playing = gl_link_playing(l),
	    .peers = gl_link_peers(l),
	    .engine_bpm = bpm,
	    .engine_next_bar = engine_next_bar(e, now),
	    .beats_per_bar = bpb,
	    .engine_active = engine_active(e),
	};
	struct link_sync_out out;
	link_sync_period(&t->sync, &in, &out);
	if (out.propose) {
		gl_link_set_tempo(l, out.propose_bpm, heard_us);
		gl_link_request_beat(l, out.propose_beat, heard_us, bpb);
		atomic_fetch_add_explicit(&t->link_proposals, 1, memory_order_relaxed);
	}
	if (out.align) {
		sync_command(t, CMD_SYNC_GRID, 0, (float)out.align_bpm, out.align_frame);
		atomic_fetch_add_explicit(&t->link_aligns, 1, memory_order_relaxed);
	}
	if (out.set_playing)
		gl_link_set_playing(l, out.playing, heard_us);
	if (out.stop)
		sync_command(t, CMD_STOP_ALL, 0, 0, now);
	if (out.start && t->cfg.link_start_scene >= 0)
		sync_command(t, CMD_LAUNCH_SCENE, t->cfg.link_start_scene, 0, now);
	gl_link_commit(l);
	atomic_store_explicit(&t->link_worst_offset, t->sync.worst_offset,
			      memory_order_relaxed);
}

static enum audio_ending duplex_loop(struct audio_thread *t)
{
	struct engine *e = t->cfg.engine;
	enum audio_ending ending;
	t->stalls_in_a_row = 0;
	struct link_reading reading = {0};
	int err = audio_alsa_start(t->pcm);
	if (err < 0)
		return pcm_failed(t, err);
	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		int64_t now = engine_now(e);
		int64_t stop_at =
		    atomic_load_explicit(&t->stop_frame, memory_order_relaxed);
		if (now >= stop_at) {
			report(t, AUDIO_FINISHED, now);
			return AUDIO_ENDED_FINISHED;
		}
		uint32_t n = t->cfg.period;
		if (stop_at - now < (int64_t)n)
			n = (uint32_t)(stop_at - now);
		if (t->gate)
			wait_for_script(t, now + n);
		if (t->keeper)
			wait_for_events(t);

		err = audio_alsa_read(t->pcm, n);
		if (err < 0) {
			if (!ride_out(t, err, &ending))
				return ending;
			continue;
		}
		if (t->cfg.link)
			link_read(t, &reading);

		rt_mark_begin();
		size_t events0 = pushed(engine_events(e)), reports0 = pushed(&t->reports),
		       memory0 = pushed(engine_memory_requests(e));
		uint64_t t0 = clock_ns();
		publish_clock(t, t0, now);
		audio_alsa_capture_to_float(t->pcm, t->in, n);
		if (t->cfg.link)
			link_period(t, now, &reading);
		engine_process(e, t->in, t->out, n);
		if (t->cfg.output_tap)
			t->cfg.output_tap(t->cfg.output_tap_ctx, t->out, n);
		audio_alsa_float_to_playback(t->pcm, t->out,
					     t->cfg.click_out ? t->click : NULL, n);
		account(t, clock_ns() - t0, n);
		atomic_store_explicit(&t->now, engine_now(e), memory_order_release);
		atomic_fetch_add_explicit(&t->periods, 1, memory_order_release);
		wake_consumers(t, events0, reports0, memory0, engine_now(e));
		if (t->feeder)
			script_feeder_poke(t->feeder, false);
		rt_mark_end();
		if (t->cfg.link) {
			link_read(t, &reading);
			link_heard_read(&t->heard, now, reading.clock_us, reading.ok,
					reading.delay_frames);
		}

		err = audio_alsa_write(t->pcm, n);
		if (err < 0) {
			if (!ride_out(t, err, &ending))
				return ending;
		} else {
			t->stalls_in_a_row = 0; /* a period went through */
		}
		if (t->keeper)
			keeper_service(t->keeper);
	}
	return AUDIO_ENDED_STOPPED;
}

static void *audio_main(void *arg)
{
	struct audio_thread *t = arg;
	prefault_stack();
	int policy;
	struct sched_param sp;
	atomic_store(&t->realtime,
		     pthread_getschedparam(pthread_self(), &policy, &sp) == 0 &&
			 policy == SCHED_FIFO);
	atomic_store(&t->ending, duplex_loop(t));
	atomic_store(&t->running, false);
	wake_signal(t->cfg.wake_events); /* the supervisor sees it ended */
	return NULL;
}

/* ---- the non-real-time side --------------------------------------------- */

/* errno, as pthread_create gives it (EPERM: SCHED_FIFO refused). */
static int spawn(struct audio_thread *t, bool realtime)
{
	struct thread_spec spec = {.name = "gl-audio",
				   .priority = realtime ? t->cfg.priority : 0,
				   .stack_bytes = AUDIO_STACK_BYTES};
	atomic_store(&t->running, true);
	int rc = thread_start(&t->thread, &spec, audio_main, t);
	if (rc)
		atomic_store(&t->running, false);
	return -rc;
}

int audio_thread_start(struct audio_thread *t, struct audio_alsa *pcm, bool *rt_refused,
		       char *err, size_t errlen)
{
	t->pcm = pcm;
	atomic_store(&t->stop, false);
	if (t->cfg.link) {
		struct audio_alsa_setup su;
		audio_alsa_get_setup(pcm, &su);
		uint32_t queued = su.buffer_frames > t->cfg.period
				      ? su.buffer_frames - t->cfg.period
				      : 0;
		t->link_nominal_us = (int64_t)queued * 1000000 / t->cfg.rate;
		/* A delay of more than a second is no device's. */
		link_heard_init(&t->heard, t->cfg.rate, t->link_nominal_us, t->cfg.rate);
		link_sync_init(&t->sync, t->cfg.link_leads, t->cfg.link_start_stop);
	}
	*rt_refused = false;
	int rc = spawn(t, true);
	if (rc == EPERM) {
		*rt_refused = true;
		if (t->cfg.require_rt) {
			snprintf(err, errlen,
				 "real-time scheduling refused (SCHED_FIFO "
				 "priority %d: EPERM) and require_rt is set: not "
				 "running. Allow it (LimitRTPRIO=95, or rtprio in "
				 "limits.conf)",
				 t->cfg.priority);
			return -EPERM;
		}
		rc = spawn(t, false);
	}
	if (rc) {
		snprintf(err, errlen, "cannot start the audio thread: %s", strerror(rc));
		return -rc;
	}
	t->started = true;
	return 0;
}

void audio_thread_request_stop(struct audio_thread *t)
{
	atomic_store(&t->stop, true);
}

enum audio_ending audio_thread_join(struct audio_thread *t)
{
	if (t->started) {
		pthread_join(t->thread, NULL);
		t->started = false;
	}
	return (enum audio_ending)atomic_load(&t->ending);
}

int audio_lock_memory(void)
{
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno; /* EPERM, ENOMEM: RLIMIT_MEMLOCK */
	/* A kernel before MCL_ONFAULT (4.4). */
	return mlockall(MCL_CURRENT) == 0 ? 0 : -errno;
}
