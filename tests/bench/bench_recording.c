/* bench_recording.c -- what a long recording costs the real-time thread.
 *
 * Drives the engine faster than real time at 48 kHz in 64-frame periods:
 * tracks 1-7 play one-bar loops, track 8 records a stereo take for 1, 10 and
 * 60 minutes of audio (with input monitoring on, so it is heard too), the
 * keeper on its own thread as in the program. For each run: time per period
 * (mean, p99, max; only engine_process() is timed; "quiet max" leaves out
 * periods in which the thread was switched out; and the periods that took a
 * new chunk, separately), minor page faults of
 * the real-time thread after warm-up (getrusage RUSAGE_THREAD), recording
 * memory committed but not yet written, and what trimming leaves. Then the
 * same, in the same process, for the reference design (reference_recorder.h:
 * the whole take copied on the real-time thread at every regrow).
 *
 * Faster than real time the engine could outrun the keeper, which in real
 * time has 1.3 ms per period: the loop waits, off the clock, until the
 * keeper has taken every request. It also sleeps now and then, off the
 * clock, so that the kernel's real-time throttling does not show up as a
 * 50 ms period (see breathe()). Figures, not assertions: the machine is
 * shared and noisy. Ends with `key: value` lines.
 */
#include "engine.h"
#include "keeper.h"
#include "wake.h"
#include "reference_recorder.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#define RATE	   48000
#define PERIOD	   64
#define BUDGET_US  (1e6 * PERIOD / RATE)
#define WARMUP_SEC 5
#define NOISE_LEN                                                                        \
	(RATE + 7) /* input: a second of noise, not a multiple of the period             \
		    */

struct figures {
	double minutes;
	double mean_us, p99_us, p999_us, max_us;
	double max_quiet_us; /* periods in which the thread was not switched out */
	long disturbed;
	double regrow_mean_us, regrow_max_us; /* periods that took a new chunk */
	long regrows;
	long faults;
	int64_t waste_max, waste_after_trim;
	uint64_t grows, pointer_bytes, copy_bytes;
	int64_t take_frames;
};

static float noise[NOISE_LEN * 2];
static uint32_t *period_ns; /* one per period of the longest run */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A SCHED_FIFO thread that never sleeps is throttled by the kernel
 * (sched_rt_runtime_us: 50 ms of every second) and its periods would show
 * that, not the engine. The real audio thread sleeps on the PCM; here the
 * loop sleeps 1 ms, off the clock, after every 5 ms of work. */
static void breathe(void)
{
	static uint64_t since;
	uint64_t t = now_ns();
	if (!since)
		since = t;
	if (t - since > 5000000) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		since = now_ns();
	}
}

static long thread_switches(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nivcsw + ru.ru_nvcsw;
}

static long thread_minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void summarise(struct figures *fig, size_t n)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += period_ns[i];
	qsort(period_ns, n, sizeof(period_ns[0]), cmp_u32);
	fig->mean_us = sum / (double)n / 1000.0;
	fig->p99_us = period_ns[(size_t)((double)n * 0.99)] / 1000.0;
	fig->p999_us = period_ns[(size_t)((double)n * 0.999)] / 1000.0;
	fig->max_us = period_ns[n - 1] / 1000.0;
}

/* A period in which the thread was switched out (the machine is shared)
 * is kept in the statistics but left out of the "quiet" maximum. */
static void note_period(struct figures *fig, size_t i, uint64_t ns, bool switched)
{
	period_ns[i] = (uint32_t)ns;
	if (switched)
		fig->disturbed++;
	else if (ns / 1000.0 > fig->max_quiet_us)
		fig->max_quiet_us = ns / 1000.0;
}

static void fill_input(float *in, int64_t t0)
{
	for (int i = 0; i < PERIOD; i++) {
		size_t k = (size_t)((t0 + i) % NOISE_LEN);
		in[2 * i] = noise[2 * k];
		in[2 * i + 1] = noise[2 * k + 1];
	}
}

static long memory_errors;

static void drain(struct engine *e, int64_t *done_len)
{
	struct event ev;
	while (spsc_pop(engine_events(e), &ev)) {
		if (ev.type == EV_RECORD_DONE && done_len)
			*done_len = ev.value;
		if (ev.type == EV_ERROR)
			memory_errors++;
	}
}

/* Off the clock: until the keeper has taken the requests and (for a grow)
 * answered, or a few ms have passed (some requests have no answer). */
static void wait_for_keeper(struct engine *e)
{
	if (!spsc_count(engine_memory_requests(e)))
		return;
	while (spsc_count(engine_memory_requests(e)))
		sched_yield();
	uint64_t give_up = now_ns() + 5000000;
	while (!spsc_count(engine_memory_replies(e)) && now_ns() < give_up)
		sched_yield();
}

/* An engine with one-bar loops playing on tracks 1-7 (recorded through the
 * engine itself, keeper served by hand), then the keeper thread started. */
static struct engine *setup(struct keeper **kp)
{
	struct engine_config cfg;
	engine_config_defaults(&cfg, RATE);
	cfg.max_period = PERIOD;
	cfg.input_channels = 2;
	cfg.tempo = 120;
	cfg.quantise = QUANTISE_OFF;
	for (int t = 0; t < GL_TRACKS; t++)
		cfg.track_input[t] =
		    (struct track_input){.first_channel = 0, .stereo = 1};
	const char *why = NULL;
	struct engine *e = engine_create(&cfg, &why);
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	struct keeper *k = e ? keeper_create(e, &kc, &why) : NULL;
	if (!k) {
		fprintf(stderr, "bench: %s\n", why);
		exit(1);
	}
	for (int t = 0; t < 7; t++) {
		engine_send(e, SOURCE_SCRIPT, CMD_PRESS, t, 0, 0, 1000 + t * 10);
		engine_send(e, SOURCE_SCRIPT, CMD_PRESS, t, 0, 0, 1000 + t * 10 + 96000);
	}
	engine_send(e, SOURCE_SCRIPT, CMD_MONITOR, 7, 0, 1, 0);
	float in[PERIOD * 2], out[PERIOD * 2];
	while (engine_now(e) < 2 * 96000) {
		fill_input(in, engine_now(e));
		engine_process(e, in, out, PERIOD);
		keeper_service(k);
		drain(e, NULL);
	}
	if (keeper_start(k)) {
		fprintf(stderr, "bench: cannot start the keeper thread\n");
		exit(1);
	}
	*kp = k;
	return e;
}

static void run_gridloop(struct figures *fig, double minutes)
{
	memset(fig, 0, sizeof(*fig));
	struct keeper *k;
	struct engine *e = setup(&k);
	float in[PERIOD * 2], out[PERIOD * 2];
	const int64_t start = engine_now(e), frames = (int64_t)(minutes * 60 * RATE);
	const size_t warm = WARMUP_SEC * RATE / PERIOD;
	engine_send(e, SOURCE_SCRIPT, CMD_PRESS, 7, 1, 0, start);
	size_t n = 0;
	long faults0 = 0;
	int64_t waste = 0;
	while (engine_now(e) < start + frames) {
		fill_input(in, engine_now(e));
		if (n == warm)
			faults0 = thread_minor_faults();
		long sw = thread_switches();
		bool regrow = spsc_count(engine_memory_replies(e)) > 0;
		uint64_t t0 = now_ns();
		engine_process(e, in, out, PERIOD);
		uint64_t t1 = now_ns();
		if (n >= warm) {
			note_period(fig, n - warm, t1 - t0, thread_switches() != sw);
			if (regrow) {
				double us = (double)(t1 - t0) / 1000.0;
				fig->regrow_mean_us += us;
				fig->regrow_max_us =
				    us > fig->regrow_max_us ? us : fig->regrow_max_us;
				fig->regrows++;
			}
		}
		n++;
		int64_t w = engine_unused_recording_bytes(e);
		waste = w > waste ? w : waste;
		drain(e, NULL);
		if (spsc_count(engine_memory_requests(e)))
			wake_signal(keeper_wake(k)); /* as the audio thread does */
		wait_for_keeper(e);
		breathe();
	}
	fig->faults = thread_minor_faults() - faults0;
	fig->minutes = minutes;
	fig->waste_max = waste;
	fig->regrow_mean_us /= fig->regrows ? (double)fig->regrows : 1.0;
	summarise(fig, n - warm);

	/* End the take and let the keeper trim it. */
	int64_t done = 0;
	engine_send(e, SOURCE_SCRIPT, CMD_PRESS, 7, 1, 0, engine_now(e));
	for (int64_t give_up = engine_now(e) + 10 * RATE; !done;) {
		if (engine_now(e) > give_up) {
			fprintf(stderr, "bench: the take never finished (%ld errors)\n",
				memory_errors);
			exit(1);
		}
		fill_input(in, engine_now(e));
		engine_process(e, in, out, PERIOD);
		drain(e, &done);
		wait_for_keeper(e);
	}
	for (int i = 0; i < 10; i++) { /* the trim request is taken: let it finish */
		wait_for_keeper(e);
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	keeper_stop(k);
	struct keeper_stats ks;
	keeper_get_stats(k, &ks);
	fig->take_frames = done;
	fig->waste_after_trim = (int64_t)keeper_clip_bytes(k, 7, 1) - done * 2 * 4;
	fig->grows = ks.grows;
	fig->pointer_bytes = ks.pointer_bytes_copied;
	fig->copy_bytes = 0; /* audio is never copied: chunks are appended */
	keeper_destroy(k);
	engine_destroy(e);
}

static void run_reference(struct figures *fig, double minutes)
{
	memset(fig, 0, sizeof(*fig));
	struct keeper *k;
	struct engine *e = setup(&k); /* same playing tracks, no engine take */
	struct reference_recorder ref;
	if (reference_init(&ref, 2, RATE)) {
		fprintf(stderr, "bench: reference recorder: no memory\n");
		exit(1);
	}
	float in[PERIOD * 2], out[PERIOD * 2];
	const int64_t start = engine_now(e), frames = (int64_t)(minutes * 60 * RATE);
	const size_t warm = WARMUP_SEC * RATE / PERIOD;
	size_t n = 0;
	long faults0 = 0;
	while (engine_now(e) < start + frames) {
		fill_input(in, engine_now(e));
		while (!reference_ready(&ref))
			sched_yield();
		if (n == warm)
			faults0 = thread_minor_faults();
		long sw = thread_switches();
		uint64_t t0 = now_ns();
		engine_process(e, in, out, PERIOD);
		reference_record(&ref, in, PERIOD);
		uint64_t t1 = now_ns();
		if (n >= warm)
			note_period(fig, n - warm, t1 - t0, thread_switches() != sw);
		n++;
		drain(e, NULL);
		breathe();
	}
	fig->faults = thread_minor_faults() - faults0;
	fig->minutes = minutes;
	fig->waste_max = (int64_t)(ref.cap - ref.len) * 2 * 4;
	fig->waste_after_trim = fig->waste_max; /* nothing is given back */
	fig->copy_bytes = ref.copied_bytes;
	fig->take_frames = (int64_t)ref.len;
	summarise(fig, n - warm);
	reference_free(&ref);
	keeper_stop(k);
	keeper_destroy(k);
	engine_destroy(e);
}

static void print_row(const char *what, const struct figures *f)
{
	printf("%-10s %4.0f min %7.2f %7.2f %8.2f %9.2f %9.2f %7.1f%% %6ld %6ld %9lld "
	       "%7lld %13llu\n",
	       what, f->minutes, f->mean_us, f->p99_us, f->p999_us, f->max_us,
	       f->max_quiet_us, 100.0 * f->max_us / BUDGET_US, f->disturbed, f->faults,
	       (long long)f->waste_max, (long long)f->waste_after_trim,
	       (unsigned long long)f->copy_bytes);
}

int main(void)
{
	/* As on the appliance where the system allows it: a SCHED_FIFO thread
	 * and locked memory. Said either way, the figures depend on it. */
	struct sched_param sp = {.sched_priority = 70};
	int fifo = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	int locked = mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT);
	printf("gridloop recording benchmark: %d Hz, %d-frame periods (budget %.0f us), "
	       "7 loops playing + 1 stereo take with monitoring\n",
	       RATE, PERIOD, BUDGET_US);
	printf("real-time thread: %s; memory %s\n",
	       fifo ? "SCHED_OTHER (SCHED_FIFO refused)" : "SCHED_FIFO 70",
	       locked ? "not locked (mlockall refused)" : "locked (mlockall)");

	unsigned seed = 12345;
	for (size_t i = 0; i < sizeof(noise) / sizeof(noise[0]); i++) {
		seed = seed * 1103515245u + 12345u;
		noise[i] = (float)((seed >> 9) & 0xffff) / 65536.0f - 0.5f;
	}
	size_t most = (size_t)(60.0 * 60 * RATE / PERIOD) + 16;
	period_ns = calloc(most, sizeof(*period_ns));
	memset(period_ns, 1, most * sizeof(*period_ns)); /* faulted in before timing */

	const double minutes[3] = {1, 10, 60};
	struct figures ours[3], ref[2];
	for (int i = 0; i < 3; i++) {
		run_gridloop(&ours[i], minutes[i]);
		fprintf(stderr, "  gridloop %.0f min done\n", minutes[i]);
	}
	for (int i = 0; i < 2; i++) {
		run_reference(&ref[i], minutes[i]);
		fprintf(stderr, "  reference %.0f min done\n", minutes[i]);
	}

	printf("\n%-10s %8s %7s %7s %8s %9s %9s %8s %6s %6s %9s %7s %13s\n", "design",
	       "take", "mean us", "p99 us", "p99.9 us", "max us", "quiet max", "budget",
	       "switch", "faults", "unused B", "trim B", "audio copied");
	for (int i = 0; i < 3; i++)
		print_row("gridloop", &ours[i]);
	for (int i = 0; i < 2; i++)
		print_row("reference", &ref[i]);
	/* The reference's copies grow with the take: sum_{k=1..N} k seconds. */
	double secs = 3600, per_sec = RATE * 2 * 4.0;
	double ref60 = per_sec * secs * (secs - 1) / 2;
	printf("\nreference at 60 min (not run: the copies alone would be %.0f GB): "
	       "each regrow copies the whole take, up to %.0f MB per period\n",
	       ref60 / 1e9, per_sec * secs / 1e6);
	printf("gridloop: %llu chunk hand-overs in the 60-min take, %llu bytes of "
	       "chunk-table "
	       "pointers copied (by the keeper), 0 bytes of audio copied\n",
	       (unsigned long long)ours[2].grows,
	       (unsigned long long)ours[2].pointer_bytes);

	double worst = 0;
	long faults = 0;
	int64_t waste = 0, trim = 0;
	for (int i = 0; i < 3; i++) {
		worst = ours[i].max_us > worst ? ours[i].max_us : worst;
		faults += ours[i].faults;
		waste = ours[i].waste_max > waste ? ours[i].waste_max : waste;
		trim = ours[i].waste_after_trim > trim ? ours[i].waste_after_trim : trim;
	}
	for (int i = 0; i < 3; i++)
		printf("gridloop %2.0f min: %ld periods took a new chunk: mean %.2f us, "
		       "max %.2f us\n",
		       ours[i].minutes, ours[i].regrows, ours[i].regrow_mean_us,
		       ours[i].regrow_max_us);
	printf("\n");
	printf("rt_max_us_1min: %.2f\n", ours[0].max_us);
	printf("rt_max_us_10min: %.2f\n", ours[1].max_us);
	printf("rt_max_us_60min: %.2f\n", ours[2].max_us);
	printf("rt_max_ratio_60min_vs_1min: %.3f\n", ours[2].max_us / ours[0].max_us);
	printf("rt_quiet_max_us_1min: %.2f\n", ours[0].max_quiet_us);
	printf("rt_quiet_max_us_60min: %.2f\n", ours[2].max_quiet_us);
	printf("rt_quiet_max_ratio_60min_vs_1min: %.3f\n",
	       ours[2].max_quiet_us / ours[0].max_quiet_us);
	printf("rt_regrow_period_mean_us_1min: %.2f\n", ours[0].regrow_mean_us);
	printf("rt_regrow_period_mean_us_60min: %.2f\n", ours[2].regrow_mean_us);
	printf("rt_regrow_period_max_us_1min: %.2f\n", ours[0].regrow_max_us);
	printf("rt_regrow_period_max_us_60min: %.2f\n", ours[2].regrow_max_us);
	printf("rt_p99_us_1min: %.2f\n", ours[0].p99_us);
	printf("rt_p99_us_60min: %.2f\n", ours[2].p99_us);
	printf("rt_p99_ratio_60min_vs_1min: %.3f\n", ours[2].p99_us / ours[0].p99_us);
	printf("rt_budget_pct_max: %.2f\n", 100.0 * worst / BUDGET_US);
	printf("rt_page_faults_after_warmup: %ld\n", faults);
	printf("waste_bytes_max_while_recording: %lld\n", (long long)waste);
	printf("waste_bytes_grow_increment: %d\n", RATE * 2 * 4);
	printf("waste_bytes_after_trim: %lld\n", (long long)trim);
	printf("reference_rt_max_us_1min: %.2f\n", ref[0].max_us);
	printf("reference_rt_max_us_10min: %.2f\n", ref[1].max_us);
	printf("reference_rt_quiet_max_us_10min: %.2f\n", ref[1].max_quiet_us);
	printf("reference_rt_max_ratio_10min_vs_1min: %.3f\n",
	       ref[1].max_us / ref[0].max_us);
	printf("reference_page_faults_after_warmup_10min: %ld\n", ref[1].faults);
	printf("reference_copy_bytes_total_10min: %llu\n",
	       (unsigned long long)ref[1].copy_bytes);
	printf("reference_copy_bytes_total_60min_computed: %.0f\n", ref60);
	printf("copy_bytes_total_60min: %llu\n", (unsigned long long)ours[2].copy_bytes);
	printf("engine_error_events: %ld\n", memory_errors);
	printf("pointer_bytes_copied_60min: %llu\n",
	       (unsigned long long)ours[2].pointer_bytes);
	free(period_ns);
	return 0;
}
