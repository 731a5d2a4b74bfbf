/* audio_thread.h -- the real-time audio thread: SCHED_FIFO with explicit
 * scheduling attributes, a pre-faulted stack, and the duplex loop
 *
 *     read a period -> convert -> engine_process() -> convert -> write it
 *
 * It never logs, allocates or locks: whatever happens (xruns, a lost device,
 * the end of an offline run) goes into an SPSC report queue and a few atomic
 * counters that the supervisor reads. Its only blocking points are the PCM
 * read and write. When the device fails, the thread ends; the supervisor
 * reopens the device and starts a new one on the same engine.
 */
#ifndef GRIDLOOP_AUDIO_THREAD_H
#define GRIDLOOP_AUDIO_THREAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio_alsa.h"
#include "engine.h"
#include "keeper.h"
#include "link.h"
#include "link_sync.h"
#include "wake.h"

enum audio_report_type {
	AUDIO_XRUN, /* value = -EPIPE, -ESTRPIPE or -EIO (a stall); restarted at once */
	AUDIO_SLOW_PERIOD,  /* value = ns of processing, longer than the period */
	AUDIO_DEVICE_ERROR, /* value = -errno; the thread ends */
	AUDIO_INPUT_ENDED,  /* a file input ran out; the thread ends */
	AUDIO_FINISHED,	    /* the stop frame was reached; the thread ends */
};

struct audio_report {
	int64_t frame; /* engine frame */
	int64_t value;
	uint8_t type; /* enum audio_report_type */
};

/* Why a thread ended (audio_thread_join). */
enum audio_ending {
	AUDIO_ENDED_STOPPED,	 /* audio_thread_request_stop() */
	AUDIO_ENDED_FINISHED,	 /* stop frame reached */
	AUDIO_ENDED_DEVICE_LOST, /* reopen the device and start again */
	AUDIO_ENDED_INPUT_ENDED,
};

struct audio_thread_config {
	struct engine *engine;
	uint32_t rate;
	uint32_t period;
	uint32_t input_channels;
	int priority;	 /* SCHED_FIFO 1..99 */
	bool require_rt; /* fail instead of running without SCHED_FIFO */
	/* Called on the audio thread with each period's output (GL_OUT_CH
	 * channels, interleaved) as soon as the engine made it, before it is
	 * played: real-time safe code only (the performance recorder's push).
	 * It keeps this layer free of what listens (the SD card's recorder is
	 * a layer above). NULL: none. */
	void (*output_tap)(void *ctx, const float *out, uint32_t frames);
	void *output_tap_ctx;
	/* The threads that sleep until this one has work for them (wake.h):
	 * after a period in which the engine pushed events or this thread a
	 * report (and after the first period, and when the thread ends),
	 * wake_events (the supervisor); after one in which the engine pushed
	 * a memory request, wake_memory (the keeper). One non-blocking
	 * eventfd write each, only when there is something: idle, nobody
	 * is woken. NULL: none. */
	const struct wake *wake_events;
	const struct wake *wake_memory;
	/* The metronome on its own playback channels (audio_alsa_params'
	 * click_channel): the thread gives the engine a buffer for it. */
	bool click_out;
	/* Ableton Link ([sync] link): NULL, off. Made, enabled and destroyed
	 * by the caller, off this thread; this one captures and commits its
	 * audio session state once per period (link_sync.h decides), at
	 * the time the period is heard (link_heard: the playback delay read
	 * after each capture read, the smallest of the last half second;
	 * the playback buffer less one period where the device gives none),
	 * so that the session's beats are heard on gridloop's. link_leads:
	 * follow the session's tempo and phase (else only tell it
	 * gridloop's: MIDI clock in leads). link_start_scene: the scene
	 * launched when the session starts (-1: none; a stop always stops
	 * every clip when link_start_stop). */
	struct gl_link *link;
	bool link_leads;
	bool link_start_stop;
	int link_start_scene;
};

struct audio_stats {
	int64_t frames; /* engine frames processed */
	uint64_t periods;
	uint64_t xruns;	 /* stalls included */
	uint64_t stalls; /* -EIO or a stopped capture, ridden out as xruns */
	uint64_t slow_periods;
	uint64_t worst_ns;	    /* longest processing time of one period */
	uint64_t busy_ns;	    /* processing time, summed */
	bool realtime;		    /* the running thread got SCHED_FIFO */
	uint64_t link_aligns;	    /* the engine's grid set to the session's */
	uint64_t link_proposals;    /* gridloop's tempo given to the session */
	int64_t link_worst_offset;  /* frames: link_sync's worst_offset */
	int64_t link_latency_us;    /* the last period's: heard less read */
	int64_t link_nominal_us;    /* the fallback: buffer less one period */
	uint64_t link_delay_failed; /* periods with no delay read */
};

struct audio_thread;

/* Not real-time safe: allocates the buffers and the report queue. */
struct audio_thread *audio_thread_create(const struct audio_thread_config *cfg);
void audio_thread_destroy(struct audio_thread *t); /* join first */

/* Starts the loop on pcm (which stays the caller's). 0, or -errno with a
 * message in why. When SCHED_FIFO is refused the thread runs on normal
 * priority and *rt_refused is set, unless require_rt: then -EPERM. */
int audio_thread_start(struct audio_thread *t, struct audio_alsa *pcm, bool *rt_refused,
		       char *err, size_t errlen);
void audio_thread_request_stop(struct audio_thread *t);
enum audio_ending audio_thread_join(struct audio_thread *t);
bool audio_thread_running(const struct audio_thread *t);

/* The run ends at this engine frame (GL_NEVER: runs on). Periods are cut
 * short to end on it exactly. Set before start. */
void audio_thread_set_stop_frame(struct audio_thread *t, int64_t frame);

/* Offline runs (the run ends by itself, the PCM may not be paced: alsa-lib's
 * file plugin runs as fast as the CPU) must give the same output every time,
 * whatever the threads' timing. So, outside the real-time marks:
 *  - script_horizon: before each period, wait until every script command
 *    due in it has been queued (the feeder's horizon, script.h);
 *  - keeper: serve the buffer keeper after each period (keeper_service), in
 *    place of the keeper's own thread, so that recording memory is never
 *    late; and before each period let the events' consumer take all but a
 *    quarter of the engine's event queue, so that none is dropped.
 *    Either may be NULL. A live run sets neither: it never waits. Set
 *    before start. */
void audio_thread_set_offline(struct audio_thread *t,
			      const atomic_int_least64_t *script_horizon,
			      struct keeper *keeper);

/* The script feeder (script_feeder.h) to poke after each period, so that it
 * sleeps until the queue has room instead of polling; offline, the gate
 * waits on it. NULL: none. Set before start. */
struct script_feeder;
void audio_thread_set_feeder(struct audio_thread *t, struct script_feeder *f);

/* Wake wake_events once more after the first period that ends past engine
 * frame `frame` (GL_NEVER: no such wake-up; each call replaces the last).
 * The MIDI clock lists ticks only up to the horizon the supervisor
 * publishes, so while it ticks the sequencer thread asks for its next
 * tick's frame: the tick is then listed within one period and two
 * wake-ups of its frame, not at the next engine event. From any thread. */
void audio_thread_wake_at(struct audio_thread *t, int64_t frame);

/* The engine frame reached, updated after every period. */
const atomic_int_least64_t *audio_thread_now(const struct audio_thread *t);

/* The stream's clock, for timestamped MIDI: the CLOCK_MONOTONIC time (ns)
 * at which the last period's capture had been read, and that period's first
 * engine frame. Written by the audio thread without waiting (a sequence
 * lock), read from any thread; false before the first period. */
bool audio_thread_clock(const struct audio_thread *t, int64_t *mono_ns, int64_t *frame);

bool audio_thread_pop_report(struct audio_thread *t, struct audio_report *r);
void audio_thread_get_stats(const struct audio_thread *t, struct audio_stats *s);

/* mlockall: MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT, or MCL_CURRENT alone on
 * kernels without MCL_ONFAULT (locking every future mapping at once would
 * fault it in whole). Call after allocating. 0 or -errno. */
int audio_lock_memory(void);

#endif
