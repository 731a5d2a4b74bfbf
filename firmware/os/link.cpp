/* link.cpp -- the gl_link_ C API over ableton::Link (see link.h). The only
 * C++ of the program: it allocates and starts Link's network thread in
 * gl_link_create(), and keeps one captured session state that the audio
 * thread reads and changes between gl_link_capture() and gl_link_commit()
 * (both real-time safe in Link). */
#include "link.h"

#include <cstdio>

#ifndef GRIDLOOP_NO_LINK
#include <ableton/Link.hpp>
#include <chrono>
#include <new>

struct gl_link {
	ableton::Link link;
	ableton::Link::SessionState state;
	explicit gl_link(double bpm) : link(bpm), state(link.captureAppSessionState())
	{
	}
};

using std::chrono::microseconds;

bool gl_link_available(void)
{
	return true;
}

struct gl_link *gl_link_create(double bpm, bool start_stop_sync, char *err, size_t errlen)
{
	try {
		gl_link *l = new gl_link(bpm);
		l->link.enableStartStopSync(start_stop_sync);
		return l;
	} catch (const std::exception &e) {
		snprintf(err, errlen, "cannot start Ableton Link: %s", e.what());
	} catch (...) {
		snprintf(err, errlen, "cannot start Ableton Link");
	}
	return nullptr;
}

void gl_link_destroy(struct gl_link *l)
{
	delete l;
}

void gl_link_enable(struct gl_link *l, bool on)
{
	l->link.enable(on);
}

int64_t gl_link_clock_us(const struct gl_link *l)
{
	return l->link.clock().micros().count();
}

size_t gl_link_peers(const struct gl_link *l)
{
	return l->link.numPeers();
}

void gl_link_capture(struct gl_link *l)
{
	l->state = l->link.captureAudioSessionState();
}

void gl_link_commit(struct gl_link *l)
{
	l->link.commitAudioSessionState(l->state);
}

double gl_link_tempo(const struct gl_link *l)
{
	return l->state.tempo();
}

double gl_link_beat_at(const struct gl_link *l, int64_t us, double quantum)
{
	return l->state.beatAtTime(microseconds(us), quantum);
}

bool gl_link_playing(const struct gl_link *l)
{
	return l->state.isPlaying();
}

void gl_link_set_tempo(struct gl_link *l, double bpm, int64_t us)
{
	l->state.setTempo(bpm, microseconds(us));
}

void gl_link_request_beat(struct gl_link *l, double beat, int64_t us, double quantum)
{
	l->state.requestBeatAtTime(beat, microseconds(us), quantum);
}

void gl_link_set_playing(struct gl_link *l, bool playing, int64_t us)
{
	l->state.setIsPlaying(playing, microseconds(us));
}

#else /* GRIDLOOP_NO_LINK: this build has no Link (see the Makefile) */

bool gl_link_available(void)
{
	return false;
}

struct gl_link *gl_link_create(double, bool, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "this gridloop was built without Ableton Link (no ableton-link-dev "
		 "for its architecture): set [sync] link = no");
	return nullptr;
}

void gl_link_destroy(struct gl_link *)
{
}
void gl_link_enable(struct gl_link *, bool)
{
}
int64_t gl_link_clock_us(const struct gl_link *)
{
	return 0;
}
size_t gl_link_peers(const struct gl_link *)
{
	return 0;
}
void gl_link_capture(struct gl_link *)
{
}
void gl_link_commit(struct gl_link *)
{
}
double gl_link_tempo(const struct gl_link *)
{
	return 0;
}
double gl_link_beat_at(const struct gl_link *, int64_t, double)
{
	return 0;
}
bool gl_link_playing(const struct gl_link *)
{
	return false;
}
void gl_link_set_tempo(struct gl_link *, double, int64_t)
{
}
void gl_link_request_beat(struct gl_link *, double, int64_t, double)
{
}
void gl_link_set_playing(struct gl_link *, bool, int64_t)
{
}

#endif
