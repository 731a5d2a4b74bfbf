/* supervisor.h -- the non-real-time side of a running gridloop: owns the
 * PCM, keeps the audio thread going, and tells the world how it goes.
 *
 * It opens the device (waiting for it when asked to), locks memory, starts
 * the audio thread and then, until a stop signal or the end of an offline
 * run: drains the engine's events and the audio thread's reports and logs
 * them (and passes the events on to the sequencer thread, fanout.h, and its
 * messages to the log), reopens a device that was lost (the engine and its clips live on:
 * only the PCM is new), prints statistics on SIGUSR1 and at exit, and talks
 * to systemd (READY=1 once audio runs; watchdog pings only while the audio
 * thread's period counter moves).
 */
#ifndef GRIDLOOP_SUPERVISOR_H
#define GRIDLOOP_SUPERVISOR_H

#include <stdbool.h>
#include <stdio.h>

#include "audio_alsa.h"
#include "audio_thread.h"
#include "engine.h"
#include "fanout.h"
#include "keeper.h"
#include "link.h"
#include "link_sync.h"
#include "osc.h"
#include "script_feeder.h"
#include "sd_writer.h"
#include "seq_alsa.h"
#include "wake.h"

struct supervisor_config {
	struct engine *engine;
	struct keeper *keeper;
	struct audio_thread *audio;
	struct script_feeder *feeder; /* or NULL */
	struct fanout *fanout;	  /* engine events for the sequencer thread, or NULL */
	struct seq_alsa *seq;	  /* its messages and statistics, or NULL */
	struct sd_writer *writer; /* gets the engine's events too; or NULL */
	/* What wakes the supervisor (the audio thread, the sequencer thread,
	 * the SD writer signal it when they have something for it). */
	const struct wake *wake;
	struct fanout *osc;	       /* and the OSC server (osc.h); or NULL */
	struct osc_server *osc_server; /* its statistics, or NULL */
	/* Ableton Link, or NULL: its peer count is watched (logged when it
	 * changes, in the statistics), and Link left and rejoined when the
	 * peers were lost and do not come back (link_sync.h, link_watch). */
	struct gl_link *link;
	int64_t start_ns; /* CLOCK_MONOTONIC at program start, or 0 */
	struct audio_alsa_params pcm;
	uint32_t latency_frames; /* as configured, for the start-up line */
	bool wait_for_device;	 /* at start; a device lost later is always awaited */
	bool lock_memory;
	bool require_rt; /* memory locking refused: fail */
	bool verbose;	 /* log every engine event */
};

/* Blocks SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 (export) in the calling thread, so
 * that every thread started afterwards inherits the mask and the supervisor alone takes
 * them (a signalfd). Call first thing in main(). */
void supervisor_block_signals(void);

struct supervisor *supervisor_create(const struct supervisor_config *cfg);
void supervisor_destroy(struct supervisor *s); /* closes the PCM */

/* Runs until SIGINT/SIGTERM, the end of an offline run, or a failure.
 * Returns the exit status: 0, or 1 (the message is logged). */
int supervisor_run(struct supervisor *s);

void supervisor_print_stats(struct supervisor *s, FILE *out);

#endif
