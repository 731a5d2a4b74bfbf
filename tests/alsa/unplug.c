/* unplug.c -- pulls the cable of the test PCMs, or stalls them, for
 * scripts/test-alsa: an LD_PRELOAD library that makes alsa-lib answer as it
 * does for a USB interface unplugged mid-run (-ENODEV on read, write and
 * open), until the test plugs it back; or as the kernel does when a board
 * or device stalls for longer than its wait for a period (-EIO), or when a
 * capture stream stops without an error (a read of 0 frames, the stream no
 * longer running). Built and preloaded by scripts/test-alsa only; never
 * part of the program.
 *
 *   UNPLUG_AT_READ=N   the N-th snd_pcm_readi() (counting from 1) finds the
 *                      device gone
 *   UNPLUG_BACK=PATH   the device is back (for good) once PATH exists
 *   STALL_AT_READ=N    the N-th read and the STALL_READS-1 (default 0)
 *                      reads after it return -EIO
 *   STOP_AT_READ=N     the N-th read returns 0 frames, and the capture
 *                      stream reads as DRAINING until it is prepared again
 */
#include <alsa/asoundlib.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

static atomic_long reads;
static atomic_bool gone;
static atomic_bool back; /* plugged back: no second unplug */

static atomic_long stall_reads_left = -1; /* -1: STALL_AT_READ not reached */
static atomic_bool stopped;		  /* STOP_AT_READ: until prepared */

static long env_long(const char *name, long otherwise)
{
	const char *v = getenv(name);
	return v ? atol(v) : otherwise;
}

static void *real(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

static bool absent(void)
{
	if (!atomic_load(&gone))
		return false;
	const char *path = getenv("UNPLUG_BACK");
	if (path && access(path, F_OK) == 0) {
		atomic_store(&back, true);
		atomic_store(&gone, false);
		return false;
	}
	return true;
}

snd_pcm_sframes_t snd_pcm_readi(snd_pcm_t *pcm, void *buffer, snd_pcm_uframes_t size)
{
	const char *at = getenv("UNPLUG_AT_READ");
	if (atomic_load(&gone))
		return -ENODEV;
	long nth = atomic_fetch_add(&reads, 1) + 1;
	if (at && !atomic_load(&back) && nth == atol(at)) {
		atomic_store(&gone, true);
		return -ENODEV;
	}
	if (nth == env_long("STALL_AT_READ", 0))
		atomic_store(&stall_reads_left, env_long("STALL_READS", 1));
	if (atomic_load(&stall_reads_left) > 0) {
		atomic_fetch_sub(&stall_reads_left, 1);
		return -EIO;
	}
	if (nth == env_long("STOP_AT_READ", 0)) {
		atomic_store(&stopped, true);
		return 0;
	}
	snd_pcm_sframes_t (*f)(snd_pcm_t *, void *, snd_pcm_uframes_t) =
	    real("snd_pcm_readi");
	return f(pcm, buffer, size);
}

snd_pcm_sframes_t snd_pcm_writei(snd_pcm_t *pcm, const void *buffer,
				 snd_pcm_uframes_t size)
{
	if (atomic_load(&gone))
		return -ENODEV;
	snd_pcm_sframes_t (*f)(snd_pcm_t *, const void *, snd_pcm_uframes_t) =
	    real("snd_pcm_writei");
	return f(pcm, buffer, size);
}

int snd_pcm_open(snd_pcm_t **pcm, const char *name, snd_pcm_stream_t stream, int mode)
{
	if (absent())
		return -ENODEV;
	int (*f)(snd_pcm_t **, const char *, snd_pcm_stream_t, int) =
	    real("snd_pcm_open");
	return f(pcm, name, stream, mode);
}

int snd_pcm_open_lconf(snd_pcm_t **pcm, const char *name, snd_pcm_stream_t stream,
		       int mode, snd_config_t *lconf)
{
	if (absent())
		return -ENODEV;
	int (*f)(snd_pcm_t **, const char *, snd_pcm_stream_t, int, snd_config_t *) =
	    real("snd_pcm_open_lconf");
	return f(pcm, name, stream, mode, lconf);
}

snd_pcm_state_t snd_pcm_state(snd_pcm_t *pcm)
{
	if (atomic_load(&stopped) && snd_pcm_stream(pcm) == SND_PCM_STREAM_CAPTURE)
		return SND_PCM_STATE_DRAINING;
	snd_pcm_state_t (*f)(snd_pcm_t *) = real("snd_pcm_state");
	return f(pcm);
}

int snd_pcm_prepare(snd_pcm_t *pcm)
{
	if (snd_pcm_stream(pcm) == SND_PCM_STREAM_CAPTURE)
		atomic_store(&stopped, false);
	int (*f)(snd_pcm_t *) = real("snd_pcm_prepare");
	return f(pcm);
}
