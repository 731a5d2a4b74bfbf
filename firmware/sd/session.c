/* session.c -- the plain session data of session.h: its defaults, its clip
 * count, and freeing the clips' audio. Everything that reads or writes a
 * session (manifest, session store, exporter) starts from session_init(). */
#include <stdlib.h>
#include <string.h>

#include "session.h"

#include "engine.h"

void session_init(struct session *s, uint32_t rate)
{
	/* memset first: every byte is known, padding included, so two
	 * initialised sessions compare equal with memcmp (the tests do). */
	memset(s, 0, sizeof(*s));
	s->rate = rate;
	s->tempo = 0;
	s->beats_per_bar = 4;
	s->quantise = QUANTISE_BAR;
	s->metronome = false;
	s->master_volume = 1.0f;
	for (int t = 0; t < GL_TRACKS; t++) {
		s->tracks[t].volume = 1.0f;
		s->tracks[t].mute = false;
	}
}

void session_init_settings(struct session *s, const struct engine_config *ec)
{
	session_init(s, ec->rate);
	s->tempo = ec->tempo;
	s->beats_per_bar = ec->beats_per_bar;
	s->quantise = ec->quantise;
	s->metronome = ec->metronome;
}

void session_free_audio(struct session *s)
{
	for (int i = 0; i < GL_SLOTS; i++) {
		struct session_clip *c = &s->clips[i];
		free(c->audio[0]);
		free(c->audio[1]);
		c->audio[0] = NULL;
		c->audio[1] = NULL;
	}
}

int session_clip_count(const struct session *s)
{
	int count = 0;
	for (int i = 0; i < GL_SLOTS; i++)
		if (s->clips[i].present)
			count++;
	return count;
}
