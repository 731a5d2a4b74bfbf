/* bench_ops_instr.c -- what each loop operation costs the real-time thread
 * on a long take, counted in instructions (callgrind), not seconds.
 *
 *   valgrind --tool=callgrind --instr-atstart=no bench_ops_instr MINUTES [N]
 *
 * The engine and keeper offline at 48 kHz: a mono take of MINUTES on track
 * 1 (recorded through the real engine and keeper in 2048-frame periods,
 * uncounted), then, one operation after the other on it, N (default 200)
 * 64-frame periods counted one by one, each dumped with the label
 * "<phase> p<i>": plain playback; an overdub, replace and substitute pass;
 * the undo swap of a pass; reverse and half-speed playback; a multiply's
 * pass, the periods around its end (the switch to the new take), the
 * multiplied loop playing, the undo and the redo of the multiply (a take
 * switch); an insert's pass, the periods around its end, and the copying of
 * the loop's tail after it (on the take from before the multiply, undone
 * again). Between phases the engine runs uncounted in big
 * periods (a multiply ends within a few periods: it starts near the end of
 * a cycle; an insert inserts one whole cycle, MINUTES of audio). The
 * keeper is served between periods, outside the counts.
 * scripts/bench-ops-instr reads the dumps. Without valgrind the client
 * requests do nothing: the run still works.
 */
#include "engine_internal.h"
#include "gl_limits.h"
#include "keeper.h"

#include <stdio.h>
#include <stdlib.h>
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(label) ((void)(label))
#endif

#define RATE	  48000
#define PERIOD	  64
#define BIG	  GL_MAX_PERIOD
#define DEFAULT_N 200

static float in[BIG], out[BIG * 2];
static long errors;
static struct engine *e;
static struct keeper *k;

static void fill(int64_t t0, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		in[i] = (float)(((t0 + i) * 7919) % 65536) / 65536.0f * 0.5f - 0.25f;
}

static void step(uint32_t frames)
{
	fill(engine_now(e), frames);
	engine_process(e, in, out, frames);
	keeper_service(k);
	struct event ev;
	while (spsc_pop(engine_events(e), &ev))
		if (ev.type == EV_ERROR) {
			errors++;
			fprintf(stderr, "bench_ops_instr: engine error %lld\n",
				(long long)ev.value);
		}
}

/* Uncounted, in big periods, up to frame f (whole small periods after). */
static void run_to(int64_t f)
{
	while (engine_now(e) + BIG <= f)
		step(BIG);
	while (engine_now(e) < f)
		step(PERIOD);
}

static void count(const char *phase, long n)
{
	for (long i = 0; i < n; i++) {
		char label[64];
		snprintf(label, sizeof(label), "%s p%ld", phase, i);
		fill(engine_now(e), PERIOD);
		CALLGRIND_ZERO_STATS;
		engine_process(e, in, out, PERIOD);
		CALLGRIND_DUMP_STATS_AT(label);
		keeper_service(k);
		struct event ev;
		while (spsc_pop(engine_events(e), &ev))
			errors += ev.type == EV_ERROR;
	}
}

static void cmd(enum command_type type, float value)
{
	engine_send(e, SOURCE_SCRIPT, type, 0, 0, value, engine_now(e));
}

static const struct clip *clip0(void)
{
	return &e->clips[0];
}

/* Until the take is final again (a swap, a fill, a switch done, a
 * multiply or insert over). */
static void settle(void)
{
	const struct clip *c = clip0();
	for (long i = 0; i < 10000000 && (engine_clip_version(e, 0, 0) % 2 ||
					  c->rb_mode != RB_NONE || c->take_switching);
	     i++)
		step(BIG);
}

/* Until the play position is `before` frames short of a cycle line. */
static void near_cycle_end(int64_t before)
{
	const struct clip *c = clip0();
	int64_t pos = (engine_now(e) - c->launch) % c->length;
	int64_t r = pos % c->cycle;
	int64_t wait = c->cycle - before - r;
	if (wait < 0)
		wait += c->cycle;
	run_to(engine_now(e) + wait);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: bench_ops_instr MINUTES [PERIODS]\n");
		return 2;
	}
	double minutes = atof(argv[1]);
	long n = argc > 2 ? atol(argv[2]) : DEFAULT_N;
	if (!(minutes > 0) || n <= 0) {
		fprintf(stderr, "bench_ops_instr: MINUTES > 0, PERIODS > 0\n");
		return 2;
	}
	struct engine_config cfg;
	engine_config_defaults(&cfg, RATE);
	cfg.max_period = BIG;
	cfg.input_channels = 1;
	cfg.tempo = 0;
	cfg.quantise = QUANTISE_OFF;
	cfg.latency_frames = 256;
	for (int t = 0; t < GL_TRACKS; t++)
		cfg.track_input[t] =
		    (struct track_input){.first_channel = 0, .stereo = 0};
	const char *why = NULL;
	e = engine_create(&cfg, &why);
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	k = e ? keeper_create(e, &kc, &why) : NULL;
	if (!k) {
		fprintf(stderr, "bench_ops_instr: %s\n", why);
		return 1;
	}
	int64_t len = (int64_t)(minutes * 60 * RATE);
	engine_send(e, SOURCE_SCRIPT, CMD_PRESS, 0, 0, 0, 1000);
	engine_send(e, SOURCE_SCRIPT, CMD_PRESS, 0, 0, 0, 1000 + len);
	run_to(1000 + len + 4 * BIG);
	settle();
	if (engine_clip_state(e, 0, 0) != CLIP_PLAYING) {
		fprintf(stderr, "bench_ops_instr: the take does not play\n");
		return 1;
	}

	CALLGRIND_START_INSTRUMENTATION;
	count("play", n);
	cmd(CMD_OVERDUB, 0);
	count("overdub", n);
	cmd(CMD_OVERDUB, 0);
	run_to(engine_now(e) + 4 * BIG);
	cmd(CMD_UNDO, 0);
	count("undo_swap", n);
	settle();
	cmd(CMD_REPLACE, 0);
	count("replace", n);
	cmd(CMD_REPLACE, 0);
	run_to(engine_now(e) + 4 * BIG);
	cmd(CMD_SUBSTITUTE, 0);
	count("substitute", n);
	cmd(CMD_SUBSTITUTE, 0);
	run_to(engine_now(e) + 4 * BIG);
	settle();
	cmd(CMD_REVERSE, 0);
	count("reverse", n);
	cmd(CMD_REVERSE, 0);
	cmd(CMD_SPEED, 0.5f);
	count("half_speed", n);
	cmd(CMD_SPEED, 1);
	run_to(engine_now(e) + 4 * BIG);

	/* Multiply: started n / 2 periods before a cycle line and ended after
	 * it, so the loop doubles: the end, a cycle later, inside
	 * "multiply_end". */
	near_cycle_end((n / 2) * PERIOD);
	cmd(CMD_MULTIPLY, 0);
	run_to(engine_now(e) + 8 * PERIOD);
	count("multiply", n);
	cmd(CMD_MULTIPLY, 0);
	step(PERIOD);
	int64_t mend = clip0()->rb_end;
	if (mend != GL_NEVER && mend - n / 2 * PERIOD > engine_now(e))
		run_to(mend - n / 2 * PERIOD);
	count("multiply_end", n);
	settle();
	int64_t multiplied = engine_clip_length(e, 0, 0);
	count("multiplied_play", n);
	cmd(CMD_UNDO, 0);
	count("multiply_undo", n);
	settle();
	cmd(CMD_REDO, 0);
	count("multiply_redo", n);
	settle();

	/* Insert (on the take from before the multiply, whose redo it drops:
	 * less memory): one cycle goes in (MINUTES of input), then the tail. */
	cmd(CMD_UNDO, 0);
	step(PERIOD);
	settle();
	cmd(CMD_INSERT, 0);
	run_to(engine_now(e) + 8 * PERIOD);
	count("insert", n);
	cmd(CMD_INSERT, 0);
	step(PERIOD); /* the end press is applied */
	int64_t end = clip0()->rb_end;
	if (end != GL_NEVER && end - n / 2 * PERIOD > engine_now(e))
		run_to(end - n / 2 * PERIOD);
	count("insert_end", n);
	count("insert_fill", n);
	settle();
	CALLGRIND_STOP_INSTRUMENTATION;
	struct keeper_stats ks;
	keeper_get_stats(k, &ks);
	printf("bench_ops_instr: take %.1f min, multiplied %.1f min, inserted %.1f min, "
	       "%ld periods a phase, keeper %.0f MB at the end, engine errors %ld\n",
	       (double)len / RATE / 60, (double)multiplied / RATE / 60,
	       (double)engine_clip_length(e, 0, 0) / RATE / 60, n,
	       (double)ks.bytes_mapped / 1048576.0, errors);
	keeper_destroy(k);
	engine_destroy(e);
	return errors ? 1 : 0;
}
