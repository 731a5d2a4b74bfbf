/* alsa_log.h -- alsa-lib's own error messages, kept instead of printed.
 *
 * alsa-lib prints them to stderr by default, from whichever thread made the
 * call: the audio thread too (which must not do I/O), and the sequencer
 * thread retrying a missing /dev/snd/seq every few seconds (which must not
 * repeat a line each time). alsa-lib has one handler for the whole process,
 * so the PCM and the sequencer code share this one: each thread keeps the
 * last message its own calls caused, and adds it to its own message when a
 * call fails.
 */
#ifndef GRIDLOOP_ALSA_LOG_H
#define GRIDLOOP_ALSA_LOG_H

/* Installs the handler (once per process; safe from any thread). */
void alsa_log_install(void);

/* Forgets the calling thread's last message. */
void alsa_log_clear(void);

/* The calling thread's last message since alsa_log_clear(), or "". */
const char *alsa_log_last(void);

#endif
