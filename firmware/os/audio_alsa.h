/* audio_alsa.h -- the PCM duplex on raw ALSA: capture and playback on one or
 * two devices, negotiated, linked where the driver allows, prefilled and
 * started the way alsa-lib's test/latency.c does it.
 *
 * The only file that talks to alsa-lib's PCM API. Opening and closing are for
 * the non-real-time side; start, restart, read, write and the conversions are
 * what the audio thread calls. They never allocate, log or sleep: read and
 * write block on the device, the audio thread's one allowed blocking point.
 */
#ifndef GRIDLOOP_AUDIO_ALSA_H
#define GRIDLOOP_AUDIO_ALSA_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sample_format {
	SAMPLE_AUTO, /* the first of the rest that the device takes */
	SAMPLE_FLOAT,
	SAMPLE_S32,
	SAMPLE_S24_3LE,
	SAMPLE_S16,
	SAMPLE_FORMAT_COUNT
};

const char *audio_alsa_format_name(enum sample_format f);
/* Accepts the names above in any case, plus FLOAT_LE, S32_LE, S16_LE. */
bool audio_alsa_format_from_name(const char *name, enum sample_format *f);

struct audio_alsa_params {
	const char *capture_device;
	const char *playback_device;
	const char *alsa_config; /* extra ALSA config defining PCMs, or NULL */
	uint32_t rate;
	uint32_t period;  /* frames; both streams get exactly this */
	uint32_t periods; /* per buffer */
	uint32_t capture_channels;
	uint32_t playback_channels; /* >= 1; the engine's stereo goes to the first two */
	uint32_t click_channel;	    /* 0: the click is in the mix; else the first
				     * (1-based) of click_channels playback
				     * channels that get the engine's own click */
	uint32_t click_channels;    /* 1 or 2 */
	enum sample_format format;
};

/* What the devices agreed to. */
struct audio_alsa_setup {
	enum sample_format capture_format;
	enum sample_format playback_format;
	uint32_t buffer_frames; /* playback buffer: the prefill, the round trip */
	bool linked;		/* snd_pcm_link worked: one start for both */
};

struct audio_alsa;

/* Not real-time safe. 0, or -errno with a message in err. */
int audio_alsa_open(struct audio_alsa **out, const struct audio_alsa_params *p, char *err,
		    size_t errlen);
/* Open errors that mean "not there (yet)": unplugged, not created, busy. */
bool audio_alsa_is_absent(int err);
/* Stops both streams (flushing what the file plugin holds) and closes. */
void audio_alsa_close(struct audio_alsa *a);
void audio_alsa_get_setup(const struct audio_alsa *a, struct audio_alsa_setup *s);

/* ---- The audio thread's side ------------------------------------------ */

/* Prefill playback with a buffer of silence, then start both streams. After
 * an xrun, restart: stop both, prepare both, prefill, start. 0 or -errno. */
int audio_alsa_start(struct audio_alsa *a);
int audio_alsa_restart(struct audio_alsa *a);

/* Blocking: read frames (<= period) captured frames into the raw buffer.
 * 0, or -EPIPE / -ESTRPIPE (xrun, suspend: restart), -EIO (a stall:
 * restart, audio_alsa_is_stall; a plugin device that gave nothing for as
 * long as the kernel waits, max(100 ms, 1.1 x the buffer), says it too),
 * -ENODATA (a file input ran out), other -errno (the device is gone or
 * broken). */
int audio_alsa_read(struct audio_alsa *a, uint32_t frames);
/* The raw buffer as frames x capture_channels interleaved floats. */
void audio_alsa_capture_to_float(const struct audio_alsa *a, float *in, uint32_t frames);
/* frames x 2 interleaved floats (the engine's output) into the raw buffer. */
/* click: the engine's own click (engine_set_click_out), mono, or NULL. */
void audio_alsa_float_to_playback(struct audio_alsa *a, const float *out,
				  const float *click, uint32_t frames);
/* The playback stream's delay: frames queued before the next frame written
 * is heard (snd_pcm_delay: what the driver counts; the jack plugin counts
 * its ring, updated once a JACK cycle). Never blocks on the device, but
 * takes alsa-lib's lock of the PCM as read and write do: call it next to
 * them, outside the real-time marks. 0, or -errno (the device has none,
 * an xrun): then *frames is unchanged. */
int audio_alsa_playback_delay(struct audio_alsa *a, int64_t *frames);
/* Blocking: write the raw buffer. 0 or -errno as for read. */
int audio_alsa_write(struct audio_alsa *a, uint32_t frames);

static inline bool audio_alsa_is_xrun(int err)
{
	return err == -EPIPE || err == -ESTRPIPE;
}

/* A stall: the device stopped delivering without an xrun. The kernel's
 * wait for a period gives up with -EIO after max(100 ms, 1.1 x the
 * buffer) while the stream still reads as running (a board or bus stall of
 * that length), and a capture stream found stopped after a read of 0
 * frames is given as -EIO too. Both are ridden out as an xrun (restart),
 * not taken for a lost device. */
static inline bool audio_alsa_is_stall(int err)
{
	return err == -EIO;
}

#endif
