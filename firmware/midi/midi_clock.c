/* midi_clock.c -- MIDI clock out from the engine's beat grid, MIDI clock in
 * to an engine tempo, and the time map both use (see midi_clock.h). */
#include "midi_clock.h"

#include <math.h>
#include <string.h>

/* ---- time map ------------------------------------------------------------- */

/* Beyond this (about 12 days) a difference is clamped: no overflow in
 * difference x rate, whatever timestamps arrive. */
#define TIME_SPAN_MAX ((int64_t)1 << 40)

/* a - b, clamped to +-TIME_SPAN_MAX (also when it would overflow). */
static int64_t span(int64_t a, int64_t b)
{
	int64_t d;
	if (__builtin_sub_overflow(a, b, &d))
		return a > b ? TIME_SPAN_MAX : -TIME_SPAN_MAX;
	return d > TIME_SPAN_MAX    ? TIME_SPAN_MAX
	       : d < -TIME_SPAN_MAX ? -TIME_SPAN_MAX
				    : d;
}

/* a / b rounded to the nearest integer, halves away from zero; b > 0. */
static int64_t div_round(int64_t a, int64_t b)
{
	return a >= 0 ? (a + b / 2) / b : -((-a + b / 2) / b);
}

int64_t time_map_frame(const struct time_map *m, int64_t us)
{
	int64_t d = span(us, m->ref_us);
	return m->ref_frame + div_round(d * (int64_t)m->rate, 1000000);
}

int64_t time_map_us(const struct time_map *m, int64_t frame)
{
	if (m->rate == 0)
		return m->ref_us;
	int64_t d = span(frame, m->ref_frame);
	return m->ref_us + div_round(d * 1000000, (int64_t)m->rate);
}

/* ---- clock out ------------------------------------------------------------ */

void midi_clock_out_init(struct midi_clock_out *c, uint32_t rate)
{
	*c = (struct midi_clock_out){.rate = rate,
				     .last_frame = INT64_MIN,
				     .listed_until = INT64_MIN,
				     .auto_transport = true};
}

static void apply_mark(struct midi_clock_out *c, const struct clock_mark *m)
{
	if (m->type == EV_TEMPO) {
		if (m->value > 0)
			c->frames_per_beat = 60.0 * c->rate / ((double)m->value / 1000.0);
		if (m->aux > 0)
			c->beats_per_bar = m->aux;
		return;
	}
	if (c->frames_per_beat == 0 && c->anchored && m->value > c->anchor_beat &&
	    m->frame > c->anchor_frame) {
		/* No EV_TEMPO seen (the tempo came from the config): the beats'
		 * spacing gives it, to within a frame. */
		c->frames_per_beat = (double)(m->frame - c->anchor_frame) /
				     (double)(m->value - c->anchor_beat);
	}
	c->anchored = true;
	c->anchor_frame = m->frame;
	c->anchor_beat = m->value;
	c->anchor_in_bar = m->aux;
	c->ticks_since_anchor = 0;
}

static void push_mark(struct midi_clock_out *c, const struct event *ev)
{
	if (c->tl_count == MIDI_CLOCK_TIMELINE) {
		/* Nobody has listed ticks for a long while: the oldest mark is
		 * long past, so take it as the state and keep the newest. */
		apply_mark(c, &c->timeline[c->tl_head]);
		c->tl_head = (c->tl_head + 1) % MIDI_CLOCK_TIMELINE;
		c->tl_count--;
		c->timeline_overflows++;
	}
	struct clock_mark *m =
	    &c->timeline[(c->tl_head + c->tl_count++) % MIDI_CLOCK_TIMELINE];
	*m = (struct clock_mark){
	    .frame = ev->frame, .value = ev->value, .aux = ev->aux, .type = ev->type};
}

static bool active_state(uint8_t s)
{
	return s != CLIP_EMPTY && s != CLIP_STOPPED;
}

void midi_clock_out_start(struct midi_clock_out *c, int64_t frame)
{
	if (c->running) {
		c->stop_pending = false; /* still running: the stop is off */
		return;
	}
	if (!c->start_pending) {
		c->start_pending = true;
		c->start_after = frame;
	}
}

void midi_clock_out_stop(struct midi_clock_out *c, int64_t frame)
{
	if (c->start_pending) {
		c->start_pending = false;
		return;
	}
	if (c->running && !c->stop_pending) {
		c->stop_pending = true;
		c->stop_frame = frame;
	}
}

void midi_clock_out_event(struct midi_clock_out *c, const struct event *ev)
{
	switch (ev->type) {
	case EV_TEMPO:
	case EV_BEAT:
		push_mark(c, ev);
		break;
	case EV_CLIP_STATE: {
		if (ev->track >= GL_TRACKS || ev->scene >= GL_SCENES ||
		    ev->state >= CLIP_STATE_COUNT)
			break;
		uint8_t *s = &c->clip_state[ev->track * GL_SCENES + ev->scene];
		int before = c->active_clips;
		c->active_clips += (int)active_state(ev->state) - (int)active_state(*s);
		*s = ev->state;
		if (!c->auto_transport)
			break;
		if (before == 0 && c->active_clips > 0)
			midi_clock_out_start(c, ev->frame);
		else if (before > 0 && c->active_clips == 0)
			midi_clock_out_stop(c, ev->frame);
		break;
	}
	default:
		break;
	}
}

struct listing {
	struct midi_clock_msg *out;
	int max, count;
	int64_t f0;
};

/* Appends a message at frame, never before f0 or an earlier message. */
static void list(struct midi_clock_out *c, struct listing *l, int64_t frame, uint8_t b0,
		 uint8_t b1, uint8_t b2, uint8_t len)
{
	if (frame < l->f0)
		frame = l->f0;
	if (frame < c->last_frame)
		frame = c->last_frame;
	l->out[l->count++] =
	    (struct midi_clock_msg){.frame = frame, .bytes = {b0, b1, b2}, .len = len};
	c->last_frame = frame;
}

/* Ticks from the anchor to a beat mark: 24 a beat. A tempo change can make
 * the engine skip the beat it lands in (the next one was already past), so
 * the beat index says how many beats lie between; a meter change restarts
 * the count, and then it is the next beat. */
static int ticks_due(const struct midi_clock_out *c, const struct clock_mark *m)
{
	int64_t beats = m->value - c->anchor_beat;
	return beats >= 1 && beats <= 16 ? (int)beats * 24 : 24;
}

int64_t midi_clock_out_next_tick(const struct midi_clock_out *c)
{
	if (!c->anchored || c->frames_per_beat <= 0)
		return INT64_MAX;
	return c->anchor_frame +
	       llround(c->ticks_since_anchor * c->frames_per_beat / 24.0);
}

int64_t midi_clock_out_reach(const struct midi_clock_out *c, int64_t horizon,
			     int64_t ahead, bool *capped)
{
	*capped = false;
	if (c->running || c->start_pending || c->stop_pending || !c->anchored ||
	    c->frames_per_beat <= 0 || ahead <= 0)
		return horizon;
	int beats = 1;
	if (c->beats_per_bar > 0 && c->anchor_in_bar >= 0 &&
	    c->anchor_in_bar < c->beats_per_bar)
		beats = c->beats_per_bar - c->anchor_in_bar;
	/* Beats predicted past the anchor (their marks not walked yet) are
	 * whole beats on: the downbeat after the anchor is the first limit,
	 * then each bar after it. */
	int64_t bar = (int64_t)llround(c->frames_per_beat *
				       (c->beats_per_bar > 0 ? c->beats_per_bar : 1));
	int64_t down = c->anchor_frame + llround(beats * c->frames_per_beat);
	if (bar > 0 && down < horizon)
		down += (horizon - down + bar - 1) / bar * bar;
	int64_t reach = horizon + ahead;
	if (reach >= down) {
		reach = down;
		*capped = true;
	}
	return reach > horizon ? reach : horizon;
}

int64_t midi_clock_out_wake_frame(const struct midi_clock_out *c, int64_t horizon,
				  int64_t reach, bool capped)
{
	int64_t at = midi_clock_out_next_tick(c);
	if (at == INT64_MAX)
		return at;
	/* Listed ahead: again when three quarters of that are used up (the
	 * rest covers the wake-up's delay); up to a downbeat: once it is
	 * past (its tick, which waited for it). */
	if (reach > horizon && !capped)
		at = reach - (reach - horizon) / 4;
	return at < horizon ? horizon : at; /* listed up to there: the next period */
}

int midi_clock_out_period(struct midi_clock_out *c, int64_t f0, uint32_t n,
			  struct midi_clock_msg *out, int max)
{
	const int64_t end = f0 + n;
	struct listing l = {.out = out, .max = max, .f0 = f0};
	while (l.count < l.max) {
		int64_t next_tick = midi_clock_out_next_tick(c);
		const struct clock_mark *m =
		    c->tl_count ? &c->timeline[c->tl_head] : NULL;

		if (c->stop_pending && c->stop_frame < end &&
		    c->stop_frame <= next_tick && (!m || c->stop_frame <= m->frame)) {
			/* Ticks go on after a stop: slaves keep the tempo. */
			list(c, &l, c->stop_frame, 0xFC, 0, 0, 1);
			c->stop_pending = false;
			c->running = false;
			continue;
		}
		if (m && m->type == EV_TEMPO && m->frame <= next_tick && m->frame < end) {
			/* As in the engine: the new tempo runs from the current
			 * beat's start, so the ticks still to come move. */
			apply_mark(c, m);
			c->tl_head = (c->tl_head + 1) % MIDI_CLOCK_TIMELINE;
			c->tl_count--;
			continue;
		}
		int due = m && m->type == EV_BEAT ? ticks_due(c, m) : 24;
		if (m && m->type == EV_BEAT &&
		    (!c->anchored || c->ticks_since_anchor >= due ||
		     next_tick >= m->frame)) {
			if (m->frame >= end)
				break; /* the beat is in a later period: wait for it */
			if (c->anchored && c->ticks_since_anchor > 0 &&
			    c->ticks_since_anchor < due &&
			    due - c->ticks_since_anchor <= 48) {
				/* The beat came early (tempo up, a tap): the rest
				 * of the last beat's ticks go out now, so a slave
				 * still counts 24 a beat. (More than two beats
				 * short is a jump of the beat grid: no burst.) */
				list(c, &l, m->frame, 0xF8, 0, 0, 1);
				c->ticks_since_anchor++;
				continue;
			}
			if (c->start_pending && m->aux == 0 &&
			    m->frame >= c->start_after) {
				if (c->song_position) {
					if (l.max - l.count < 2)
						break;
					/* Song position counts sixteenths. */
					uint32_t pos = (uint32_t)(m->value * 4) & 0x3FFF;
					list(c, &l, m->frame, 0xF2, pos & 0x7F, pos >> 7,
					     3);
					list(c, &l, m->frame, 0xFB, 0, 0, 1);
				} else {
					list(c, &l, m->frame, 0xFA, 0, 0, 1);
				}
				c->start_pending = false;
				c->running = true;
				if (l.count == l.max)
					break;
			}
			/* Ticks predicted past the beat (it was not known yet)
			 * belong to the new beat. */
			int overshoot = c->anchored && c->ticks_since_anchor > due
					    ? c->ticks_since_anchor - due
					    : 0;
			apply_mark(c, m);
			c->ticks_since_anchor = overshoot;
			c->tl_head = (c->tl_head + 1) % MIDI_CLOCK_TIMELINE;
			c->tl_count--;
			continue;
		}
		if (next_tick >= end)
			break;
		if (next_tick < f0 && next_tick >= c->listed_until) {
			/* Frames the caller never asked for: those ticks are
			 * gone, the ones from here on keep their places. (A tick
			 * before listed_until moved back with a new tempo: it
			 * goes out late, at f0.) */
			c->ticks_since_anchor++;
			c->ticks_skipped++;
			continue;
		}
		list(c, &l, next_tick, 0xF8, 0, 0, 1);
		c->ticks_since_anchor++;
	}
	/* Full: only up to the last message is done (the caller may go on with
	 * the same period). */
	c->listed_until = l.count < l.max ? end : c->last_frame + 1;
	return l.count;
}

/* ---- clock in ------------------------------------------------------------- */

#define TEMPO_STEP_BPM 0.05   /* smallest change worth a command */
#define GAP_UNKNOWN_US 250000 /* no tempo yet: a longer gap restarts */
#define CHANGE_RUN     6      /* ticks that all miss the line the same way */
#define CHANGE_MISS_US 2000.0 /* by this much on average: a new tempo */

void midi_clock_in_init(struct midi_clock_in *c, const struct time_map *time)
{
	*c = (struct midi_clock_in){.time = *time, .start_scene = -1};
}

static void send(struct midi_clock_in *c, const struct command_sink *sink,
		 struct command cmd)
{
	if (sink && sink->push && sink->push(sink->ctx, &cmd))
		c->commands++;
	else
		c->commands_refused++;
}

/* Tick time i of the window, 0 = oldest. */
static int64_t tick_at(const struct midi_clock_in *c, int i)
{
	int k =
	    (c->head - c->count + i + 2 * MIDI_CLOCK_IN_WINDOW) % MIDI_CLOCK_IN_WINDOW;
	return c->ticks[k];
}

/* What the last ticks say about the line through the window. */
enum fit_result {
	FIT_STEADY,   /* the ticks sit on the line: trust it */
	FIT_TRENDING, /* the last ticks all miss it the same way: wait */
	FIT_CHANGED,  /* ... by CHANGE_MISS_US on average: a new tempo */
};

/* Least-squares line through the window: time = a + b * index. Sets
 * us_per_tick = b and its standard error (from the scatter about the line)
 * unless the tempo changed. */
static enum fit_result fit(struct midi_clock_in *c)
{
	int n = c->count;
	int64_t t0 = tick_at(c, 0);
	double sx = 0, sy = 0;
	for (int i = 0; i < n; i++) {
		sx += i;
		sy += (double)(tick_at(c, i) - t0);
	}
	double mx = sx / n, my = sy / n, sxy = 0, sxx = 0;
	for (int i = 0; i < n; i++) {
		double dx = i - mx;
		sxy += dx * ((double)(tick_at(c, i) - t0) - my);
		sxx += dx * dx;
	}
	double b = sxy / sxx, a = my - b * mx, ss = 0, run = 0;
	int above = 0, below = 0;
	for (int i = 0; i < n; i++) {
		double r = (double)(tick_at(c, i) - t0) - (a + b * i);
		ss += r * r;
		if (i >= n - CHANGE_RUN) {
			above += r > 0;
			below += r < 0;
			run += r;
		}
	}
	bool one_way = above == CHANGE_RUN || below == CHANGE_RUN;
	if (one_way && fabs(run / CHANGE_RUN) > CHANGE_MISS_US)
		return FIT_CHANGED;
	double scatter = sqrt(ss / (n - 2));
	double last = (double)(tick_at(c, n - 1) - t0) - (a + b * (n - 1));
	if (b > 0) {
		c->us_per_tick = b;
		c->us_per_tick_error = scatter / sqrt(sxx);
	}
	/* The newest tick far off the line: the first ticks of a new tempo
	 * (or one late tick), too few yet for a run. */
	bool off = fabs(last) > 4 * scatter && fabs(last) > CHANGE_MISS_US / 2;
	return one_way || off ? FIT_TRENDING : FIT_STEADY;
}

double midi_clock_in_bpm(const struct midi_clock_in *c)
{
	return c->us_per_tick > 0 ? 60e6 / (24.0 * c->us_per_tick) : 0;
}

static void send_tempo(struct midi_clock_in *c, int64_t us,
		       const struct command_sink *sink)
{
	double bpm = midi_clock_in_bpm(c);
	if (bpm <= 0)
		return;
	bpm = bpm < GL_TEMPO_MIN ? GL_TEMPO_MIN : bpm > GL_TEMPO_MAX ? GL_TEMPO_MAX : bpm;
	send(c, sink,
	     (struct command){.type = CMD_SET_TEMPO,
			      .value = (float)bpm,
			      .frame = time_map_frame(&c->time, us)});
	c->sent_bpm = bpm;
}

static void tick(struct midi_clock_in *c, int64_t us, const struct command_sink *sink)
{
	c->ticks_seen++;
	if (c->count > 0) {
		int64_t last = tick_at(c, c->count - 1);
		if (us <= last) {
			c->out_of_order++;
			return;
		}
		double gap_limit =
		    c->us_per_tick > 0 ? 4 * c->us_per_tick : GAP_UNKNOWN_US;
		if ((double)(us - last) > gap_limit) {
			c->count = 0; /* the clock stopped and came back */
			c->restarts++;
		}
	}
	c->ticks[c->head] = us;
	c->head = (c->head + 1) % MIDI_CLOCK_IN_WINDOW;
	if (c->count < MIDI_CLOCK_IN_WINDOW)
		c->count++;
	if (c->count < MIDI_CLOCK_IN_MIN)
		return;
	enum fit_result r = fit(c);
	if (r == FIT_CHANGED) {
		/* The run that missed the line is the new tempo's (its first
		 * tick is where the old one ended). */
		c->count = CHANGE_RUN;
		c->restarts++;
		return;
	}
	/* Send a move beyond TEMPO_STEP_BPM that is also beyond the noise of
	 * the fit (3 standard errors), so jitter alone sends nothing. */
	double bpm = midi_clock_in_bpm(c);
	double noise = 3 * bpm * c->us_per_tick_error / c->us_per_tick;
	double step = noise > TEMPO_STEP_BPM ? noise : TEMPO_STEP_BPM;
	if (r == FIT_STEADY && (c->sent_bpm == 0 || fabs(bpm - c->sent_bpm) > step))
		send_tempo(c, us, sink);
}

void midi_clock_in_message(struct midi_clock_in *c, uint8_t status, int64_t us,
			   const struct command_sink *sink)
{
	int64_t frame = time_map_frame(&c->time, us);
	switch (status) {
	case 0xF8:
		tick(c, us, sink);
		break;
	case 0xFA: /* start */
	case 0xFB: /* continue */
		c->running = true;
		send_tempo(c, us, sink);
		if (c->start_scene >= 0 && c->start_scene < GL_SCENES)
			send(c, sink,
			     (struct command){.type = CMD_LAUNCH_SCENE,
					      .scene = (uint8_t)c->start_scene,
					      .frame = frame});
		break;
	case 0xFC:
		c->running = false;
		send(c, sink, (struct command){.type = CMD_STOP_ALL, .frame = frame});
		break;
	default:
		break;
	}
}

void midi_clock_in_bytes(struct midi_clock_in *c, const uint8_t *bytes, size_t len,
			 int64_t us, const struct command_sink *sink)
{
	for (size_t i = 0; i < len; i++)
		if (bytes[i] >= 0xF8)
			midi_clock_in_message(c, bytes[i], us, sink);
}
