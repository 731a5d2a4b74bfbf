/* link.h -- Ableton Link for C: the few calls gridloop needs of Debian's
 * header-only ableton-link-dev (ableton/Link.hpp), behind a gl_link_ API.
 * The one C++ file of the program (link.cpp); built without Link (the
 * arm64 cross build, or GRIDLOOP_NO_LINK) gl_link_create() says so and
 * returns NULL, and the program runs with [sync] link = no.
 *
 * gl_link_create/destroy/enable are not real-time safe: the supervisor's
 * thread calls them. gl_link_capture/commit and the accessors between them
 * are (Link's captureAudioSessionState / commitAudioSessionState): the
 * audio thread calls capture, reads and changes the captured state, and
 * commits it, once per period. Times are Link's clock in microseconds
 * (gl_link_clock_us: CLOCK_MONOTONIC_RAW). */
#ifndef GRIDLOOP_LINK_H
#define GRIDLOOP_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gl_link;

/* Whether this build has Link at all. */
bool gl_link_available(void);

/* A Link instance at bpm (30..300), not yet enabled, start/stop sync on or
 * off. NULL with a message in err when the build has no Link or it cannot
 * be made. */
struct gl_link *gl_link_create(double bpm, bool start_stop_sync, char *err,
			       size_t errlen);
void gl_link_destroy(struct gl_link *l);
/* Joins (true) or leaves the network session. */
void gl_link_enable(struct gl_link *l, bool on);

/* Real-time safe. */
int64_t gl_link_clock_us(const struct gl_link *l);
size_t gl_link_peers(const struct gl_link *l);
void gl_link_capture(struct gl_link *l); /* the audio session state, now */
void gl_link_commit(struct gl_link *l);	 /* what was changed since capture */
/* Of the captured state: */
double gl_link_tempo(const struct gl_link *l);
double gl_link_beat_at(const struct gl_link *l, int64_t us, double quantum);
bool gl_link_playing(const struct gl_link *l);
void gl_link_set_tempo(struct gl_link *l, double bpm, int64_t us);
/* Asks that `beat` fall at `us` (alone: it does; with peers: the nearest
 * time of the session's phase at `quantum` does). */
void gl_link_request_beat(struct gl_link *l, double beat, int64_t us, double quantum);
void gl_link_set_playing(struct gl_link *l, bool playing, int64_t us);

#ifdef __cplusplus
}
#endif

#endif
