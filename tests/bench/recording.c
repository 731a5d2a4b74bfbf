/* recording.c -- `make bench`: what recording one long take costs the
 * real-time thread, for gridloop's recording memory and for a reference
 * design, measured in the same run.
 *
 * The engine runs faster than real time at 48 kHz in 64-frame periods on
 * this program's main thread. Seven tracks play loops recorded through the
 * engine itself; track 7 records one stereo take, with its input monitoring
 * on, for 1, 10 and 60 minutes of audio. (One clip plays per track, so the
 * recording track cannot play a loop too: 7 playing + 1 recording.) The
 * keeper gives the take its memory from its own thread, as in the program.
 *
 * The reference design (the "reference recorder" section below) is Luppp's
 * periodic buffer replacement: a low-priority thread allocates a buffer one
 * second bigger than the current one, and at its arrival the real-time
 * thread copies the whole take into it and switches; the real-time work of
 * a regrow grows with the take. It records the same input in the same
 * period loop, with the engine doing everything but the recording, so both
 * designs are timed doing the same work.
 *
 * Only engine_process() (plus the reference's record call) is timed, per
 * period, with CLOCK_MONOTONIC. A control times a fixed computation of the
 * same length the same way, without the engine: on a shared or virtual
 * machine the max of millions of periods is mostly the machine's, and the
 * control says how much. Figures only, no pass/fail. Options (for trying
 * things out; `make bench` wants the defaults):
 *   --minutes LIST            takes recorded by gridloop (default 1,10,60)
 *   --reference-minutes LIST  takes recorded by the reference (default 1,10)
 *   --markdown FILE           also write the figure tables as markdown
 * Takes are rounded to whole bars (2 s). The key: value lines at the end name
 * the first and the last take of each list.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clipmem.h"
#include "engine.h"
#include "keeper.h"
#include "spsc.h"

#define RATE		48000
#define PERIOD		64
#define IN_CH		16 /* eight stereo tracks: track t on channels 2t, 2t+1 */
#define LOOP_TRACKS	7
#define LOOP_SCENE	0
#define REC_TRACK	7
#define REC_SCENE	1
#define TEMPO		120.0
#define BAR		96000	     /* frames of a 4/4 bar at 120 BPM */
#define LATENCY		(2 * PERIOD) /* the program's default: two periods */
#define GROW		RATE	     /* 1 s: the program's default, and Luppp's */
#define SETUP_END	(4 * BAR)    /* loops recorded (1 and 2 bars), playing */
#define TAKE_START	(6 * BAR)    /* after two bars of warm-up */
#define INPUT_PERIODS	750	     /* one second of input, played round */
#define MINUTE		(60 * RATE)
#define RT_PRIORITY	80 /* the program's default */
#define MAX_TAKES	8
#define WAIT_GIVE_UP_NS 20000000000LL /* a keeper 20 s late is broken, not slow */

static const double budget_us = 1e6 * PERIOD / RATE;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Thread CPU time: it stands still while the thread is not running
 * (preempted, interrupted, or its CPU taken by the hypervisor where the
 * kernel accounts steal). Read outside the wall-clock window, never in it:
 * it is a system call here. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nap_us(long us)
{
	struct timespec ts = {us / 1000000, us % 1000000 * 1000};
	nanosleep(&ts, NULL);
}

static long thread_minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

/* Memory for the reference, faulted in as the keeper does its chunks: every
 * page written (a read would map the zero page and the first write on the
 * real-time thread would still fault); MAP_POPULATE first only because it
 * is quicker for buffers of hundreds of MB. Locked by mlockall(MCL_FUTURE)
 * when that was permitted. */
static void *map_ready(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	for (size_t off = 0; off < bytes; off += page)
		((volatile char *)p)[off] = 0;
	return p;
}

/* ---- reference recorder ---------------------------------------------------
 * Luppp's LooperClip, reduced to its memory handling: the take is one
 * buffer (interleaved stereo here), 1 s to begin with. When less than 1 s is
 * left the real-time side asks for (current size + 1 s); the low-priority
 * thread allocates it, faults it in and hands it over; the real-time side
 * copies the take so far into it, switches, and hands the old one back to be
 * freed. The copy is one memcpy (Luppp copies sample by sample), the most
 * favourable form for the reference. Not part of the product. */

struct ref_msg {
	float *buf;
	int64_t frames;
};

struct ref_recorder {
	/* Real-time side. */
	float *buf;
	int64_t cap, written;
	bool asked;
	int first_channel;
	uint64_t copied_bytes, switches;
	uint64_t overruns; /* periods lost: the new buffer came too late */

	/* Between the threads: the project's lock-free queues, as the engine
	 * and the keeper use. */
	struct spsc asks;    /* rt -> lp: frames wanted */
	struct spsc fresh;   /* lp -> rt: a buffer of that size, ready */
	struct spsc retired; /* rt -> lp: to unmap */
	pthread_t thread;
	atomic_bool running, failed;
};

static int ref_init(struct ref_recorder *r, int first_channel)
{
	memset(r, 0, sizeof(*r));
	r->first_channel = first_channel;
	r->cap = GROW;
	r->buf = map_ready((size_t)r->cap * 2 * sizeof(float));
	if (!r->buf || spsc_init(&r->asks, 16, sizeof(struct ref_msg)) ||
	    spsc_init(&r->fresh, 16, sizeof(struct ref_msg)) ||
	    spsc_init(&r->retired, 16, sizeof(struct ref_msg)))
		return -1;
	return 0;
}

static void ref_unmap(const struct ref_msg *m)
{
	if (m->buf)
		munmap(m->buf, (size_t)m->frames * 2 * sizeof(float));
}

static void *ref_main(void *arg)
{
	struct ref_recorder *r = arg;
	while (atomic_load_explicit(&r->running, memory_order_acquire)) {
		struct ref_msg m;
		int did = 0;
		while (spsc_pop(&r->retired, &m)) {
			ref_unmap(&m);
			did++;
		}
		while (spsc_pop(&r->asks, &m)) {
			m.buf = map_ready((size_t)m.frames * 2 * sizeof(float));
			if (!m.buf)
				atomic_store(&r->failed, true);
			else
				spsc_push(&r->fresh, &m);
			did++;
		}
		if (!did)
			nap_us(2000); /* the keeper's default poll interval */
	}
	return NULL;
}

/* Called while this thread is SCHED_OTHER: the new thread inherits it. */
static int ref_start(struct ref_recorder *r)
{
	atomic_store(&r->running, true);
	return pthread_create(&r->thread, NULL, ref_main, r);
}

static void ref_stop_and_free(struct ref_recorder *r)
{
	atomic_store_explicit(&r->running, false, memory_order_release);
	pthread_join(r->thread, NULL);
	struct ref_msg m;
	while (spsc_pop(&r->retired, &m) || spsc_pop(&r->fresh, &m))
		ref_unmap(&m);
	m = (struct ref_msg){r->buf, r->cap};
	ref_unmap(&m);
	spsc_free(&r->asks);
	spsc_free(&r->fresh);
	spsc_free(&r->retired);
}

/* The real-time call: one period of the track's input into the take. */
static void ref_record(struct ref_recorder *r, const float *in, uint32_t frames)
{
	struct ref_msg m;
	if (spsc_pop(&r->fresh, &m)) {
		/* The O(n) step: the whole take so far, on the real-time thread. */
		size_t bytes = (size_t)r->written * 2 * sizeof(float);
		memcpy(m.buf, r->buf, bytes);
		r->copied_bytes += bytes;
		r->switches++;
		struct ref_msg old = {r->buf, r->cap};
		spsc_push(&r->retired, &old);
		r->buf = m.buf;
		r->cap = m.frames;
		r->asked = false;
	}
	if (r->written + frames > r->cap) {
		r->overruns++;
		return;
	}
	float *dst = r->buf + r->written * 2;
	for (uint32_t i = 0; i < frames; i++) {
		dst[2 * i] = in[i * IN_CH + r->first_channel];
		dst[2 * i + 1] = in[i * IN_CH + r->first_channel + 1];
	}
	r->written += frames;
	if (!r->asked && r->cap - r->written < GROW) {
		struct ref_msg ask = {NULL, r->cap + GROW};
		r->asked = spsc_push(&r->asks, &ask);
	}
}

/* ---- figures -------------------------------------------------------------- */

struct stats {
	double mean_us, p99_us, p999_us, max_us;
	uint64_t over5; /* periods over 5 % of the budget */
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static void stats_of(const uint32_t *ns, size_t n, uint32_t *scratch, struct stats *s)
{
	memset(s, 0, sizeof(*s));
	if (!n)
		return;
	double sum = 0;
	uint32_t max = 0;
	for (size_t i = 0; i < n; i++) {
		sum += ns[i];
		if (ns[i] > max)
			max = ns[i];
		if (ns[i] > budget_us * 1000 * 0.05)
			s->over5++;
	}
	memcpy(scratch, ns, n * sizeof(*ns));
	qsort(scratch, n, sizeof(*scratch), cmp_u32);
	s->mean_us = sum / (double)n / 1000;
	s->p99_us = scratch[(size_t)ceil(0.99 * (double)n) - 1] / 1000.0;
	s->p999_us = scratch[(size_t)ceil(0.999 * (double)n) - 1] / 1000.0;
	s->max_us = max / 1000.0;
}

/* CONTROL: no engine, a fixed computation as long as the engine's mean
 * period, timed the same way: what this machine alone adds to a max. */
enum design { GRIDLOOP, REFERENCE, CONTROL };

static const char *design_name(enum design d)
{
	return d == GRIDLOOP ? "gridloop" : d == REFERENCE ? "reference" : "control";
}

struct result {
	enum design design;
	double minutes;
	int64_t periods;
	struct stats all, last;		      /* the whole take; its last minute */
	double regrow_mean_us, regrow_max_us; /* periods that took new memory */
	double cpu_max_us, regrow_cpu_max_us; /* the same, in thread CPU time */
	uint64_t regrows;
	long minflt;		 /* real-time thread, over the take */
	int64_t unused_max;	 /* bytes committed, not yet written */
	int64_t waste_after;	 /* bytes mapped past the end, once it ended */
	int64_t length;		 /* frames of the finished take */
	uint64_t audio_copied;	 /* bytes of audio copied on the real-time thread */
	uint64_t pointer_copied; /* keeper: chunk-table pointer bytes */
	uint64_t errors, lost_periods;
	uint64_t waits;
	double wait_s, wall_s;
	bool ok;
	char why[200];
};

struct bench {
	float *input; /* INPUT_PERIODS periods of IN_CH channels */
	uint32_t *ns, *scratch;
	int64_t ns_cap;
	bool fifo, fifo_tried;
	char fifo_why[120];
	char mlock_why[120];
	bool keeper_lock_failed;
	uint64_t rested_at;
	char load_start[64], load_end[64]; /* /proc/loadavg */
};

/* Faster than real time the real-time thread would hold its CPU all the
 * time, which it never does in real time (a few us of every 1333). Linux
 * then runs starved ordinary threads for up to 50 ms a second (the fair
 * server; RT throttling before it), right through a timed period. Resting
 * a fifth of the time, off the clock, keeps that artefact out. */
static void rest(struct bench *b)
{
	uint64_t t = now_ns();
	if (t - b->rested_at > 2000000) {
		nap_us(500);
		b->rested_at = now_ns();
	}
}

/* Noise, a different stream per channel, -20 dBFS or so. */
static void make_input(float *in)
{
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < (size_t)INPUT_PERIODS * PERIOD * IN_CH; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		in[i] = ((float)(x >> 8) / 16777216.0f - 0.5f) * 0.2f;
	}
}

static const float *input_at(const struct bench *b, int64_t frame)
{
	return b->input + (size_t)(frame / PERIOD % INPUT_PERIODS) * PERIOD * IN_CH;
}

/* The main thread runs real-time only while it runs the engine: threads it
 * creates (keeper, reference) would inherit the policy otherwise. */
static void realtime(struct bench *b, bool on)
{
	if (on && b->fifo_tried && !b->fifo)
		return;
	struct sched_param sp = {.sched_priority = on ? RT_PRIORITY : 0};
	int rc =
	    pthread_setschedparam(pthread_self(), on ? SCHED_FIFO : SCHED_OTHER, &sp);
	if (on && !b->fifo_tried) {
		b->fifo_tried = true;
		b->fifo = rc == 0;
		if (rc)
			snprintf(b->fifo_why, sizeof(b->fifo_why),
				 "SCHED_FIFO refused (%s): timed as SCHED_OTHER",
				 strerror(rc));
		else
			snprintf(b->fifo_why, sizeof(b->fifo_why), "SCHED_FIFO %d",
				 RT_PRIORITY);
	}
}

static void engine_cfg(struct engine_config *cfg)
{
	engine_config_defaults(cfg, RATE);
	cfg->max_period = PERIOD;
	cfg->input_channels = IN_CH;
	for (int t = 0; t < GL_TRACKS; t++)
		cfg->track_input[t] =
		    (struct track_input){.first_channel = (uint8_t)(2 * t), .stereo = 1};
	cfg->latency_frames = LATENCY;
	cfg->grow_frames = GROW;
	cfg->tempo = TEMPO;
}

static float out_buf[PERIOD * GL_OUT_CH];

/* Events: errors are counted; the take's EV_RECORD_DONE gives its length. */
static void drain_events(struct engine *e, struct result *res, int *loops_done,
			 bool *take_done)
{
	struct event ev;
	while (spsc_pop(engine_events(e), &ev)) {
		if (ev.type == EV_ERROR && res->errors++ == 0)
			snprintf(res->why, sizeof(res->why),
				 "engine error %d on track %d scene %d at frame %" PRId64,
				 (int)ev.value, ev.track, ev.scene, ev.frame);
		if (ev.type != EV_RECORD_DONE)
			continue;
		if (ev.track == REC_TRACK && ev.scene == REC_SCENE) {
			*take_done = true;
			res->length = ev.value;
		} else if (ev.scene == LOOP_SCENE) {
			(*loops_done)++;
		}
	}
}

/* The loops, recorded through the engine itself: tracks 0..6 record from
 * frame 0, the even ones for one bar, the odd ones for two, then play. The
 * keeper is served between periods here (not timed, not measured). */
static bool setup_loops(struct bench *b, struct engine *e, struct keeper *k,
			struct result *res)
{
	for (int t = 0; t < LOOP_TRACKS; t++) {
		engine_send(e, SOURCE_SCRIPT, CMD_PRESS, t, LOOP_SCENE, 0, 0);
		engine_send(e, SOURCE_SCRIPT, CMD_PRESS, t, LOOP_SCENE, 0,
			    t % 2 ? BAR + BAR / 2 : BAR / 2);
	}
	engine_send(e, SOURCE_SCRIPT, CMD_MONITOR, REC_TRACK, 0, 1, 0);
	int loops_done = 0;
	bool take_done = false;
	while (engine_now(e) < SETUP_END) {
		engine_process(e, input_at(b, engine_now(e)), out_buf, PERIOD);
		keeper_service(k);
		drain_events(e, res, &loops_done, &take_done);
	}
	for (int t = 0; t < LOOP_TRACKS; t++)
		if (engine_clip_state(e, t, LOOP_SCENE) != CLIP_PLAYING ||
		    engine_clip_length(e, t, LOOP_SCENE) != (t % 2 ? 2 : 1) * BAR) {
			snprintf(res->why, sizeof(res->why),
				 "setup: loop on track %d not playing", t);
			return false;
		}
	return loops_done == LOOP_TRACKS && res->errors == 0;
}

/* The engine must not outrun the keeper: in real time a period lasts
 * 1.33 ms and the keeper has the whole lead (a quarter second) to answer;
 * here periods take microseconds. So when half the lead is gone and the
 * answer is not in the reply queue yet, wait for it, off the clock. */
static void pace(struct spsc *replies, bool (*gave_up)(void *), void *arg,
		 struct result *res)
{
	uint64_t t0 = now_ns();
	res->waits++;
	while (spsc_count(replies) == 0 && !(gave_up && gave_up(arg)) &&
	       now_ns() - t0 < (uint64_t)WAIT_GIVE_UP_NS)
		nap_us(20);
	res->wait_s += (double)(now_ns() - t0) / 1e9;
}

static bool ref_failed(void *arg)
{
	return atomic_load(&((struct ref_recorder *)arg)->failed);
}

static void run_take(struct bench *b, enum design d, double minutes, struct result *res)
{
	memset(res, 0, sizeof(*res));
	res->design = d;
	res->minutes = minutes;
	const int64_t take = (int64_t)llround(minutes * MINUTE / BAR) * BAR;
	const int64_t t_start = TAKE_START, t_end = TAKE_START + take;
	res->periods = take / PERIOD;
	uint64_t wall0 = now_ns();

	struct engine_config cfg;
	engine_cfg(&cfg);
	const char *why = "?";
	struct engine *e = engine_create(&cfg, &why);
	struct keeper_config kc;
	keeper_config_defaults(&kc); /* locks memory, polls every 2 ms */
	struct keeper *k = e ? keeper_create(e, &kc, &why) : NULL;
	if (!k) {
		snprintf(res->why, sizeof(res->why), "engine/keeper: %s", why);
		engine_destroy(e);
		return;
	}
	struct ref_recorder ref;
	bool ref_on = false;
	if (!setup_loops(b, e, k, res))
		goto out;
	if (keeper_start(k)) {
		snprintf(res->why, sizeof(res->why), "keeper_start failed");
		goto out;
	}
	if (d == REFERENCE) {
		if (ref_init(&ref, 2 * REC_TRACK) || ref_start(&ref)) {
			snprintf(res->why, sizeof(res->why), "reference: no memory");
			goto out;
		}
		ref_on = true;
	} else {
		engine_send(e, SOURCE_SCRIPT, CMD_PRESS, REC_TRACK, REC_SCENE, 0,
			    t_start);
		engine_send(e, SOURCE_SCRIPT, CMD_PRESS, REC_TRACK, REC_SCENE, 0, t_end);
	}

	realtime(b, true);
	int loops_done = 0;
	bool take_done = false;
	/* Warm-up: the seven loops and the monitoring, keeper on its thread. */
	while (engine_now(e) < t_start) {
		engine_process(e, input_at(b, engine_now(e)), out_buf, PERIOD);
		drain_events(e, res, &loops_done, &take_done);
		rest(b);
	}

	struct spsc *replies = engine_memory_replies(e);
	const int64_t lead_bytes = clipmem_lead_frames(GROW) * 2 * (int64_t)sizeof(float);
	uint32_t *ns = b->ns;
	uint64_t regrow_max = 0, regrow_sum = 0, cpu_max = 0, regrow_cpu_max = 0;
	long flt0 = thread_minflt();
	for (int64_t p = 0; p < res->periods; p++) {
		const float *in = input_at(b, engine_now(e));
		bool regrow;
		uint64_t t0, t1, c0, c1;
		if (d == GRIDLOOP) {
			regrow = spsc_count(replies) > 0; /* adopted in this period */
			c0 = cpu_ns();
			t0 = now_ns();
			engine_process(e, in, out_buf, PERIOD);
			t1 = now_ns();
			c1 = cpu_ns();
		} else {
			regrow = spsc_count(&ref.fresh) > 0; /* copied in this period */
			c0 = cpu_ns();
			t0 = now_ns();
			engine_process(e, in, out_buf, PERIOD);
			ref_record(&ref, in, PERIOD);
			t1 = now_ns();
			c1 = cpu_ns();
		}
		uint64_t dt = t1 - t0, dc = c1 - c0;
		if (dc > cpu_max)
			cpu_max = dc;
		ns[p] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
		if (regrow) {
			res->regrows++;
			regrow_sum += dt;
			if (dt > regrow_max)
				regrow_max = dt;
			if (dc > regrow_cpu_max)
				regrow_cpu_max = dc;
		}
		/* Off the clock: events, memory figures, pacing. */
		drain_events(e, res, &loops_done, &take_done);
		if (d == GRIDLOOP) {
			int64_t unused = engine_unused_recording_bytes(e);
			if (unused > res->unused_max)
				res->unused_max = unused;
			if (engine_now(e) < t_end && unused < lead_bytes / 2 &&
			    spsc_count(replies) == 0)
				pace(replies, NULL, NULL, res);
		} else {
			int64_t unused =
			    (ref.cap - ref.written) * 2 * (int64_t)sizeof(float);
			if (unused > res->unused_max)
				res->unused_max = unused;
			if (ref.asked && ref.cap - ref.written < GROW / 2 &&
			    spsc_count(&ref.fresh) == 0)
				pace(&ref.fresh, ref_failed, &ref, res);
		}
		rest(b);
	}
	res->minflt = thread_minflt() - flt0;
	res->regrow_max_us = regrow_max / 1000.0;
	res->cpu_max_us = cpu_max / 1000.0;
	res->regrow_cpu_max_us = regrow_cpu_max / 1000.0;
	res->regrow_mean_us = res->regrows ? (double)regrow_sum / res->regrows / 1000 : 0;

	/* The end: gridloop's take is final two periods later (latency), then
	 * the keeper trims it. */
	if (d == GRIDLOOP) {
		for (int i = 0; i < 1000 && !take_done; i++) {
			engine_process(e, input_at(b, engine_now(e)), out_buf, PERIOD);
			drain_events(e, res, &loops_done, &take_done);
		}
	}
	realtime(b, false);
	if (d == GRIDLOOP) {
		/* keeper_stop() lets the keeper finish what it popped. */
		for (int i = 0; i < 100000 && spsc_count(engine_memory_requests(e)); i++)
			nap_us(100);
		keeper_stop(k);
		struct keeper_stats ks;
		keeper_get_stats(k, &ks);
		res->pointer_copied = ks.pointer_bytes_copied;
		b->keeper_lock_failed |= ks.lock_failed;
		res->audio_copied = 0; /* no code path copies audio (keeper.h) */
		res->waste_after = (int64_t)keeper_clip_bytes(k, REC_TRACK, REC_SCENE) -
				   res->length * 2 * (int64_t)sizeof(float);
		if (!take_done)
			snprintf(res->why, sizeof(res->why), "the take never finished");
	} else {
		res->length = ref.written;
		res->audio_copied = ref.copied_bytes;
		res->regrows = ref.switches;
		res->lost_periods = ref.overruns;
		res->waste_after = (ref.cap - ref.written) * 2 * (int64_t)sizeof(float);
		take_done = ref.written == take && !ref.overruns;
		if (!take_done)
			snprintf(res->why, sizeof(res->why),
				 "reference lost %" PRIu64 " periods%s", ref.overruns,
				 atomic_load(&ref.failed) ? " (out of memory)" : "");
	}

	stats_of(ns, (size_t)res->periods, b->scratch, &res->all);
	int64_t last = res->periods < MINUTE / PERIOD ? res->periods : MINUTE / PERIOD;
	stats_of(ns + res->periods - last, (size_t)last, b->scratch, &res->last);
	res->ok = take_done && res->length == take && res->errors == 0;
	if (res->ok && res->why[0] == 0)
		snprintf(res->why, sizeof(res->why), "ok");
out:
	realtime(b, false);
	keeper_stop(k);
	if (ref_on)
		ref_stop_and_free(&ref);
	keeper_destroy(k);
	engine_destroy(e);
	res->wall_s = (double)(now_ns() - wall0) / 1e9;
}

static volatile float control_sink;

/* A serial chain of multiply-adds: fixed work, not optimised away. */
static __attribute__((noinline)) void fixed_work(int iters)
{
	float acc = 0;
	for (int i = 0; i < iters; i++)
		acc = acc * 0.999f + (float)i;
	control_sink = acc;
}

/* Iterations of fixed_work() that take about target_us here. */
static int calibrate(double target_us)
{
	int iters = 1000;
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 2000; i++) {
		uint64_t t0 = now_ns();
		fixed_work(iters);
		uint64_t dt = now_ns() - t0;
		best = dt < best ? dt : best;
	}
	double n = target_us * 1000 / ((double)best / iters);
	return n < 1 ? 1 : (int)n;
}

static void run_control(struct bench *b, double minutes, int iters, struct result *res)
{
	memset(res, 0, sizeof(*res));
	res->design = CONTROL;
	res->minutes = minutes;
	res->periods = (int64_t)llround(minutes * MINUTE / BAR) * BAR / PERIOD;
	uint64_t wall0 = now_ns();
	realtime(b, true);
	long flt0 = thread_minflt();
	uint64_t cpu_max = 0;
	for (int64_t p = 0; p < res->periods; p++) {
		uint64_t c0 = cpu_ns();
		uint64_t t0 = now_ns();
		fixed_work(iters);
		uint64_t dt = now_ns() - t0;
		uint64_t dc = cpu_ns() - c0;
		b->ns[p] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
		cpu_max = dc > cpu_max ? dc : cpu_max;
		rest(b);
	}
	res->cpu_max_us = cpu_max / 1000.0;
	res->minflt = thread_minflt() - flt0;
	realtime(b, false);
	stats_of(b->ns, (size_t)res->periods, b->scratch, &res->all);
	int64_t last = res->periods < MINUTE / PERIOD ? res->periods : MINUTE / PERIOD;
	stats_of(b->ns + res->periods - last, (size_t)last, b->scratch, &res->last);
	res->ok = true;
	snprintf(res->why, sizeof(res->why), "ok");
	res->wall_s = (double)(now_ns() - wall0) / 1e9;
}

/* ---- output --------------------------------------------------------------- */

static void print_timing(FILE *f, bool md, const struct result *r)
{
	if (md)
		fprintf(f,
			"| %s | %g min | %" PRId64
			" | %.2f | %.2f | %.2f | %.2f | %.2f %% "
			"| %.2f | %.2f | %" PRIu64 " | %.2f | %.2f | %.2f | %" PRIu64
			" | %ld |\n",
			design_name(r->design), r->minutes, r->periods, r->all.mean_us,
			r->all.p99_us, r->all.p999_us, r->all.max_us,
			100 * r->all.max_us / budget_us, r->last.max_us, r->cpu_max_us,
			r->regrows, r->regrow_mean_us, r->regrow_max_us,
			r->regrow_cpu_max_us, r->all.over5, r->minflt);
	else
		fprintf(f,
			"%-9s %5g %8" PRId64 " %6.2f %6.2f %6.2f %9.2f %8.2f%% %8.2f "
			"%8.2f %6" PRIu64 " %7.2f %8.2f %8.2f %6" PRIu64 " %5ld\n",
			design_name(r->design), r->minutes, r->periods, r->all.mean_us,
			r->all.p99_us, r->all.p999_us, r->all.max_us,
			100 * r->all.max_us / budget_us, r->last.max_us, r->cpu_max_us,
			r->regrows, r->regrow_mean_us, r->regrow_max_us,
			r->regrow_cpu_max_us, r->all.over5, r->minflt);
}

static void print_memory(FILE *f, bool md, const struct result *r)
{
	if (md)
		fprintf(f,
			"| %s | %g min | %" PRId64 " | %" PRId64 " | %" PRId64
			" | %" PRIu64 " | %" PRIu64 " | %.2f | %.1f | %" PRIu64
			" | %s |\n",
			design_name(r->design), r->minutes, r->length, r->unused_max,
			r->waste_after, r->audio_copied, r->pointer_copied, r->wait_s,
			r->wall_s, r->errors, r->why);
	else
		fprintf(f,
			"%-9s %5g %10" PRId64 " %10" PRId64 " %11" PRId64 " %15" PRIu64
			" %8" PRIu64 " %6.2f %6.1f %6" PRIu64 "  %s\n",
			design_name(r->design), r->minutes, r->length, r->unused_max,
			r->waste_after, r->audio_copied, r->pointer_copied, r->wait_s,
			r->wall_s, r->errors, r->why);
}

static void print_tables(FILE *f, bool md, const struct result *rs, int n)
{
	if (md)
		fprintf(f, "| design | take | periods | mean us | p99 us | p99.9 us | "
			   "max us | max, of budget | last-minute max us | CPU-time "
			   "max us | regrow periods | regrow mean us | regrow max us | "
			   "regrow CPU-time max us | periods > 5 %% | RT minor faults "
			   "|\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
			   "---|---|\n");
	else
		fprintf(f, "times in us          |-- per period, wall clock -------"
			   "------------------------|  CPU   |-- regrow periods -------"
			   "-------|\n"
			   "design     min  periods   mean    p99  p99.9       max  "
			   "%%budget last-min      max  count    mean      max  CPU max "
			   ">5%%bud RTflt\n");
	for (int i = 0; i < n; i++)
		print_timing(f, md, &rs[i]);
	fprintf(f, "\n");
	if (md)
		fprintf(f, "| design | take | frames | max unused bytes while recording "
			   "| bytes wasted after the end | audio bytes copied on the RT "
			   "thread | pointer bytes copied (keeper) | pacing wait s | "
			   "wall s | errors | status |\n"
			   "|---|---|---|---|---|---|---|---|---|---|---|\n");
	else
		fprintf(f, "design     min     frames unused-max waste-after "
			   "RT-audio-copied ptr-copy wait s wall s errors status\n");
	for (int i = 0; i < n; i++)
		if (rs[i].design != CONTROL)
			print_memory(f, md, &rs[i]);
}

static void print_setup(FILE *f, const struct bench *b)
{
	fprintf(f,
		"gridloop recording benchmark: %d Hz, %d-frame periods (budget %.1f us), "
		"faster than real time\n"
		"measured: 7 clips playing (tracks 0-6, stereo loops of 1 and 2 bars at "
		"%.0f BPM) + 1 stereo take recording on track %d (scene %d) with input "
		"monitoring on track %d; %d input channels, latency %d frames\n"
		"timed: each period's engine_process() (reference: engine_process() with "
		"no engine recording + the reference's record call), CLOCK_MONOTONIC\n"
		"machine: %ld CPUs online; load average %s at the start, %s at the "
		"end\n"
		"real-time thread (this program's main thread): %s; %s\n"
		"keeper: own thread, default config (1 s growth, 2 ms poll), chunk "
		"mlock %s\n"
		"warm-up: 4 s recording the loops (keeper served inline), then 4 s "
		"of playback with the keeper on its thread; then the take, measured "
		"whole (faults: getrusage RUSAGE_THREAD ru_minflt over the take)\n"
		"pacing: when half the lead is gone and memory has not arrived, the "
		"engine waits off the clock (in real time a period lasts %.2f ms); "
		"after each 2 ms of work it rests 0.5 ms off the clock\n\n",
		RATE, PERIOD, budget_us, TEMPO, REC_TRACK, REC_SCENE, REC_TRACK, IN_CH,
		LATENCY, sysconf(_SC_NPROCESSORS_ONLN), b->load_start, b->load_end,
		b->fifo_why, b->mlock_why, b->keeper_lock_failed ? "REFUSED" : "ok",
		budget_us / 1000);
}

/* The 1, 5 and 15 minute load averages: other work on the machine shows up
 * in every max (and in the control's). */
static void read_load(char *dst, size_t size)
{
	FILE *f = fopen("/proc/loadavg", "r");
	float a = 0, b = 0, c = 0;
	if (f && fscanf(f, "%f %f %f", &a, &b, &c) == 3)
		snprintf(dst, size, "%.2f %.2f %.2f", a, b, c);
	else
		snprintf(dst, size, "unknown");
	if (f)
		fclose(f);
}

static int parse_list(const char *s, double *out)
{
	int n = 0;
	while (*s && n < MAX_TAKES) {
		char *end;
		double v = strtod(s, &end);
		if (end == s || v <= 0)
			return -1;
		out[n++] = v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return n;
}

/* Stack the timed loop will use, faulted in before it runs. */
static __attribute__((noinline)) void prefault_stack(void)
{
	volatile unsigned char stack[256 * 1024];
	for (size_t i = 0; i < sizeof(stack); i += 4096)
		stack[i] = 0;
}

int main(int argc, char **argv)
{
	double mins[MAX_TAKES] = {1, 10, 60}, refmins[MAX_TAKES] = {1, 10};
	int nmins = 3, nref = 2;
	const char *markdown = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--minutes") && i + 1 < argc)
			nmins = parse_list(argv[++i], mins);
		else if (!strcmp(argv[i], "--reference-minutes") && i + 1 < argc)
			nref = parse_list(argv[++i], refmins);
		else if (!strcmp(argv[i], "--markdown") && i + 1 < argc)
			markdown = argv[++i];
		else
			nmins = -1;
		if (nmins < 1 || nref < 0) {
			fprintf(stderr,
				"usage: %s [--minutes 1,10,60] "
				"[--reference-minutes 1,10] [--markdown FILE]\n",
				argv[0]);
			return 2;
		}
	}

	static struct bench b;
	/* As the program does (audio_lock_memory), before anything is big. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0)
		snprintf(b.mlock_why, sizeof(b.mlock_why),
			 "mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT) ok");
	else
		snprintf(b.mlock_why, sizeof(b.mlock_why),
			 "mlockall refused (%s): memory not locked", strerror(errno));
	prefault_stack();
	read_load(b.load_start, sizeof(b.load_start));

	double longest = 0;
	for (int i = 0; i < nmins; i++)
		longest = mins[i] > longest ? mins[i] : longest;
	for (int i = 0; i < nref; i++)
		longest = refmins[i] > longest ? refmins[i] : longest;
	b.ns_cap = (int64_t)llround(longest * MINUTE / BAR) * BAR / PERIOD;
	b.input = malloc((size_t)INPUT_PERIODS * PERIOD * IN_CH * sizeof(float));
	b.ns = malloc((size_t)b.ns_cap * sizeof(uint32_t));
	b.scratch = malloc((size_t)b.ns_cap * sizeof(uint32_t));
	if (!b.input || !b.ns || !b.scratch) {
		fprintf(stderr, "bench: out of memory\n");
		return 1;
	}
	make_input(b.input);
	/* Written now, so the timed loop never faults on its own arrays. Not
	 * with zeros: the compiler makes malloc + memset(0) a calloc, which
	 * leaves fresh pages untouched. */
	memset(b.ns, 0xff, (size_t)b.ns_cap * sizeof(uint32_t));
	memset(b.scratch, 0xff, (size_t)b.ns_cap * sizeof(uint32_t));

	struct result rs[2 * MAX_TAKES];
	int n = 0;
	for (int i = 0; i < nmins; i++) {
		run_take(&b, GRIDLOOP, mins[i], &rs[n]);
		fprintf(stderr, "bench: gridloop %g min: %s (%.1f s)\n", mins[i],
			rs[n].why, rs[n].wall_s);
		n++;
	}
	/* The control, as many periods as each gridloop take. */
	int iters = calibrate(rs[0].all.mean_us);
	for (int i = 0; i < nmins; i++) {
		run_control(&b, mins[i], iters, &rs[n]);
		fprintf(stderr, "bench: control %g min: %s (%.1f s)\n", mins[i],
			rs[n].why, rs[n].wall_s);
		n++;
	}
	for (int i = 0; i < nref; i++) {
		run_take(&b, REFERENCE, refmins[i], &rs[n]);
		fprintf(stderr, "bench: reference %g min: %s (%.1f s)\n", refmins[i],
			rs[n].why, rs[n].wall_s);
		n++;
	}

	read_load(b.load_end, sizeof(b.load_end));
	print_setup(stdout, &b);
	print_tables(stdout, false, rs, n);

	/* The keys: gridloop's first and last take, the reference's last. */
	const struct result *g1 = &rs[0], *gN = &rs[nmins - 1];
	const struct result *rN = nref ? &rs[n - 1] : NULL;
	const struct result *c1 = &rs[nmins], *cN = &rs[2 * nmins - 1];
	double worst_max = 0;
	long faults = 0;
	int64_t unused_max = 0, waste_after = 0;
	bool all_ok = true;
	for (int i = 0; i < nmins; i++) {
		worst_max = rs[i].all.max_us > worst_max ? rs[i].all.max_us : worst_max;
		faults += rs[i].minflt;
		unused_max =
		    rs[i].unused_max > unused_max ? rs[i].unused_max : unused_max;
		waste_after =
		    rs[i].waste_after > waste_after ? rs[i].waste_after : waste_after;
		all_ok &= rs[i].ok;
	}
	/* Real time, the reference switches every second and copies the take
	 * so far: sum over k < K of k seconds, K = the take in seconds. */
	const double bytes_per_s = (double)RATE * 2 * sizeof(float);
	double K60 = 60.0 * gN->minutes;
	double ref_est = bytes_per_s * K60 * (K60 - 1) / 2;
	printf("\nnotes: \"last-min\": the take's last minute only (as many periods as a "
	       "1-minute take); \"CPU\": the thread's CPU time in the period "
	       "(CLOCK_THREAD_CPUTIME_ID, read just outside the wall-clock window): it "
	       "stands still while this kernel preempts or interrupts the thread, so "
	       "a CPU max close to the wall max means the time was lost beneath the "
	       "kernel (the hypervisor, on a virtual machine) or to a slow memory "
	       "system, not to another thread;\n"
	       "\"regrow periods\": periods that took new memory (gridloop: a chunk "
	       "from the keeper; reference: a bigger buffer, the take copied into "
	       "it); control: no engine, a fixed computation as long as gridloop's "
	       "mean period, timed the same way for as many periods: the max this "
	       "machine adds by itself;\n"
	       "gridloop copies no audio when a take grows (chunk tables, keeper.h); "
	       "the reference's %g-minute total is computed, not run: "
	       "%.0f B/s x sum of k s for k < %.0f\n",
	       gN->minutes, bytes_per_s, K60);
	if (rN)
		printf("check of that formula at %g min: %.0f bytes, measured %" PRIu64
		       "\n",
		       rN->minutes,
		       bytes_per_s * (60 * rN->minutes) * (60 * rN->minutes - 1) / 2,
		       rN->audio_copied);
	printf("\n");

	if (markdown) {
		FILE *f = fopen(markdown, "w");
		if (f) {
			fprintf(f, "# gridloop recording benchmark\n\n```\n");
			print_setup(f, &b);
			fprintf(f, "```\n\n");
			print_tables(f, true, rs, n);
			fclose(f);
		} else {
			fprintf(stderr, "bench: %s: %s\n", markdown, strerror(errno));
		}
	}

	printf("rt_max_us_%gmin: %.2f\n", g1->minutes, g1->all.max_us);
	for (int i = 1; i < nmins - 1; i++)
		printf("rt_max_us_%gmin: %.2f\n", rs[i].minutes, rs[i].all.max_us);
	printf("rt_max_us_%gmin: %.2f\n", gN->minutes, gN->all.max_us);
	printf("rt_max_ratio_%gmin_vs_%gmin: %.3f\n", gN->minutes, g1->minutes,
	       g1->all.max_us > 0 ? gN->all.max_us / g1->all.max_us : 0);
	printf("rt_max_us_%gmin_last_minute: %.2f\n", gN->minutes, gN->last.max_us);
	printf("rt_cpu_max_us_%gmin: %.2f\n", g1->minutes, g1->cpu_max_us);
	printf("rt_cpu_max_us_%gmin: %.2f\n", gN->minutes, gN->cpu_max_us);
	printf("rt_regrow_max_us_%gmin: %.2f\n", g1->minutes, g1->regrow_max_us);
	printf("rt_regrow_max_us_%gmin: %.2f\n", gN->minutes, gN->regrow_max_us);
	printf("control_max_us_%gmin: %.2f\n", c1->minutes, c1->all.max_us);
	printf("control_max_us_%gmin: %.2f\n", cN->minutes, cN->all.max_us);
	printf("control_max_ratio_%gmin_vs_%gmin: %.3f\n", cN->minutes, c1->minutes,
	       c1->all.max_us > 0 ? cN->all.max_us / c1->all.max_us : 0);
	printf("rt_p99_us_%gmin: %.2f\n", gN->minutes, gN->all.p99_us);
	printf("rt_mean_us_%gmin: %.3f\n", gN->minutes, gN->all.mean_us);
	printf("rt_budget_pct_max: %.2f\n", 100 * worst_max / budget_us);
	printf("rt_page_faults_after_warmup: %ld\n", faults);
	printf("waste_bytes_max_while_recording: %" PRId64 "\n", unused_max);
	printf("waste_bytes_after_trim: %" PRId64 "\n", waste_after);
	if (rN) {
		for (int i = 2 * nmins; i < n; i++)
			printf("reference_rt_max_us_%gmin: %.2f\n", rs[i].minutes,
			       rs[i].all.max_us);
		printf("reference_copy_bytes_total_%gmin: %" PRIu64 "\n", rN->minutes,
		       rN->audio_copied);
	}
	printf("reference_copy_bytes_total_%gmin_estimate: %.0f\n", gN->minutes, ref_est);
	printf("copy_bytes_total_%gmin: %" PRIu64 "\n", gN->minutes, gN->audio_copied);
	printf("pointer_bytes_copied_%gmin: %" PRIu64 "\n", gN->minutes,
	       gN->pointer_copied);
	printf("rt_sched_fifo: %d\n", b.fifo ? 1 : 0);
	printf("all_takes_ok: %d\n", all_ok ? 1 : 0);
	free(b.input);
	free(b.ns);
	free(b.scratch);
	return all_ok ? 0 : 1;
}
