/* engine.c -- the engine's period loop, its queues and its read-only views.
 *
 * engine_process() splits each period at every frame where something must
 * happen (a command's frame, a quantised state change, a beat) and renders
 * the pieces in between, so every change lands on its exact frame, also in
 * the middle of a period. Clip state changes live in clip.c, rendering and
 * recording in mix.c. Nothing here allocates after engine_create().
 */
#include "engine_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void engine_config_defaults(struct engine_config *cfg, uint32_t rate)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rate = rate ? rate : 48000;
	cfg->max_period = 1024;
	cfg->input_channels = 2;
	for (int t = 0; t < GL_TRACKS; t++)
		cfg->track_input[t] =
		    (struct track_input){.first_channel = 0, .stereo = 0};
	cfg->latency_frames = 0;
	cfg->fade_frames = cfg->rate * 3 / 1000;
	cfg->grow_frames = cfg->rate;
	cfg->tempo = 0;
	cfg->beats_per_bar = 4;
	cfg->quantise = QUANTISE_BAR;
	cfg->metronome = false;
	cfg->click_volume = 1.0f;
	cfg->undo_levels = GL_UNDO_LEVELS_DEFAULT;
	cfg->undo_memory_mb = 0;
}

static const char *config_problem(const struct engine_config *c)
{
	if (!GL_RATE_OK(c->rate))
		return "rate must be 44100, 48000 or 96000";
	if (c->max_period < GL_MIN_PERIOD || c->max_period > GL_MAX_PERIOD)
		return "period size must be 16..2048 frames";
	if (c->input_channels < 1 || c->input_channels > GL_MAX_IN_CH)
		return "input channels must be 1..32";
	for (int t = 0; t < GL_TRACKS; t++) {
		unsigned last =
		    c->track_input[t].first_channel + (c->track_input[t].stereo ? 1 : 0);
		if (last >= c->input_channels)
			return "a track's input channel is beyond the input channels";
	}
	if (c->grow_frames < GL_GROW_MIN_PERIODS * c->max_period)
		return "grow increment must be at least 4 periods";
	if (c->tempo != 0 && !(c->tempo >= TEMPO_MIN && c->tempo <= TEMPO_MAX))
		return "tempo must be 30..300 BPM (or 0: set by the first loop)";
	if (c->beats_per_bar < GL_BEATS_MIN || c->beats_per_bar > GL_BEATS_MAX)
		return "beats per bar must be 1..16";
	if (c->quantise > QUANTISE_BAR)
		return "quantise must be off, beat or bar";
	if (c->fade_frames > c->rate * GL_FADE_MS_MAX / 1000.0)
		return "fades longer than 100 ms";
	if (!(c->click_volume >= 0 && c->click_volume <= GL_GAIN_MAX))
		return "click volume must be 0..2";
	if (c->undo_levels < GL_UNDO_LEVELS_MIN || c->undo_levels > GL_UNDO_LEVELS_MAX)
		return "undo levels must be 1..16";
	if (c->undo_memory_mb > GL_UNDO_MB_MAX)
		return "undo memory must be 0..16777216 MB";
	return NULL;
}

struct engine *engine_create(const struct engine_config *cfg, const char **why)
{
	const char *problem = config_problem(cfg);
	if (problem) {
		if (why)
			*why = problem;
		return NULL;
	}
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		goto nomem;
	e->cfg = *cfg;
	e->chunk_frames = clipmem_chunk_frames(cfg->grow_frames);
	e->lead_frames = clipmem_lead_frames(cfg->grow_frames);
	e->record_lead_frames = clipmem_record_lead_frames(cfg->grow_frames);
	transport_init(&e->tr, cfg->rate, cfg->tempo, cfg->beats_per_bar);
	e->quantise = cfg->quantise;
	e->metronome = cfg->metronome;
	e->next_beat = transport_next_beat(&e->tr, 0);
	e->master = e->master_target = 1.0f;
	for (int t = 0; t < GL_TRACKS; t++) {
		struct track *tr = &e->tracks[t];
		tr->main.slot = tr->fading.slot = -1;
		tr->gain = tr->gain_target = 1.0f;
	}
	for (int s = 0; s < GL_SLOTS; s++) {
		struct clip *c = &e->clips[s];
		c->state = c->reported = CLIP_EMPTY;
		c->channels = cfg->track_input[track_of(s)].stereo ? 2 : 1;
		c->queued_at = GL_NEVER;
		c->oneshot_end = GL_NEVER;
		c->reverse_at = GL_NEVER;
		c->speed_at = GL_NEVER;
		atomic_init(&e->clip_version[s], 1); /* odd: nothing final yet */
		atomic_init(&e->clip_final_length[s], 0);
	}
	atomic_init(&e->loops_moved, 0);
	e->scratch = calloc((size_t)cfg->max_period * GL_OUT_CH, sizeof(float));
	if (!e->scratch)
		goto nomem;
	for (int i = 0; i < GL_CMD_SOURCES; i++)
		if (spsc_init(&e->commands[i], 256, sizeof(struct command)))
			goto nomem;
	if (spsc_init(&e->events, 2048, sizeof(struct event)) ||
	    spsc_init(&e->mem_requests, 1024, sizeof(struct mem_request)) ||
	    spsc_init(&e->mem_replies, 1024, sizeof(struct mem_reply)))
		goto nomem;
	return e;
nomem:
	if (why)
		*why = "out of memory";
	engine_destroy(e);
	return NULL;
}

void engine_destroy(struct engine *e)
{
	if (!e)
		return;
	for (int i = 0; i < GL_CMD_SOURCES; i++)
		spsc_free(&e->commands[i]);
	spsc_free(&e->events);
	spsc_free(&e->mem_requests);
	spsc_free(&e->mem_replies);
	free(e->scratch);
	free(e);
}

void engine_set_stems(struct engine *e, float *stems)
{
	e->stems = stems;
}

void engine_set_click_out(struct engine *e, float *click)
{
	e->click_out = click;
}

struct spsc *engine_commands(struct engine *e, enum command_source src)
{
	return &e->commands[(unsigned)src % GL_CMD_SOURCES];
}
struct spsc *engine_events(struct engine *e)
{
	return &e->events;
}
struct spsc *engine_memory_requests(struct engine *e)
{
	return &e->mem_requests;
}
struct spsc *engine_memory_replies(struct engine *e)
{
	return &e->mem_replies;
}

bool engine_send(struct engine *e, enum command_source src, enum command_type type,
		 int track, int scene, float value, int64_t frame)
{
	struct command c = {.frame = frame,
			    .value = value,
			    .type = (uint8_t)type,
			    .track = (uint8_t)track,
			    .scene = (uint8_t)scene};
	return spsc_push(engine_commands(e, src), &c);
}

void engine_emit(struct engine *e, uint8_t type, int slot, int64_t frame, int64_t value,
		 int32_t aux)
{
	struct event ev = {.frame = frame, .value = value, .aux = aux, .type = type};
	if (slot >= 0) {
		ev.track = (uint8_t)track_of(slot);
		ev.scene = (uint8_t)scene_of(slot);
		ev.state = (uint8_t)engine_clip_state(e, ev.track, ev.scene);
	}
	spsc_push(&e->events, &ev); /* a full queue counts the loss itself */
}

void clip_report(struct engine *e, int slot, int64_t frame)
{
	struct clip *c = &e->clips[slot];
	uint8_t st = (uint8_t)engine_clip_state(e, track_of(slot), scene_of(slot));
	uint8_t pass = 0;
	if (st == CLIP_OVERDUBBING)
		pass = c->rb_mode == RB_MULTIPLY       ? CLIP_PASS_MULTIPLY
		       : c->rb_mode == RB_INSERT       ? CLIP_PASS_INSERT
		       : c->od_mode == PASS_REPLACE    ? CLIP_PASS_REPLACE
		       : c->od_mode == PASS_SUBSTITUTE ? CLIP_PASS_SUBSTITUTE
						       : CLIP_PASS_OVERDUB;
	if (st != c->reported || pass != c->reported_pass) {
		c->reported = st;
		c->reported_pass = pass;
		engine_emit(e, EV_CLIP_STATE, slot, frame, st, pass);
	}
}

/* Memory requests must never be lost (a lost FINISH would leak, a lost
 * RELEASE would keep a cleared take's memory): what does not fit in the
 * queue waits in the outbox and is retried every period. */
void engine_request(struct engine *e, const struct mem_request *rq)
{
	if (e->noutbox == 0 && spsc_push(&e->mem_requests, rq))
		return;
	if (e->noutbox < OUTBOX_MAX) {
		e->outbox[e->noutbox++] = *rq;
		return;
	}
	engine_emit(e, EV_ERROR, rq->slot, e->now, ERR_QUEUE_FULL, 0);
}

static void flush_outbox(struct engine *e)
{
	int sent = 0;
	while (sent < e->noutbox && spsc_push(&e->mem_requests, &e->outbox[sent]))
		sent++;
	if (sent) {
		memmove(e->outbox, e->outbox + sent,
			(size_t)(e->noutbox - sent) * sizeof(e->outbox[0]));
		e->noutbox -= sent;
	}
}

static void take_tables(struct engine *e, struct clip *c, int slot,
			float **const tables[2])
{
	/* Tables belong to the slot, whatever the generation: adopt a new one
	 * and give the old back, or the keeper would write into a table the
	 * engine no longer reads. */
	struct mem_request rq = {.type = MEM_RETIRE_TABLE, .slot = (uint8_t)slot};
	bool retire = false;
	for (int ch = 0; ch < 2; ch++) {
		if (tables[ch] && tables[ch] != c->table[ch]) {
			if (c->table[ch]) {
				rq.tables[ch] = c->table[ch];
				retire = true;
			}
			/* A multiply or insert planned before a grow's late
			 * answer reads A through the table being retired:
			 * it reads the new one. */
			if (c->rb_mode != RB_NONE && c->rb_src[ch] == c->table[ch])
				c->rb_src[ch] = tables[ch];
			c->table[ch] = tables[ch];
		}
	}
	if (retire)
		engine_request(e, &rq);
}

static void drain_replies(struct engine *e)
{
	struct mem_reply r;
	while (spsc_pop(&e->mem_replies, &r)) {
		if (r.slot >= GL_SLOTS)
			continue;
		struct clip *c = &e->clips[r.slot];
		switch (r.type) {
		case MEM_GROWN:
			if (r.gen < c->table_floor)
				break; /* the replaced take's: the keeper frees it */
			take_tables(e, c, r.slot, r.tables);
			if (r.gen == c->gen) {
				c->nchunks = r.nchunks;
				c->grow_pending = false;
				c->grow_failed = false;
			}
			break;
		case MEM_GROW_FAILED:
			if (r.gen == c->gen) {
				c->grow_pending = false;
				/* A take being recorded comes before a cleared
				 * one kept for undo: free one and ask again. */
				if (c->rec_writing && clip_reclaim(e, r.slot)) {
					c->grow_pending = true;
					struct mem_request rq = {.type = MEM_GROW,
								 .slot = r.slot,
								 .gen = c->gen,
								 .nchunks =
								     c->nchunks + 1};
					engine_request(e, &rq);
				} else {
					c->grow_failed = true;
				}
			}
			break;
		case MEM_UNDO_READY:
			if (r.gen == c->gen)
				clip_undo_ready(e, r.slot, r.tables, r.frames);
			break;
		case MEM_UNDO_FAILED:
			if (r.gen == c->gen)
				clip_undo_failed(e, r.slot);
			break;
		case MEM_ADOPT:
			clip_adopt(e, &r);
			break;
		case MEM_BUILT:
		case MEM_BUILD_FAILED:
			clip_rb_built(e, &r);
			break;
		case MEM_TAKE_SWITCHED:
			if (r.gen == c->gen)
				clip_take_switched(e, r.slot);
			break;
		}
	}
}

/* Commands wait in `pending`, ordered by frame (arrival order among equal
 * frames), until their frame comes. */
static void gather_commands(struct engine *e)
{
	struct command c;
	for (int src = 0; src < GL_CMD_SOURCES; src++) {
		while (e->pending_of[src] < PENDING_PER_SOURCE &&
		       spsc_pop(&e->commands[src], &c)) {
			int i = e->npending++;
			while (i > 0 && e->pending[i - 1].frame > c.frame) {
				e->pending[i] = e->pending[i - 1];
				e->pending_src[i] = e->pending_src[i - 1];
				i--;
			}
			e->pending[i] = c;
			e->pending_src[i] = (uint8_t)src;
			e->pending_of[src]++;
		}
	}
}

static void apply_commands(struct engine *e, int64_t f)
{
	int done = 0;
	while (done < e->npending && e->pending[done].frame <= f) {
		e->pending_of[e->pending_src[done]]--;
		clip_command(e, &e->pending[done++], f);
	}
	if (done) {
		memmove(e->pending, e->pending + done,
			(size_t)(e->npending - done) * sizeof(e->pending[0]));
		memmove(e->pending_src, e->pending_src + done,
			(size_t)(e->npending - done));
		e->npending -= done;
	}
}

static void beat(struct engine *e, int64_t f)
{
	int64_t k = transport_beat_at(&e->tr, f);
	int64_t bpb = e->tr.beats_per_bar;
	bool downbeat = (k % bpb + bpb) % bpb == 0;
	engine_emit(e, EV_BEAT, -1, f, k, (int32_t)((k % bpb + bpb) % bpb));
	if (downbeat)
		engine_emit(e, EV_BAR, -1, f, k / bpb, (int32_t)bpb);
	if (e->metronome || (f >= e->countin_from && f < e->countin_until))
		mix_click_start(e, downbeat);
}

void engine_process(struct engine *e, const float *in, float *out, uint32_t frames)
{
	const int64_t start = e->now, end = e->now + frames;

	flush_outbox(e);
	drain_replies(e);
	gather_commands(e);
	memset(out, 0, (size_t)frames * GL_OUT_CH * sizeof(float));
	if (e->stems)
		memset(e->stems, 0, (size_t)frames * GL_STEM_CH * sizeof(float));
	if (e->click_out)
		memset(e->click_out, 0, (size_t)frames * sizeof(float));

	/* Loops that waited to follow a grid moved under them (clip.c). */
	clip_follow_grid(e, start);

	/* An undo/redo swap in progress moves ahead of the play head first. */
	for (int s = 0; s < GL_SLOTS; s++) {
		if (e->clips[s].swapping)
			clip_swap_step(e, s);
		if (e->clips[s].rb_mode != RB_NONE)
			clip_rb_step(e, s); /* a multiply's or insert's copies */
	}

	int64_t f = start;
	while (f < end) {
		apply_commands(e, f);
		clip_apply_due(e, f);
		if (e->tr.has_tempo && e->next_beat < f)
			e->next_beat = transport_next_beat(&e->tr, f);
		if (e->next_beat == f) {
			beat(e, f);
			e->next_beat = transport_next_beat(&e->tr, f + 1);
		}

		int64_t next = end;
		if (e->npending && e->pending[0].frame < next)
			next = e->pending[0].frame; /* > f: due ones were applied */
		int64_t due = clip_next_due(e, f);
		if (due < next)
			next = due;
		if (e->next_beat > f && e->next_beat < next)
			next = e->next_beat;

		mix_segment(e, in + (f - start) * e->cfg.input_channels,
			    out + (f - start) * GL_OUT_CH, f, (uint32_t)(next - f));

		/* A recording whose memory ran out ends where it stands. */
		for (int s = 0; s < GL_SLOTS; s++)
			if (e->clips[s].rec_short)
				clip_finish_short(e, s, next);
		f = next;
	}
	e->now = end;
	clip_after_period(e, end);
}

/* ---- views ----------------------------------------------------------- */

int64_t engine_now(const struct engine *e)
{
	return e->now;
}

const struct engine_config *engine_config(const struct engine *e)
{
	return &e->cfg;
}

static const char *const clip_state_names[CLIP_STATE_COUNT] = {
    [CLIP_EMPTY] = "empty",
    [CLIP_RECORD_QUEUED] = "record_queued",
    [CLIP_RECORDING] = "recording",
    [CLIP_PLAY_QUEUED] = "play_queued",
    [CLIP_PLAYING] = "playing",
    [CLIP_OVERDUBBING] = "overdubbing",
    [CLIP_STOP_QUEUED] = "stop_queued",
    [CLIP_STOPPED] = "stopped",
};

uint64_t engine_loops_moved(const struct engine *e)
{
	return atomic_load_explicit(&e->loops_moved, memory_order_relaxed);
}

const char *engine_clip_state_name(enum clip_state s)
{
	return (unsigned)s < CLIP_STATE_COUNT ? clip_state_names[s] : "?";
}

enum clip_state engine_clip_state(const struct engine *e, int track, int scene)
{
	if (track < 0 || track >= GL_TRACKS || scene < 0 || scene >= GL_SCENES)
		return CLIP_EMPTY;
	const struct clip *c = &e->clips[slot_of(track, scene)];
	switch (c->queued) {
	case CLIP_RECORDING:
		return CLIP_RECORD_QUEUED;
	case CLIP_PLAYING:
		return CLIP_PLAY_QUEUED;
	case CLIP_STOPPED:
		return CLIP_STOP_QUEUED;
	default:
		return (enum clip_state)c->state;
	}
}

int64_t engine_clip_length(const struct engine *e, int track, int scene)
{
	const struct clip *c = &e->clips[slot_of(track, scene)];
	if (c->state == CLIP_EMPTY)
		return 0;
	return c->state == CLIP_RECORDING && c->queued == 0 ? c->written : c->length;
}

void engine_settle(struct engine *e)
{
	/* Answers the keeper gave since the last period (a take switch it
	 * made: the clip may be final now). */
	flush_outbox(e);
	drain_replies(e);
	for (int s = 0; s < GL_SLOTS; s++) {
		struct clip *c = &e->clips[s];
		while (c->swapping)
			clip_swap_step(e, s);
		/* A multiply or insert switched to its new take: no more input
		 * comes, its copies of the old take are finished (as far as
		 * the memory it got reaches; not at all: it stays unsettled,
		 * and the last save keeps what was saved before). */
		if (c->rb_mode != RB_NONE && c->rb_switched) {
			c->rb_pass = false;
			for (int64_t i = 0;
			     c->rb_mode != RB_NONE && i < (1LL << 40) / 8192; i++) {
				int64_t before = c->rb_hc + c->rb_w + c->rb_tc;
				clip_rb_step(e, s);
				if (c->rb_mode != RB_NONE &&
				    c->rb_hc + c->rb_w + c->rb_tc == before)
					break; /* memory never came for the rest */
			}
		}
	}
}

int64_t engine_clip_stored_length(const struct engine *e, int track, int scene)
{
	const struct clip *c = &e->clips[slot_of(track, scene)];
	int64_t len = engine_clip_length(e, track, scene);
	return c->written < len ? c->written : len;
}

int engine_clip_channels(const struct engine *e, int track, int scene)
{
	return e->clips[slot_of(track, scene)].channels;
}

int64_t engine_clip_read(const struct engine *e, int track, int scene, int channel,
			 int64_t from, float *dst, int64_t n)
{
	const struct clip *c = &e->clips[slot_of(track, scene)];
	if (c->state == CLIP_EMPTY || channel < 0 || channel >= c->channels || from < 0)
		return 0;
	int64_t have = c->written < engine_clip_length(e, track, scene)
			   ? c->written
			   : engine_clip_length(e, track, scene);
	if (from >= have)
		return 0;
	if (n > have - from)
		n = have - from;
	if (c->rb_read) { /* a multiply's or insert's take, partly still A's */
		for (int64_t i = 0; i < n; i++)
			dst[i] = clip_sample(c, channel, from + i, e->chunk_frames);
		return n;
	}
	for (int64_t i = 0; i < n;) {
		int64_t pos = from + i;
		int64_t off = pos % e->chunk_frames;
		int64_t run = e->chunk_frames - off;
		if (run > n - i)
			run = n - i;
		memcpy(dst + i, c->table[channel][pos / e->chunk_frames] + off,
		       (size_t)run * sizeof(float));
		i += run;
	}
	return n;
}

uint32_t engine_clip_version(const struct engine *e, int track, int scene)
{
	if (track < 0 || track >= GL_TRACKS || scene < 0 || scene >= GL_SCENES)
		return 1;
	return atomic_load_explicit(&e->clip_version[slot_of(track, scene)],
				    memory_order_acquire);
}

int64_t engine_clip_final_length(const struct engine *e, int track, int scene)
{
	if (track < 0 || track >= GL_TRACKS || scene < 0 || scene >= GL_SCENES)
		return 0;
	return atomic_load_explicit(&e->clip_final_length[slot_of(track, scene)],
				    memory_order_relaxed);
}

int engine_clip_final_seams(const struct engine *e, int track, int scene, int64_t *out)
{
	if (track < 0 || track >= GL_TRACKS || scene < 0 || scene >= GL_SCENES)
		return 0;
	int slot = slot_of(track, scene);
	int n = atomic_load_explicit(&e->clip_final_nseams[slot], memory_order_relaxed);
	if (n < 0 || n > GL_SEAMS_MAX)
		return 0;
	for (int i = 0; i < n; i++)
		out[i] = atomic_load_explicit(&e->clip_final_seams[slot][i],
					      memory_order_relaxed);
	return n;
}

int64_t engine_clip_final_cycle(const struct engine *e, int track, int scene)
{
	if (track < 0 || track >= GL_TRACKS || scene < 0 || scene >= GL_SCENES)
		return 0;
	return atomic_load_explicit(&e->clip_final_cycle[slot_of(track, scene)],
				    memory_order_relaxed);
}

bool engine_clip_version_still(const struct engine *e, int track, int scene, uint32_t v)
{
	if (track < 0 || track >= GL_TRACKS || scene < 0 || scene >= GL_SCENES)
		return false;
	/* The copy's reads may not move below this load (seqlock reader). */
	atomic_thread_fence(memory_order_acquire);
	return (v & 1) == 0 &&
	       v == atomic_load_explicit(&e->clip_version[slot_of(track, scene)],
					 memory_order_relaxed);
}

double engine_tempo(const struct engine *e)
{
	return e->tr.has_tempo ? e->tr.bpm : 0;
}

int64_t engine_next_bar(const struct engine *e, int64_t f)
{
	return e->tr.has_tempo ? transport_next_bar(&e->tr, f) : GL_NEVER;
}

uint32_t engine_beats_per_bar(const struct engine *e)
{
	return e->tr.beats_per_bar;
}

int64_t engine_unused_recording_bytes(const struct engine *e)
{
	int64_t total = 0;
	for (int s = 0; s < GL_SLOTS; s++) {
		const struct clip *c = &e->clips[s];
		if (c->state == CLIP_RECORDING || c->rec_writing) {
			int64_t unused =
			    (int64_t)c->nchunks * e->chunk_frames - c->written;
			if (unused > 0)
				total += unused * c->channels * (int64_t)sizeof(float);
		}
	}
	return total;
}

uint32_t engine_events_dropped(const struct engine *e)
{
	return atomic_load_explicit(&e->events.dropped, memory_order_relaxed);
}
