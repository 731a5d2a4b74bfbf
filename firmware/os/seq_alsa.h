/* seq_alsa.h -- the ALSA sequencer: gridloop's MIDI boundary, on its own
 * thread.
 *
 * A sequencer client "gridloop" with one duplex port. The thread
 *  - connects by itself to every port whose name a loaded profile's port
 *    patterns match, or that [controller] ports names, and, through the
 *    System announce port (0:1), to those plugged in later; a port that
 *    goes away is said once, and when it comes back its LEDs are sent again;
 *  - on every (re)connection asks for a device inquiry (F0 7E 7F 06 01 F7;
 *    a reply naming another profile switches to it), sends the profile's
 *    introduction SysEx and every LED;
 *  - turns input events into raw bytes (snd_midi_event_decode) stamped with
 *    their arrival time, and hands them to the controllers (midi_hub.h),
 *    whose commands go straight into the engine's SOURCE_CONTROLLER queue
 *    (this thread is its only producer): a press reaches the engine by its
 *    next period;
 *  - takes the engine's events from the supervisor (fanout.h) and sends the
 *    LED changes, and the MIDI clock (24 ppqn, start/stop, song position)
 *    to every subscriber of the gridloop port, scheduled on a sequencer
 *    queue at the real time its frame is heard;
 *  - with [sync] clock = external, follows MIDI clock in instead.
 *
 * Time stamps: the input port is stamped by the kernel with the real time
 * of a sequencer queue (the time the event reached the sequencer, not when
 * this thread got round to it); queue time is mapped to CLOCK_MONOTONIC by
 * asking the queue its time between two clock readings, once a second.
 * Without the queue's stamps (an event that has none) the time of receipt
 * stands in. CLOCK_MONOTONIC maps to engine frames through the audio
 * thread's clock pair (audio_thread_clock).
 *
 * No sequencer (no /dev/snd/seq): one line says so, the thread keeps taking
 * the engine's events (so LEDs are right when it comes), and it looks for
 * the sequencer again every few seconds. The thread runs SCHED_FIFO below
 * the audio thread, or at normal priority with one message when that is
 * refused. It never waits on the audio thread (atomics and SPSC queues
 * only), never blocks on the sequencer (nonblocking handle), and allocates
 * nothing per event. Its messages go to the supervisor through a queue.
 */
#ifndef GRIDLOOP_SEQ_ALSA_H
#define GRIDLOOP_SEQ_ALSA_H

#include <alsa/asoundlib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio_thread.h"
#include "fanout.h"
#include "midi_hub.h"
#include "spsc.h"

#define SEQ_ALSA_CLIENT "gridloop"

struct seq_alsa_config {
	struct spsc *commands;	    /* the engine's SOURCE_CONTROLLER queue */
	struct fanout *events;	    /* the engine's events, from the supervisor */
	struct audio_thread *audio; /* the stream's clock; woken for the MIDI clock */
	const struct wake *supervisor_wake; /* signalled with each message; or NULL */
	struct midi_hub_config hub;
	const char *device;	  /* sequencer to open ("default") */
	const char *const *ports; /* name patterns of ports to connect to */
	int nports;
	const char *clock_in_port;    /* pattern; NULL: clock from any port */
	const char *clock_out_port;   /* pattern to connect clock out to, or NULL */
	uint32_t output_delay_frames; /* from a frame's processing to its being heard */
	int priority;		      /* SCHED_FIFO priority; 0: normal scheduling */
	uint32_t retry_ms;	      /* how often a missing sequencer is looked for */
};

struct seq_alsa_stats {
	bool open;	   /* the sequencer is there */
	bool realtime;	   /* the thread runs SCHED_FIFO */
	bool queue_stamps; /* input stamped by the queue (else: on receipt) */
	int controllers;   /* connected now */
	uint32_t commands; /* queued for the engine */
	uint32_t commands_refused;
	uint32_t events;	 /* engine events taken */
	uint32_t events_dropped; /* engine events the fan-out had no room for */
	uint32_t sent;		 /* sequencer events sent (LEDs, SysEx, clock) */
	uint32_t clock_messages;
	uint32_t input_lost;  /* the kernel's input buffer overflowed */
	uint32_t output_lost; /* events the sequencer refused */
	/* What woke the thread: engine events (and the audio thread's timed
	 * wake-ups), MIDI in or the kernel taking output, its own timeout. */
	uint32_t woke_events, woke_midi, woke_timeout;
};

/* Not real-time safe: allocates. The strings in cfg must outlive it. NULL:
 * out of memory. */
struct seq_alsa *seq_alsa_create(const struct seq_alsa_config *cfg);
void seq_alsa_destroy(struct seq_alsa *s); /* stops it first */

/* Starts the thread: 0 or -errno. */
int seq_alsa_start(struct seq_alsa *s);
void seq_alsa_stop(struct seq_alsa *s);

/* One line for the log (no "gridloop: " prefix); false when none. */
bool seq_alsa_pop_report(struct seq_alsa *s, char *text, size_t len);
void seq_alsa_get_stats(const struct seq_alsa *s, struct seq_alsa_stats *st);

/* ---- events <-> raw MIDI bytes (alsa-lib only: no kernel needed) -------- */

/* A codec for the two functions below (snd_midi_event_free() it). 0 or
 * -errno. */
int seq_alsa_codec_new(snd_midi_event_t **codec);

/* The raw MIDI bytes of a sequencer event, whole (never running status: the
 * bytes of each event stand alone, whatever came before from another
 * port). 0 when it is no MIDI message (announcements) or longer than cap. */
size_t seq_alsa_event_bytes(snd_midi_event_t *codec, const snd_seq_event_t *ev,
			    uint8_t *out, size_t cap);

/* The sequencer events of raw MIDI bytes (whole messages, running status
 * allowed): emit gets each one (a SysEx event points into the codec, valid
 * until the next call); a negative return from emit stops and is returned.
 * Returns the number of events, or -EINVAL for bytes that are no MIDI. */
int seq_alsa_bytes_events(snd_midi_event_t *codec, const uint8_t *bytes, size_t len,
			  int (*emit)(void *ctx, snd_seq_event_t *ev), void *ctx);

#endif
