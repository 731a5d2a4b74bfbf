/* alsa_log.c -- alsa-lib's error messages kept per thread instead of
 * printed (see alsa_log.h). */
#include "alsa_log.h"

#include <alsa/asoundlib.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char said[160];
static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void keep(const char *file, int line, const char *function, int err,
		 const char *fmt, ...)
{
	(void)file;
	(void)line;
	(void)function;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(said, sizeof(said), fmt, ap);
	va_end(ap);
	/* A system call's failure comes as errno, apart from the text. */
	if (err > 0 && n >= 0 && (size_t)n < sizeof(said))
		snprintf(said + n, sizeof(said) - (size_t)n, ": %s", strerror(err));
}

static void install(void)
{
	snd_lib_error_set_handler(keep);
}

void alsa_log_install(void)
{
	/* Once: alsa-lib's handler is a plain global, so setting it again
	 * while another thread calls alsa-lib would be a data race. */
	pthread_once(&installed, install);
}

void alsa_log_clear(void)
{
	said[0] = '\0';
}

const char *alsa_log_last(void)
{
	return said;
}
