/* demo_render.c -- renders a scripted looping set through the engine
 * offline, to a WAV file, and tells what happened bar by bar.
 *
 * The "musician" is generated: a drum pattern, a bass line, a lead line for
 * an overdub, and a real recording (one of alsa-utils' sample WAVs, when
 * there) as a vocal. The set: a drum loop that sets the tempo, a bass loop
 * quantised to the bar, an overdub on it, a vocal in scene 2, a second drum
 * loop, scene launches, an undo, and stop all. The engine runs exactly as on
 * the real-time thread, one 64-frame period at a time, with the keeper served
 * between periods.
 *
 *   demo_render OUT.wav [VOCAL.wav]
 *
 * With --board, it renders nothing: it writes what scripts/demo needs to
 * play the same set through the real gridloop on the virtual board, LEAD
 * seconds later (the board's time to settle):
 *
 *   demo_render --board LEAD IN.wav SET.txt [VOCAL.wav]
 *
 * IN.wav is the musician (mono, 32-bit float): LEAD seconds of silence,
 * then what they play, on the set's timeline; SET.txt is the set as a
 * gridloop --script, each step's text as its comment.
 */
#include "engine.h"
#include "keeper.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE   48000
#define PERIOD 64

static const char *state_name[CLIP_STATE_COUNT] = {
    "empty",   "rec-queued", "RECORDING",   "play-queued",
    "playing", "OVERDUB",    "stop-queued", "stopped"};

static float *vocal;
static int64_t vocal_frames;

/* ---- the musician ----------------------------------------------------- */

static double env(double t, double decay)
{
	return t < 0 ? 0 : exp(-t / decay);
}

/* A kick and snare pattern at 120 BPM (0.5 s a beat), 2 s long, looped. */
static float drums(int64_t f, int variation)
{
	double t = fmod((double)f / RATE, 2.0);
	double beat = fmod(t, 0.5), s = 0;
	int n = (int)(t / 0.5);
	double kick_f = 55 + 90 * env(beat, 0.03);
	s += 0.8 * sin(2 * M_PI * kick_f * beat) * env(beat, 0.12);
	if (n % 2 == 1) {
		unsigned h = (unsigned)(f * 2654435761u);
		s += 0.35 * ((double)(h >> 8) / (1 << 24) - 0.5) * env(beat, 0.08);
	}
	if (variation) {
		double eighth = fmod(t, 0.25);
		unsigned h = (unsigned)(f * 40503u + 17);
		s += 0.15 * ((double)(h >> 8) / (1 << 24) - 0.5) * env(eighth, 0.02);
	}
	return (float)s;
}

static float tone(double freq, double t, double len)
{
	double a = t < 0.005 ? t / 0.005 : 1.0;
	return (float)(a * env(t, len) *
		       (0.6 * sin(2 * M_PI * freq * t) + 0.2 * sin(4 * M_PI * freq * t)));
}

/* A bass line of quarter notes over 4 s (two bars). */
static float bass(int64_t f)
{
	static const double notes[8] = {55.0, 55.0, 65.4, 73.4, 55.0, 82.4, 73.4, 65.4};
	double t = fmod((double)f / RATE, 4.0);
	int n = (int)(t / 0.5);
	return 0.7f * tone(notes[n], fmod(t, 0.5), 0.25);
}

static float lead(int64_t f)
{
	static const double notes[8] = {440, 523.3, 587.3, 659.3, 587.3, 523.3, 440, 392};
	double t = fmod((double)f / RATE, 4.0);
	int n = (int)(t / 0.5);
	return 0.35f * tone(notes[n], fmod(t, 0.5), 0.3);
}

static float voice(int64_t f, int64_t from)
{
	if (!vocal || f < from || f - from >= vocal_frames)
		return 0;
	return vocal[f - from];
}

/* ---- the set ------------------------------------------------------------ */

struct step {
	double at_s; /* seconds; quantised commands land on the next bar */
	enum command_type type;
	int track, scene;
	float value;
	const char *what;
};

/* The input channel the musician plays into, by time (what they play when). */
static float musician(int64_t f)
{
	double s = (double)f / RATE;
	if (s < 2.0)
		return drums(f, 0); /* the first loop: 2 s of drums */
	if (s >= 3.5 && s < 8.5)
		return bass(f);
	if (s >= 10.0 && s < 14.5)
		return lead(f);
	if (s >= 16.0 && s < 20.5)
		return voice(f, (int64_t)(16.1 * RATE));
	if (s >= 22.0 && s < 24.5)
		return drums(f, 1);
	return 0;
}

static const struct step set[] = {
    {0.0, CMD_MASTER_VOLUME, 0, 0, 0.6f, "master volume 0.6"},
    {0.0, CMD_PRESS, 0, 0, 0, "record drums on track 1 (no tempo yet)"},
    {2.0, CMD_PRESS, 0, 0, 0, "end the drum take: it sets the tempo"},
    {3.5, CMD_PRESS, 1, 0, 0, "record bass on track 2 (waits for the bar)"},
    {6.5, CMD_PRESS, 1, 0, 0, "end the bass take at the bar line"},
    {10.0, CMD_OVERDUB, 1, 0, 0, "overdub a lead line onto the bass"},
    {14.0, CMD_OVERDUB, 1, 0, 0, "end the overdub"},
    {16.0, CMD_PRESS, 2, 1, 0, "record a vocal on track 3, scene 2"},
    {19.0, CMD_PRESS, 2, 1, 0, "end the vocal take"},
    {22.0, CMD_PRESS, 0, 1, 0, "record a busier drum loop on track 1, scene 2"},
    {23.0, CMD_PRESS, 0, 1, 0, "end it (the first drum loop stops)"},
    {28.0, CMD_LAUNCH_SCENE, 0, 0, 0, "launch scene 1"},
    {32.0, CMD_UNDO, 1, 0, 0, "undo the overdub: the plain bass line"},
    {34.0, CMD_LAUNCH_SCENE, 0, 1, 0, "launch scene 2"},
    {38.0, CMD_STOP_ALL, 0, 0, 0, "stop all"},
};
#define SET_LEN	 (sizeof(set) / sizeof(set[0]))
#define END_SECS 41.0

/* The step as the words of a gridloop --script line. */
static void script_words(const struct step *st, char *buf, size_t len)
{
	switch (st->type) {
	case CMD_MASTER_VOLUME:
		snprintf(buf, len, "master %.2f", (double)st->value);
		break;
	case CMD_PRESS:
		snprintf(buf, len, "press %d %d", st->track, st->scene);
		break;
	case CMD_OVERDUB:
		snprintf(buf, len, "overdub %d %d", st->track, st->scene);
		break;
	case CMD_UNDO:
		snprintf(buf, len, "undo %d %d", st->track, st->scene);
		break;
	case CMD_LAUNCH_SCENE:
		snprintf(buf, len, "scene %d", st->scene);
		break;
	case CMD_STOP_ALL:
		snprintf(buf, len, "stop");
		break;
	default:
		snprintf(buf, len, "# (no script word for command %d)", (int)st->type);
		break;
	}
}

static int write_board_files(double lead, const char *in_path, const char *set_path)
{
	const int64_t lead_frames = (int64_t)(lead * RATE);
	const int64_t frames = lead_frames + (int64_t)(END_SECS * RATE);
	SF_INFO info = {
	    .samplerate = RATE, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
	SNDFILE *sf = sf_open(in_path, SFM_WRITE, &info);
	if (!sf) {
		fprintf(stderr, "demo: cannot write %s: %s\n", in_path,
			sf_strerror(NULL));
		return 1;
	}
	float buf[4096];
	for (int64_t f = 0; f < frames;) {
		int n = 0;
		for (; n < 4096 && f < frames; n++, f++)
			buf[n] = f < lead_frames ? 0.0f : musician(f - lead_frames);
		sf_writef_float(sf, buf, n);
	}
	sf_close(sf);

	FILE *out = fopen(set_path, "w");
	if (!out) {
		perror(set_path);
		return 1;
	}
	fprintf(
	    out,
	    "# The gridloop demo set (tests/tools/demo_render.c), %.1f s later than\n"
	    "# in the offline render: the musician (the board's input) starts then.\n",
	    lead);
	for (size_t i = 0; i < SET_LEN; i++) {
		char words[64];
		script_words(&set[i], words, sizeof(words));
		fprintf(out, "@%lld %s # %s\n",
			(long long)(lead_frames + (int64_t)(set[i].at_s * RATE)), words,
			set[i].what);
	}
	fclose(out);
	return 0;
}

static void load_vocal(const char *path)
{
	SF_INFO info = {0};
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf) {
		fprintf(stderr,
			"demo: no vocal sample (%s): %s; the vocal slot stays quiet\n",
			path, sf_strerror(NULL));
		return;
	}
	float *frames =
	    malloc((size_t)info.frames * (size_t)info.channels * sizeof(float));
	sf_count_t n = frames ? sf_readf_float(sf, frames, info.frames) : 0;
	/* Resample naively to 48 kHz (nearest frame): a demo input, not audio
	 * processing under test. */
	double ratio = (double)info.samplerate / RATE;
	vocal_frames = (int64_t)((double)n / ratio);
	vocal = malloc((size_t)vocal_frames * sizeof(float) + 1);
	if (!vocal)
		vocal_frames = 0;
	for (int64_t i = 0; i < vocal_frames; i++)
		vocal[i] = frames[(int64_t)((double)i * ratio) * info.channels];
	free(frames);
	sf_close(sf);
	printf("vocal: %s (%.2f s)\n", path, (double)vocal_frames / RATE);
}

static void print_bar(struct engine *e, int64_t bar, int64_t frame)
{
	printf("bar %3lld  %6.2fs  %5.1f BPM |", (long long)bar, (double)frame / RATE,
	       engine_tempo(e));
	for (int t = 0; t < GL_TRACKS; t++)
		for (int s = 0; s < GL_SCENES; s++) {
			enum clip_state st = engine_clip_state(e, t, s);
			if (st != CLIP_EMPTY)
				printf(" %d.%d:%s", t + 1, s + 1, state_name[st]);
		}
	printf("\n");
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "--board")) {
		if (argc > 5)
			load_vocal(argv[5]);
		int rc = write_board_files(atof(argv[2]), argv[3], argv[4]);
		free(vocal);
		return rc;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr,
			"usage: demo_render OUT.wav [VOCAL.wav]\n"
			"       demo_render --board LEAD IN.wav SET.txt [VOCAL.wav]\n");
		return 2;
	}
	if (argc > 2)
		load_vocal(argv[2]);

	struct engine_config cfg;
	engine_config_defaults(&cfg, RATE);
	cfg.max_period = PERIOD;
	cfg.input_channels = 1;
	const char *why = NULL;
	struct engine *e = engine_create(&cfg, &why);
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	struct keeper *k = e ? keeper_create(e, &kc, &why) : NULL;
	if (!k) {
		fprintf(stderr, "demo: %s\n", why);
		return 1;
	}
	for (size_t i = 0; i < SET_LEN; i++)
		engine_send(e, SOURCE_SCRIPT, set[i].type, set[i].track, set[i].scene,
			    set[i].value, (int64_t)(set[i].at_s * RATE));

	SF_INFO info = {.samplerate = RATE,
			.channels = 2,
			.format = SF_FORMAT_WAV | SF_FORMAT_PCM_24};
	SNDFILE *out = sf_open(argv[1], SFM_WRITE, &info);
	if (!out) {
		fprintf(stderr, "demo: cannot write %s: %s\n", argv[1],
			sf_strerror(NULL));
		return 1;
	}
	printf("gridloop demo: %zu steps, %.0f s at %d Hz, %d-frame periods\n\n", SET_LEN,
	       END_SECS, RATE, PERIOD);
	float in[PERIOD], buf[PERIOD * 2];
	size_t next_step = 0;
	const int64_t end = (int64_t)(END_SECS * RATE);
	double peak = 0;
	while (engine_now(e) < end) {
		int64_t t0 = engine_now(e);
		for (int i = 0; i < PERIOD; i++)
			in[i] = musician(t0 + i);
		engine_process(e, in, buf, PERIOD);
		for (int i = 0; i < 2 * PERIOD; i++)
			peak = fabs(buf[i]) > peak ? fabs(buf[i]) : peak;
		sf_writef_float(out, buf, PERIOD);
		keeper_service(k);
		while (next_step < SET_LEN &&
		       set[next_step].at_s * RATE < (double)t0 + PERIOD) {
			printf("          %6.2fs  > %s\n", set[next_step].at_s,
			       set[next_step].what);
			next_step++;
		}
		struct event ev;
		while (spsc_pop(engine_events(e), &ev)) {
			switch (ev.type) {
			case EV_BAR:
				print_bar(e, ev.value, ev.frame);
				break;
			case EV_TEMPO:
				printf(
				    "          %6.2fs  tempo %.2f BPM, %d beats a bar\n",
				    (double)ev.frame / RATE, (double)ev.value / 1000,
				    ev.aux);
				break;
			case EV_RECORD_DONE:
				printf("          %6.2fs  take %d.%d done: %.3f s\n",
				       (double)ev.frame / RATE, ev.track + 1,
				       ev.scene + 1, (double)ev.value / RATE);
				break;
			case EV_ERROR:
				printf("          %6.2fs  error %lld on %d.%d\n",
				       (double)ev.frame / RATE, (long long)ev.value,
				       ev.track + 1, ev.scene + 1);
				break;
			default:
				break;
			}
		}
	}
	sf_close(out);
	struct keeper_stats ks;
	keeper_get_stats(k, &ks);
	printf("\nwrote %s: %.1f s stereo, 24-bit, peak %.2f\n", argv[1], END_SECS, peak);
	printf("recording memory: %llu chunks handed over, %.1f MB held at the end\n",
	       (unsigned long long)ks.grows, (double)ks.bytes_mapped / 1e6);
	keeper_destroy(k);
	engine_destroy(e);
	free(vocal);
	return 0;
}
