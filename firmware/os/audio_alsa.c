/* audio_alsa.c -- the raw ALSA PCM duplex (see audio_alsa.h), modelled on
 * alsa-lib's test/latency.c: interleaved read/write access, the same period
 * on both streams, a start threshold out of reach so that nothing starts by
 * itself, playback prefilled with one buffer of silence, then start. */
#include "audio_alsa.h"

#include <alsa/asoundlib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alsa_log.h"

struct audio_alsa {
	snd_pcm_t *capture;
	snd_pcm_t *playback;
	snd_config_t *config; /* the tree the PCMs were opened from, or NULL */
	struct audio_alsa_params params;
	struct audio_alsa_setup setup;
	unsigned capture_frame_bytes;
	unsigned playback_frame_bytes;
	unsigned char *capture_raw;  /* one period, device format */
	unsigned char *playback_raw; /* one period, device format */
	unsigned char *silence;	     /* one buffer of playback silence */
	/* How long a read or write waits for the device, in ms; -1: as long
	 * as the driver lets it (a kernel device: its own timeout, EIO). */
	int wait_ms;
};

static const struct {
	const char *name;
	snd_pcm_format_t alsa;
	unsigned bytes;
} formats[SAMPLE_FORMAT_COUNT] = {
    [SAMPLE_AUTO] = {"auto", SND_PCM_FORMAT_UNKNOWN, 0},
    [SAMPLE_FLOAT] = {"FLOAT", SND_PCM_FORMAT_FLOAT_LE, 4},
    [SAMPLE_S32] = {"S32", SND_PCM_FORMAT_S32_LE, 4},
    [SAMPLE_S24_3LE] = {"S24_3LE", SND_PCM_FORMAT_S24_3LE, 3},
    [SAMPLE_S16] = {"S16", SND_PCM_FORMAT_S16_LE, 2},
};

const char *audio_alsa_format_name(enum sample_format f)
{
	return f < SAMPLE_FORMAT_COUNT ? formats[f].name : "?";
}

bool audio_alsa_format_from_name(const char *name, enum sample_format *f)
{
	for (int i = 0; i < SAMPLE_FORMAT_COUNT; i++) {
		size_t n = strlen(formats[i].name);
		/* "FLOAT_LE", "S16_LE": the ALSA spellings of the same formats. */
		if (!strcasecmp(name, formats[i].name) ||
		    (i != SAMPLE_AUTO && i != SAMPLE_S24_3LE &&
		     !strncasecmp(name, formats[i].name, n) &&
		     !strcasecmp(name + n, "_LE"))) {
			*f = (enum sample_format)i;
			return true;
		}
	}
	return false;
}

bool audio_alsa_is_absent(int rc)
{
	return rc == -ENOENT || rc == -ENODEV || rc == -ENXIO || rc == -EBUSY;
}

static int say(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* What alsa-lib said about it (alsa_log.h), instead of its own line
	 * on stderr: a device awaited for minutes repeats nothing. */
	const char *said = alsa_log_last();
	if (said[0] && n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, " (alsa-lib: %s)", said);
	return rc;
}

/* The system's ALSA configuration with the extra file loaded on top, so that
 * its PCMs can use the system's (null, hw, ...) as slaves. */
static int load_config(const char *path, snd_config_t **out, char *err, size_t errlen)
{
	snd_config_t *system = NULL, *tree = NULL;
	snd_input_t *in = NULL;
	int rc = snd_config_update_ref(&system);
	if (rc < 0)
		return say(err, errlen, rc, "cannot read the ALSA configuration: %s",
			   snd_strerror(rc));
	rc = snd_config_copy(&tree, system);
	snd_config_unref(system);
	if (rc < 0)
		return say(err, errlen, rc, "cannot copy the ALSA configuration: %s",
			   snd_strerror(rc));
	rc = snd_input_stdio_open(&in, path, "r");
	if (rc < 0) {
		snd_config_delete(tree);
		return say(err, errlen, rc, "alsa_config %s: %s", path, snd_strerror(rc));
	}
	rc = snd_config_load(tree, in);
	snd_input_close(in);
	if (rc < 0) {
		snd_config_delete(tree);
		return say(err, errlen, -EINVAL,
			   "alsa_config %s: not a valid ALSA configuration: %s", path,
			   snd_strerror(rc));
	}
	*out = tree;
	return 0;
}

static int open_stream(struct audio_alsa *a, snd_pcm_t **pcm, const char *device,
		       snd_pcm_stream_t stream, char *err, size_t errlen)
{
	const char *what = stream == SND_PCM_STREAM_CAPTURE ? "capture" : "playback";
	int rc = a->config ? snd_pcm_open_lconf(pcm, device, stream, 0, a->config)
			   : snd_pcm_open(pcm, device, stream, 0);
	if (rc < 0)
		return say(err, errlen, rc, "%s device '%s': cannot open: %s", what,
			   device, snd_strerror(rc));
	return 0;
}

/* hw and sw parameters of one stream, as test/latency.c's setparams_stream
 * and setparams_set: exact rate, channels, period and periods; the sample
 * format the caller asked for, or the first the device takes. */
static int negotiate(snd_pcm_t *pcm, const struct audio_alsa_params *p, unsigned channels,
		     enum sample_format *format, const char *what, const char *device,
		     char *err, size_t errlen)
{
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	int rc = snd_pcm_hw_params_any(pcm, hw);
	if (rc < 0)
		return say(err, errlen, rc, "%s device '%s': no configurations: %s", what,
			   device, snd_strerror(rc));
	rc = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED);
	if (rc < 0)
		return say(err, errlen, rc,
			   "%s device '%s': no interleaved read/write access", what,
			   device);

	enum sample_format chosen = SAMPLE_AUTO;
	for (int f = SAMPLE_FLOAT; f < SAMPLE_FORMAT_COUNT; f++) {
		if (p->format != SAMPLE_AUTO && f != (int)p->format)
			continue;
		if (snd_pcm_hw_params_test_format(pcm, hw, formats[f].alsa) == 0) {
			chosen = (enum sample_format)f;
			break;
		}
	}
	if (chosen == SAMPLE_AUTO)
		return say(err, errlen, -EINVAL,
			   "%s device '%s' takes none of the formats %s", what, device,
			   p->format == SAMPLE_AUTO ? "FLOAT, S32, S24_3LE, S16"
						    : formats[p->format].name);
	rc = snd_pcm_hw_params_set_format(pcm, hw, formats[chosen].alsa);
	if (rc < 0)
		return say(err, errlen, rc, "%s device '%s': format %s: %s", what, device,
			   formats[chosen].name, snd_strerror(rc));

	rc = snd_pcm_hw_params_set_channels(pcm, hw, channels);
	if (rc < 0) {
		unsigned lo = 0, hi = 0;
		snd_pcm_hw_params_get_channels_min(hw, &lo);
		snd_pcm_hw_params_get_channels_max(hw, &hi);
		return say(err, errlen, rc,
			   "%s device '%s' takes %u..%u channels, not %u", what, device,
			   lo, hi, channels);
	}
	rc = snd_pcm_hw_params_set_rate(pcm, hw, p->rate, 0);
	if (rc < 0)
		return say(err, errlen, rc, "%s device '%s' does not run at %u Hz", what,
			   device, p->rate);
	rc = snd_pcm_hw_params_set_period_size(pcm, hw, p->period, 0);
	if (rc < 0) {
		snd_pcm_uframes_t lo = 0, hi = 0;
		int dir = 0;
		snd_pcm_hw_params_get_period_size_min(hw, &lo, &dir);
		snd_pcm_hw_params_get_period_size_max(hw, &hi, &dir);
		return say(
		    err, errlen, rc,
		    "%s device '%s' refuses a period of %u frames (it takes %lu..%lu)",
		    what, device, p->period, (unsigned long)lo, (unsigned long)hi);
	}
	rc = snd_pcm_hw_params_set_periods(pcm, hw, p->periods, 0);
	if (rc < 0)
		return say(err, errlen, rc,
			   "%s device '%s' refuses %u periods of %u frames", what, device,
			   p->periods, p->period);
	rc = snd_pcm_hw_params(pcm, hw);
	if (rc < 0)
		return say(err, errlen, rc, "%s device '%s': cannot set parameters: %s",
			   what, device, snd_strerror(rc));

	/* We start the streams ourselves, after the prefill, and want to wake
	 * up once per period. */
	snd_pcm_uframes_t boundary = 0;
	rc = snd_pcm_sw_params_current(pcm, sw);
	if (rc >= 0)
		rc = snd_pcm_sw_params_get_boundary(sw, &boundary);
	if (rc >= 0)
		rc = snd_pcm_sw_params_set_start_threshold(pcm, sw, boundary);
	if (rc >= 0)
		rc = snd_pcm_sw_params_set_avail_min(pcm, sw, p->period);
	if (rc >= 0)
		rc = snd_pcm_sw_params(pcm, sw);
	if (rc < 0)
		return say(err, errlen, rc,
			   "%s device '%s': cannot set software parameters: %s", what,
			   device, snd_strerror(rc));
	*format = chosen;
	return 0;
}

int audio_alsa_open(struct audio_alsa **out, const struct audio_alsa_params *p, char *err,
		    size_t errlen)
{
	struct audio_alsa *a = calloc(1, sizeof(*a));
	if (!a)
		return say(err, errlen, -ENOMEM, "out of memory");
	a->params = *p;
	alsa_log_install();
	alsa_log_clear();
	int rc = 0;
	if (p->alsa_config)
		rc = load_config(p->alsa_config, &a->config, err, errlen);
	if (!rc)
		rc = open_stream(a, &a->capture, p->capture_device,
				 SND_PCM_STREAM_CAPTURE, err, errlen);
	if (!rc)
		rc = open_stream(a, &a->playback, p->playback_device,
				 SND_PCM_STREAM_PLAYBACK, err, errlen);
	if (!rc)
		rc = negotiate(a->capture, p, p->capture_channels,
			       &a->setup.capture_format, "capture", p->capture_device,
			       err, errlen);
	if (!rc)
		rc = negotiate(a->playback, p, p->playback_channels,
			       &a->setup.playback_format, "playback", p->playback_device,
			       err, errlen);
	if (rc) {
		audio_alsa_close(a);
		return rc;
	}
	snd_pcm_uframes_t buffer = 0, period = 0;
	snd_pcm_get_params(a->playback, &buffer, &period);
	a->setup.buffer_frames = (uint32_t)buffer;
	a->capture_frame_bytes =
	    formats[a->setup.capture_format].bytes * p->capture_channels;
	a->playback_frame_bytes =
	    formats[a->setup.playback_format].bytes * p->playback_channels;
	/* calloc: every format here is signed, so zero bytes are silence, and
	 * the buffers are touched now rather than on the real-time thread. */
	a->capture_raw = calloc(p->period, a->capture_frame_bytes);
	a->playback_raw = calloc(p->period, a->playback_frame_bytes);
	a->silence = calloc(buffer, a->playback_frame_bytes);
	if (!a->capture_raw || !a->playback_raw || !a->silence) {
		audio_alsa_close(a);
		return say(err, errlen, -ENOMEM, "out of memory");
	}
	/* Not every pair of PCMs can be linked (plugins, two cards): then we
	 * start them one after the other, which is what latency.c's link would
	 * have done in the kernel anyway. */
	a->setup.linked = snd_pcm_link(a->capture, a->playback) == 0;
	/* The kernel's own bound on a wait for a period, max(100 ms, 1.1 x
	 * the buffer), for the plugins' waits too. */
	a->wait_ms = -1;
	if (snd_pcm_type(a->capture) != SND_PCM_TYPE_HW ||
	    snd_pcm_type(a->playback) != SND_PCM_TYPE_HW) {
		uint64_t ms = (uint64_t)buffer * 1100 / (p->rate ? p->rate : 48000);
		a->wait_ms = ms < 100 ? 100 : ms > 10000 ? 10000 : (int)ms;
	}
	*out = a;
	return 0;
}

void audio_alsa_get_setup(const struct audio_alsa *a, struct audio_alsa_setup *s)
{
	*s = a->setup;
}

void audio_alsa_close(struct audio_alsa *a)
{
	if (!a)
		return;
	/* drop, not close alone: the file plugin writes out what it still
	 * holds only on drop or drain. */
	if (a->playback) {
		snd_pcm_drop(a->playback);
		snd_pcm_close(a->playback);
	}
	if (a->capture) {
		snd_pcm_drop(a->capture);
		snd_pcm_close(a->capture);
	}
	if (a->config)
		snd_config_delete(a->config);
	free(a->capture_raw);
	free(a->playback_raw);
	free(a->silence);
	free(a);
}

/* A plugin device's wait, bounded as the kernel bounds its own (a JACK
 * server that died leaves the jack plugin's poll waiting for good, and a
 * stop then never ends): 1 ready, 0 after wait_ms (a stall: -EIO to the
 * caller, as the kernel says it), or -errno (an xrun, a suspend). A kernel
 * device (wait_ms -1) returns 1 at once: its read or write waits. */
static int wait_ready(snd_pcm_t *pcm, int wait_ms)
{
	if (wait_ms < 0)
		return 1;
	int rc = snd_pcm_wait(pcm, wait_ms);
	return rc == -EINTR ? 1 : rc;
}

static int write_all(snd_pcm_t *pcm, const unsigned char *buf, unsigned frame_bytes,
		     uint32_t frames, int wait_ms)
{
	while (frames > 0) {
		int w = wait_ready(pcm, wait_ms);
		if (w == 0)
			return -EIO;
		if (w < 0)
			return w;
		snd_pcm_sframes_t n = snd_pcm_writei(pcm, buf, frames);
		if (n == -EAGAIN || n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		buf += (size_t)n * frame_bytes;
		frames -= (uint32_t)n;
	}
	return 0;
}

int audio_alsa_start(struct audio_alsa *a)
{
	int rc = write_all(a->playback, a->silence, a->playback_frame_bytes,
			   a->setup.buffer_frames, a->wait_ms);
	if (rc < 0)
		return rc;
	if (a->setup.linked)
		return snd_pcm_start(a->capture);
	rc = snd_pcm_start(a->playback);
	if (rc < 0)
		return rc;
	return snd_pcm_start(a->capture);
}

int audio_alsa_restart(struct audio_alsa *a)
{
	/* Never snd_pcm_recover(): it logs, and sleeps on a suspend. prepare
	 * both, or capture stays stopped and reads block for good. */
	snd_pcm_drop(a->playback);
	snd_pcm_drop(a->capture);
	int rc = snd_pcm_prepare(a->playback);
	if (rc >= 0)
		rc = snd_pcm_prepare(a->capture);
	if (rc < 0)
		return rc;
	return audio_alsa_start(a);
}

int audio_alsa_read(struct audio_alsa *a, uint32_t frames)
{
	unsigned char *buf = a->capture_raw;
	/* The null PCM (under the file plugin) leaves the buffer as it was, and
	 * so does alsa-lib 1.2.8's file plugin once its input has run out:
	 * silence then, not the last period again. */
	memset(buf, 0, (size_t)frames * a->capture_frame_bytes);
	while (frames > 0) {
		int w = wait_ready(a->capture, a->wait_ms);
		if (w == 0)
			return -EIO;
		if (w < 0)
			return w;
		snd_pcm_sframes_t n = snd_pcm_readi(a->capture, buf, frames);
		if (n == -EAGAIN || n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0) {
			/* A newer file plugin's input at its end: the stream still
			 * runs (its slave, the null PCM, does). A device's capture
			 * stream that stopped without an error: a stall. */
			if (snd_pcm_state(a->capture) != SND_PCM_STATE_RUNNING)
				return -EIO;
			return -ENODATA;
		}
		buf += (size_t)n * a->capture_frame_bytes;
		frames -= (uint32_t)n;
	}
	return 0;
}

int audio_alsa_playback_delay(struct audio_alsa *a, int64_t *frames)
{
	snd_pcm_sframes_t d = 0;
	int rc = snd_pcm_delay(a->playback, &d);
	if (rc < 0)
		return rc;
	*frames = d;
	return 0;
}

int audio_alsa_write(struct audio_alsa *a, uint32_t frames)
{
	return write_all(a->playback, a->playback_raw, a->playback_frame_bytes, frames,
			 a->wait_ms);
}

/* ---- Sample conversion: pure arithmetic, on the real-time thread. ------
 * Integers map to [-1, 1) by dividing by 2^(bits-1), and back by the same
 * factor, rounded and clamped: a sample that came in as an integer goes out
 * as the same integer. */

static int32_t read_s24_3le(const unsigned char *b)
{
	uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
	return (int32_t)(u << 8) >> 8; /* sign-extend bit 23 */
}

static double clamp_scaled(float x, double scale)
{
	double v = (double)x * scale;
	if (isnan(v))
		return 0.0;
	if (v < -scale)
		return -scale;
	if (v > scale - 1)
		return scale - 1;
	return v;
}

void audio_alsa_capture_to_float(const struct audio_alsa *a, float *in, uint32_t frames)
{
	size_t n = (size_t)frames * a->params.capture_channels;
	const unsigned char *raw = a->capture_raw;
	switch (a->setup.capture_format) {
	case SAMPLE_FLOAT:
		memcpy(in, raw, n * sizeof(float));
		break;
	case SAMPLE_S32:
		for (size_t i = 0; i < n; i++) {
			int32_t v;
			memcpy(&v, raw + 4 * i, 4);
			in[i] = (float)((double)v / 2147483648.0);
		}
		break;
	case SAMPLE_S24_3LE:
		for (size_t i = 0; i < n; i++)
			in[i] = (float)read_s24_3le(raw + 3 * i) / 8388608.0f;
		break;
	case SAMPLE_S16:
		for (size_t i = 0; i < n; i++) {
			int16_t v;
			memcpy(&v, raw + 2 * i, 2);
			in[i] = (float)v / 32768.0f;
		}
		break;
	default:
		break;
	}
}

/* Engine channel for playback channel c: left, right, and silence on any
 * further channels; a mono device gets both. */
static float playback_sample(const float *frame, unsigned channels, unsigned c)
{
	if (channels == 1)
		return 0.5f * (frame[0] + frame[1]);
	return c < 2 ? frame[c] : 0.0f;
}

void audio_alsa_float_to_playback(struct audio_alsa *a, const float *out,
				  const float *click, uint32_t frames)
{
	unsigned channels = a->params.playback_channels;
	const unsigned c0 =
	    a->params.click_channel ? a->params.click_channel - 1 : channels;
	const unsigned c1 = c0 + a->params.click_channels;
	unsigned char *raw = a->playback_raw;
	enum sample_format f = a->setup.playback_format;
	for (uint32_t i = 0; i < frames; i++) {
		for (unsigned c = 0; c < channels; c++) {
			float x = click && c >= c0 && c < c1
				      ? click[i]
				      : playback_sample(out + 2 * i, channels, c);
			size_t k = (size_t)i * channels + c;
			if (f == SAMPLE_FLOAT) {
				memcpy(raw + 4 * k, &x, 4);
			} else if (f == SAMPLE_S32) {
				int32_t v = (int32_t)lrint(clamp_scaled(x, 2147483648.0));
				memcpy(raw + 4 * k, &v, 4);
			} else if (f == SAMPLE_S24_3LE) {
				int32_t v = (int32_t)lrint(clamp_scaled(x, 8388608.0));
				raw[3 * k] = (unsigned char)(v & 0xFF);
				raw[3 * k + 1] = (unsigned char)((v >> 8) & 0xFF);
				raw[3 * k + 2] = (unsigned char)((v >> 16) & 0xFF);
			} else if (f == SAMPLE_S16) {
				int16_t v = (int16_t)lrint(clamp_scaled(x, 32768.0));
				memcpy(raw + 2 * k, &v, 2);
			}
		}
	}
}
