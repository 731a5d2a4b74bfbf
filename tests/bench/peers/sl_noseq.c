/* sl_noseq.c -- lets SooperLooper run where there is no /dev/snd/seq (the
 * benchmark's jackd dummy server, scripts/bench-peers): it calls these on a
 * sequencer handle it never got, and alsa-lib asserts. Preloaded into
 * SooperLooper only (LD_PRELOAD); never part of gridloop. No ports, nothing
 * pending, and its MIDI thread sleeps for good instead of reading. */
#include <alsa/asoundlib.h>
#include <unistd.h>

int snd_seq_poll_descriptors_count(snd_seq_t *seq, short events)
{
	(void)seq;
	(void)events;
	return 0;
}

int snd_seq_poll_descriptors(snd_seq_t *seq, struct pollfd *pfds, unsigned int space,
			     short events)
{
	(void)seq;
	(void)pfds;
	(void)space;
	(void)events;
	return 0;
}

int snd_seq_event_input_pending(snd_seq_t *seq, int fetch)
{
	(void)seq;
	(void)fetch;
	return 0;
}

int snd_seq_event_input(snd_seq_t *seq, snd_seq_event_t **ev)
{
	(void)seq;
	(void)ev;
	for (;;)
		pause();
}
