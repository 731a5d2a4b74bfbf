/* main.c -- the gridloop program: reads the settings and the script, builds
 * the engine, the buffer keeper and the audio thread, and hands over to the
 * supervisor until the run ends. Exit status: 0 after SIGTERM/SIGINT or the
 * end of an offline run, 2 for a bad option, config file or script, 1 for
 * anything else. */
#include <stdio.h>
#include <string.h>

#include "audio_thread.h"
#include "engine.h"
#include "keeper.h"
#include "options.h"
#include "script.h"
#include "supervisor.h"

#define EXIT_USAGE 2

struct program {
	struct options opt;
	struct script script;
	struct engine *engine;
	struct keeper *keeper;
	bool keeper_running;
	struct audio_thread *audio;
	struct script_feeder *feeder;
	struct supervisor *supervisor;
};

static int fail(int status, const char *what, const char *why)
{
	fprintf(stderr, "gridloop: %s%s%s\n", what, why ? ": " : "", why ? why : "");
	return status;
}

static int build(struct program *p)
{
	const char *why = NULL;
	struct engine_config ec;
	options_engine_config(&p->opt, &ec);
	p->engine = engine_create(&ec, &why);
	if (!p->engine) /* the settings are checked before; this is what is left */
		return fail(why && strcmp(why, "out of memory") ? EXIT_USAGE : 1,
			    "cannot set up the engine", why);

	struct keeper_config kc;
	options_keeper_config(&p->opt, &kc);
	p->keeper = keeper_create(p->engine, &kc, &why);
	if (!p->keeper)
		return fail(1, "cannot set up the buffer keeper", why);
	int64_t stop = p->opt.frames > 0 ? p->opt.frames : GL_NEVER;
	if (p->script.exit_frame < stop)
		stop = p->script.exit_frame;
	bool offline = stop != GL_NEVER; /* see audio_thread_set_offline() */
	if (!offline) {
		if (keeper_start(p->keeper))
			return fail(1, "cannot start the buffer keeper thread", NULL);
		p->keeper_running = true;
	}

	struct audio_thread_config ac = {
	    .engine = p->engine,
	    .rate = p->opt.rate,
	    .period = p->opt.period,
	    .input_channels = p->opt.input_channels,
	    .priority = p->opt.priority,
	    .require_rt = p->opt.require_rt,
	};
	p->audio = audio_thread_create(&ac);
	if (!p->audio)
		return fail(1, "cannot set up the audio thread", "out of memory");
	audio_thread_set_stop_frame(p->audio, stop);

	if (p->script.count > 0) {
		p->feeder = script_feeder_create(
		    &p->script, engine_commands(p->engine, SOURCE_SCRIPT),
		    audio_thread_now(p->audio));
		if (!p->feeder)
			return fail(1, "cannot set up the script", "out of memory");
		/* A script that fits in the queue is queued whole before the
		 * first period; a longer one is fed as the queue empties. */
		if (script_feeder_fill(p->feeder) > 0 && script_feeder_start(p->feeder))
			return fail(1, "cannot start the script feeder thread", NULL);
	}
	if (offline)
		audio_thread_set_offline(
		    p->audio, p->feeder ? script_feeder_horizon(p->feeder) : NULL,
		    p->keeper);

	struct supervisor_config sc = {
	    .engine = p->engine,
	    .keeper = p->keeper,
	    .audio = p->audio,
	    .feeder = p->feeder,
	    .latency_frames = options_latency_frames(&p->opt),
	    .wait_for_device = p->opt.wait_for_device,
	    .lock_memory = p->opt.lock_memory,
	    .require_rt = p->opt.require_rt,
	    .verbose = p->opt.verbose,
	};
	options_audio_params(&p->opt, &sc.pcm);
	p->supervisor = supervisor_create(&sc);
	if (!p->supervisor)
		return fail(1, "cannot set up the supervisor", "out of memory");
	return 0;
}

static void tear_down(struct program *p)
{
	script_feeder_destroy(p->feeder);
	supervisor_destroy(p->supervisor);
	audio_thread_destroy(p->audio);
	if (p->keeper_running)
		keeper_stop(p->keeper);
	keeper_destroy(p->keeper);
	engine_destroy(p->engine);
	script_free(&p->script);
	options_free(&p->opt);
}

int main(int argc, char **argv)
{
	/* Before any thread exists, so that all of them inherit the mask. */
	supervisor_block_signals();

	struct program p = {.script = {.exit_frame = GL_NEVER}};
	char err[512];
	options_defaults(&p.opt);
	enum options_result r =
	    options_parse(&p.opt, argc, argv, stdout, err, sizeof(err));
	if (r != OPTIONS_RUN) {
		options_free(&p.opt);
		return r == OPTIONS_DONE ? 0 : fail(EXIT_USAGE, err, NULL);
	}
	if (p.opt.script_path &&
	    script_parse_file(&p.script, p.opt.script_path, err, sizeof(err))) {
		options_free(&p.opt);
		return fail(EXIT_USAGE, err, NULL);
	}

	int status = build(&p);
	if (status == 0) {
		status = supervisor_run(p.supervisor);
		struct audio_stats as;
		audio_thread_get_stats(p.audio, &as);
		if (as.periods > 0) /* nothing to tell if audio never ran */
			supervisor_print_stats(p.supervisor, stderr);
	}
	tear_down(&p);
	return status;
}
