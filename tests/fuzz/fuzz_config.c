/* fuzz_config.c -- libFuzzer target for the config file reader: any bytes
 * as a gridloop.conf, read as `gridloop --config FILE` reads it:
 * options_parse(), so the checks across keys run too, on a memfd (the
 * reader's only entry point is a file). A refused file must say
 * "<path>:<line>: ..." or "<path>: ..."; an accepted one must leave every
 * setting within gl_limits.h, and the engine must accept the settings it
 * yields (a limit the engine enforces is checked where the key is read,
 * with its file, line and key, not later without them). Leaks are caught by
 * libFuzzer's leak check, over accepted and refused files alike. Built and
 * run by tests/fuzz/run. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gl_limits.h"
#include "options.h"

static void check_options(const struct options *o)
{
	if (!GL_RATE_OK(o->rate) || o->period < GL_MIN_PERIOD ||
	    o->period > GL_MAX_PERIOD || o->periods < GL_MIN_PERIODS ||
	    o->periods > GL_MAX_PERIODS || o->input_channels < 1 ||
	    o->output_channels < 1 ||
	    !(o->latency_frames == OPTIONS_LATENCY_AUTO ||
	      (o->latency_frames >= 0 && o->latency_frames <= GL_LATENCY_MAX)) ||
	    !(o->tempo == 0 || (o->tempo >= GL_TEMPO_MIN && o->tempo <= GL_TEMPO_MAX)) ||
	    o->beats_per_bar < GL_BEATS_MIN || o->beats_per_bar > GL_BEATS_MAX ||
	    o->quantise > QUANTISE_BAR ||
	    !(o->fade_ms >= 0 && o->fade_ms <= GL_FADE_MS_MAX) ||
	    !(o->grow_seconds >= GL_GROW_SECONDS_MIN &&
	      o->grow_seconds <= GL_GROW_SECONDS_MAX) ||
	    o->memory_limit_mb > GL_MEMORY_LIMIT_MB_MAX ||
	    o->save_quiet_ms > GL_SAVE_QUIET_MS_MAX ||
	    !(o->recorder_seconds >= GL_RECORDER_SECONDS_MIN &&
	      o->recorder_seconds <= GL_RECORDER_SECONDS_MAX) ||
	    o->nports < 0 || o->nports > OPTIONS_MAX_PORTS || !o->capture_device ||
	    !o->playback_device)
		__builtin_trap();
	for (int i = 0; i < o->nports; i++)
		if (!o->ports[i] || strlen(o->ports[i]) > OPTIONS_MAX_PATTERN)
			__builtin_trap();
	struct engine_config cfg;
	options_engine_config(o, &cfg);
	const char *why = NULL;
	struct engine *e = engine_create(&cfg, &why);
	if (!e && why && strcmp(why, "out of memory") != 0) {
		fprintf(stderr, "fuzz_config: accepted, but the engine says: %s\n", why);
		__builtin_trap();
	}
	engine_destroy(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz.conf", 0);
		if (fd < 0) {
			perror("fuzz_config: memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror("fuzz_config: writing the memfd");
		abort();
	}
	struct options o;
	options_defaults(&o);
	char err[1024] = "";
	char *argv[] = {"gridloop", "--config", path, NULL};
	enum options_result rc = options_parse(&o, 3, argv, stderr, err, sizeof(err));
	if (rc == OPTIONS_DONE)
		__builtin_trap(); /* only --help and --version print and stop */
	if (rc == OPTIONS_RUN) {
		check_options(&o);
	} else {
		size_t n = strlen(path);
		if (strncmp(err, path, n) != 0 || err[n] != ':' || !strstr(err + n, ": "))
			__builtin_trap();
	}
	options_free(&o);
	return 0;
}
