/* osc_handler.c -- gridloop's OSC protocol: decoding, SooperLooper's
 * namespace and gridloop's own, mapped onto engine commands; replies and
 * pushed state encoded (see osc_handler.h). Pure: no I/O, no allocation. */
#include "osc_handler.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The wire format --------------------------------------------------- */

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* A padded string at data[*at]: its start, or NULL when it has no
 * terminator inside len. */
static const char *take_string(const uint8_t *data, size_t len, size_t *at)
{
	if (*at >= len)
		return NULL;
	const uint8_t *nul = memchr(data + *at, 0, len - *at);
	if (!nul)
		return NULL;
	const char *s = (const char *)data + *at;
	size_t next = pad4((size_t)(nul - data) + 1);
	if (next > len)
		return NULL;
	*at = next;
	return s;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int osc_decode(const uint8_t *data, size_t len, struct osc_msg *m)
{
	memset(m, 0, sizeof(*m));
	if (len < 4 || len % 4 || data[0] != '/')
		return -1;
	size_t at = 0;
	m->path = take_string(data, len, &at);
	if (!m->path)
		return -1;
	if (at == len) { /* old-style: no type tags, no arguments */
		m->types = "";
		return 0;
	}
	const char *tags = take_string(data, len, &at);
	if (!tags || tags[0] != ',')
		return -1;
	m->types = tags + 1;
	for (const char *t = m->types; *t; t++) {
		if (m->argc == OSC_ARGS_MAX)
			return -1;
		struct osc_arg *a = &m->argv[m->argc++];
		a->type = *t;
		size_t need = 0;
		switch (*t) {
		case 'i':
		case 'f':
		case 'c':
		case 'm':
		case 'r':
			need = 4;
			break;
		case 'h':
		case 'd':
		case 't':
			need = 8;
			break;
		case 'T':
		case 'F':
		case 'N':
		case 'I':
			a->i = *t == 'T';
			continue;
		case 's':
		case 'S':
			if (!(a->s = take_string(data, len, &at)))
				return -1;
			continue;
		case 'b': {
			if (len - at < 4)
				return -1;
			uint32_t n = be32(data + at);
			at += 4;
			if (n > len - at || pad4(n) > len - at)
				return -1;
			a->s = (const char *)data + at;
			a->blob_len = n;
			at += pad4(n);
			continue;
		}
		default:
			return -1;
		}
		if (len - at < need)
			return -1;
		if (need == 4) {
			uint32_t v = be32(data + at);
			if (*t == 'f') {
				float f;
				memcpy(&f, &v, sizeof(f));
				a->f = f;
			} else {
				a->i = *t == 'i' ? (int32_t)v : (int64_t)v;
			}
		} else {
			uint64_t v = be64(data + at);
			if (*t == 'd')
				memcpy(&a->f, &v, sizeof(a->f));
			else
				a->i = (int64_t)v;
		}
		at += need;
	}
	return at == len ? 0 : -1;
}

static bool put(uint8_t *out, size_t cap, size_t *at, const void *src, size_t n)
{
	size_t padded = pad4(n);
	if (cap - *at < padded)
		return false;
	memcpy(out + *at, src, n);
	memset(out + *at + n, 0, padded - n);
	*at += padded;
	return true;
}

static bool put32(uint8_t *out, size_t cap, size_t *at, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
			(uint8_t)v};
	return put(out, cap, at, b, 4);
}

size_t osc_encode(uint8_t *out, size_t cap, const char *path, const char *types, ...)
{
	char tags[OSC_ARGS_MAX + 2] = ",";
	size_t ntypes = strlen(types);
	if (ntypes > OSC_ARGS_MAX)
		return 0;
	memcpy(tags + 1, types, ntypes + 1);
	size_t at = 0;
	if (!put(out, cap, &at, path, strlen(path) + 1) ||
	    !put(out, cap, &at, tags, ntypes + 2))
		return 0;
	va_list ap;
	va_start(ap, types);
	bool ok = true;
	for (const char *t = types; *t && ok; t++) {
		if (*t == 'i') {
			ok = put32(out, cap, &at, (uint32_t)va_arg(ap, int32_t));
		} else if (*t == 'f') {
			float f = (float)va_arg(ap, double);
			uint32_t v;
			memcpy(&v, &f, sizeof(v));
			ok = put32(out, cap, &at, v);
		} else if (*t == 's') {
			const char *s = va_arg(ap, const char *);
			ok = put(out, cap, &at, s, strlen(s) + 1);
		} else {
			ok = false;
		}
	}
	va_end(ap);
	return ok ? at : 0;
}

/* ---- Output -------------------------------------------------------------- */

static void out_reset(struct osc_out *out)
{
	out->ncommands = 0;
	out->nreplies = 0;
	out->used = 0;
}

/* Encodes a reply into out; false (counted) when there is no room. */
#define REPLY(h, out, url, ...)                                                          \
	reply_done((h), (out), (url),                                                    \
		   (out)->nreplies < OSC_OUT_REPLIES                                     \
		       ? osc_encode((out)->bytes + (out)->used,                          \
				    OSC_OUT_BYTES - (out)->used, __VA_ARGS__)            \
		       : 0)

static bool reply_done(struct osc_handler *h, struct osc_out *out, const char *url,
		       size_t len)
{
	if (!len) {
		h->stats.replies_dropped++;
		return false;
	}
	out->reply[out->nreplies++] =
	    (struct osc_reply){.url = url, .off = out->used, .len = (uint32_t)len};
	out->used += (uint32_t)len;
	h->stats.replies++;
	return true;
}

static void command(struct osc_handler *h, struct osc_out *out, enum command_type type,
		    int track, int scene, float value)
{
	if (out->ncommands == OSC_OUT_COMMANDS) {
		h->stats.commands_dropped++;
		return;
	}
	/* Frame 0: at once; the engine quantises launches itself. */
	out->command[out->ncommands++] = (struct command){.type = (uint8_t)type,
							  .track = (uint8_t)track,
							  .scene = (uint8_t)scene,
							  .value = value,
							  .frame = 0};
	h->stats.commands++;
}

/* A refusal: "/gridloop/error s:path s:why" to url (NULL: the sender). */
static void refuse(struct osc_handler *h, struct osc_out *out, const char *url,
		   const char *path, const char *why)
{
	h->stats.refused++;
	REPLY(h, out, url, "/gridloop/error", "ss", path, why);
}

/* ---- The handler's view of the engine ------------------------------------ */

void osc_handler_init(struct osc_handler *h, const struct osc_handler_config *cfg)
{
	memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	h->cfg.self_url[GL_OSC_STRING_MAX - 1] = '\0';
	for (int t = 0; t < GL_TRACKS; t++)
		h->volume[t] = 1.0f;
	h->master = 1.0f;
	h->tempo = cfg->tempo;
	h->beats_per_bar = cfg->beats_per_bar ? cfg->beats_per_bar : 4;
	h->quantise = cfg->quantise;
	h->selected = 0;
}

static bool has_audio(uint8_t st)
{
	return st == CLIP_PLAYING || st == CLIP_OVERDUBBING || st == CLIP_STOP_QUEUED ||
	       st == CLIP_STOPPED || st == CLIP_PLAY_QUEUED;
}

void osc_handler_event(struct osc_handler *h, const struct event *ev)
{
	if (ev->track >= GL_TRACKS || ev->scene >= GL_SCENES)
		return;
	struct osc_slot *sl = &h->slot[ev->track][ev->scene];
	switch (ev->type) {
	case EV_CLIP_STATE:
		if (ev->value < 0 || ev->value >= CLIP_STATE_COUNT)
			return;
		sl->prev = sl->state;
		sl->state = (uint8_t)ev->value;
		sl->pass =
		    ev->aux >= 0 && ev->aux <= CLIP_PASS_INSERT ? (uint8_t)ev->aux : 0;
		/* A new pass from the clip's start: after its recording, or
		 * launched; an overdub or a cancelled stop keeps the phase. */
		if (sl->state == CLIP_PLAYING && sl->prev != CLIP_OVERDUBBING &&
		    sl->prev != CLIP_STOP_QUEUED && sl->prev != CLIP_PLAYING)
			sl->play_from = ev->frame;
		if (sl->state == CLIP_EMPTY)
			sl->length = 0;
		if (sl->state != CLIP_EMPTY && sl->state != CLIP_STOPPED)
			h->cur_scene[ev->track] = ev->scene;
		break;
	case EV_RECORD_DONE:
		sl->length = ev->value;
		break;
	case EV_RESTORED:
		if (ev->aux)
			sl->length = ev->value;
		break;
	case EV_TEMPO:
		h->tempo = (double)ev->value / 1000.0;
		if (ev->aux > 0)
			h->beats_per_bar = (uint32_t)ev->aux;
		break;
	case EV_SETTING: {
		float v = (float)((double)ev->value / 1e6);
		if (ev->aux == CMD_TRACK_VOLUME)
			h->volume[ev->track] = v;
		else if (ev->aux == CMD_MUTE)
			h->muted[ev->track] = v != 0;
		else if (ev->aux == CMD_MASTER_VOLUME)
			h->master = v;
		else if (ev->aux == CMD_SET_QUANTISE)
			h->quantise = (int)lrintf(v);
		break;
	}
	}
	if (ev->frame > h->now)
		h->now = ev->frame;
}

/* SooperLooper's state codes (its OSC document). */
enum sl_state {
	SL_OFF = 0,
	SL_WAIT_START = 1,
	SL_RECORDING = 2,
	SL_WAIT_STOP = 3,
	SL_PLAYING = 4,
	SL_OVERDUBBING = 5,
	SL_MULTIPLYING = 6,
	SL_INSERTING = 7,
	SL_REPLACING = 8,
	SL_MUTED = 10,
	SL_SUBSTITUTE = 13,
	SL_PAUSED = 14,
	SL_OFF_MUTED = 20,
};

static int sl_code(const struct osc_handler *h, int t, uint8_t st, uint8_t prev,
		   uint8_t pass)
{
	static const int pass_code[] = {[CLIP_PASS_OVERDUB] = SL_OVERDUBBING,
					[CLIP_PASS_REPLACE] = SL_REPLACING,
					[CLIP_PASS_SUBSTITUTE] = SL_SUBSTITUTE,
					[CLIP_PASS_MULTIPLY] = SL_MULTIPLYING,
					[CLIP_PASS_INSERT] = SL_INSERTING};
	switch (st) {
	case CLIP_RECORD_QUEUED:
		return SL_WAIT_START;
	case CLIP_RECORDING:
		return SL_RECORDING;
	case CLIP_PLAY_QUEUED: /* a recording's end, or a launch */
		return prev == CLIP_RECORDING ? SL_WAIT_STOP : SL_WAIT_START;
	case CLIP_PLAYING:
	case CLIP_STOP_QUEUED:
		return h->muted[t] ? SL_MUTED : SL_PLAYING;
	case CLIP_OVERDUBBING:
		return pass <= CLIP_PASS_INSERT ? pass_code[pass] : SL_OVERDUBBING;
	case CLIP_STOPPED:
		return SL_PAUSED;
	default:
		return h->muted[t] ? SL_OFF_MUTED : SL_OFF;
	}
}

int osc_sl_state(const struct osc_handler *h, int track)
{
	const struct osc_slot *sl = &h->slot[track][h->cur_scene[track]];
	return sl_code(h, track, sl->state, sl->prev, sl->pass);
}

static int sl_next_state(const struct osc_handler *h, int t)
{
	const struct osc_slot *sl = &h->slot[t][h->cur_scene[t]];
	switch (sl->state) {
	case CLIP_RECORD_QUEUED:
		return SL_RECORDING;
	case CLIP_PLAY_QUEUED:
		return SL_PLAYING;
	case CLIP_STOP_QUEUED:
		return SL_PAUSED;
	default:
		return osc_sl_state(h, t);
	}
}

static bool queued(uint8_t st)
{
	return st == CLIP_RECORD_QUEUED || st == CLIP_PLAY_QUEUED ||
	       st == CLIP_STOP_QUEUED;
}

/* A loop control's value; false with *why when gridloop has no such one. */
static bool loop_get(const struct osc_handler *h, int t, const char *ctrl, float *v,
		     const char **why)
{
	const struct osc_slot *sl = &h->slot[t][h->cur_scene[t]];
	double rate = h->cfg.rate ? h->cfg.rate : 48000;
	if (!strcmp(ctrl, "state")) {
		*v = (float)osc_sl_state(h, t);
	} else if (!strcmp(ctrl, "next_state")) {
		*v = (float)sl_next_state(h, t);
	} else if (!strcmp(ctrl, "loop_len")) {
		*v = (float)((double)sl->length / rate);
	} else if (!strcmp(ctrl, "loop_pos")) {
		bool moving = sl->state == CLIP_PLAYING ||
			      sl->state == CLIP_OVERDUBBING ||
			      sl->state == CLIP_STOP_QUEUED;
		int64_t pos = 0;
		if (moving && sl->length > 0 && h->now > sl->play_from)
			pos = (h->now - sl->play_from) % sl->length;
		*v = (float)((double)pos / rate);
	} else if (!strcmp(ctrl, "cycle_len")) {
		*v = h->tempo > 0 ? (float)(60.0 / h->tempo * h->beats_per_bar) : 0.0f;
	} else if (!strcmp(ctrl, "wet")) {
		*v = h->volume[t];
	} else if (!strcmp(ctrl, "rate") || !strcmp(ctrl, "rate_output")) {
		*v = 1.0f;
	} else if (!strcmp(ctrl, "quantize")) {
		*v = h->quantise == QUANTISE_OFF   ? 0.0f
		     : h->quantise == QUANTISE_BAR ? 1.0f
						   : 2.0f;
	} else if (!strcmp(ctrl, "is_soloed")) {
		*v = 0.0f;
	} else if (!strcmp(ctrl, "waiting")) {
		*v = queued(sl->state) ? 1.0f : 0.0f;
	} else {
		*why = "gridloop has no such loop control";
		return false;
	}
	return true;
}

static bool global_get(const struct osc_handler *h, const char *ctrl, float *v,
		       const char **why)
{
	if (!strcmp(ctrl, "tempo"))
		*v = (float)h->tempo;
	else if (!strcmp(ctrl, "eighth_per_cycle"))
		*v = (float)(2 * h->beats_per_bar);
	else if (!strcmp(ctrl, "sync_source"))
		/* MIDI, internal: Link is none of SooperLooper's sources;
		 * the session's tempo is gridloop's own then. */
		*v = h->cfg.clock_external && !(h->cfg.link && h->cfg.link_leads) ? -2.0f
										  : -3.0f;
	else if (!strcmp(ctrl, "selected_loop_num"))
		*v = (float)h->selected;
	else if (!strcmp(ctrl, "wet"))
		*v = h->master;
	else if (!strcmp(ctrl, "output_midi_clock"))
		*v = h->cfg.clock_external ? 0.0f : 1.0f;
	else if (!strcmp(ctrl, "link_peers") && h->cfg.link)
		*v = (float)h->link_peers;
	else if (!strcmp(ctrl, "link_peers")) {
		*why = "Ableton Link is off ([sync] link = no)";
		return false;
	} else {
		*why = "gridloop has no such global control";
		return false;
	}
	return true;
}

/* ---- Arguments ----------------------------------------------------------- */

static bool arg_number(const struct osc_arg *a, double *v)
{
	switch (a->type) {
	case 'i':
	case 'h':
	case 'T':
	case 'F':
		*v = (double)a->i;
		return true;
	case 'f':
	case 'd':
		*v = a->f;
		return isfinite(*v);
	default:
		return false;
	}
}

static const char *arg_string(const struct osc_arg *a)
{
	return a->type == 's' || a->type == 'S' ? a->s : NULL;
}

/* A whole number argument in [lo, hi]. */
static bool arg_whole(const struct osc_arg *a, int lo, int hi, int *v)
{
	double d;
	if (!arg_number(a, &d) || d != floor(d) || d < lo || d > hi)
		return false;
	*v = (int)d;
	return true;
}

bool osc_url_split(const char *url, char *host, size_t hostlen, char *port,
		   size_t portlen)
{
	static const char scheme[] = "osc.udp://";
	if (!url || strncmp(url, scheme, sizeof(scheme) - 1))
		return false;
	const char *h = url + sizeof(scheme) - 1, *end;
	if (*h == '[') { /* [IPv6]:port */
		end = strchr(++h, ']');
		if (!end || end[1] != ':')
			return false;
	} else {
		end = h + strcspn(h, ":/[]");
		if (*end != ':')
			return false;
	}
	size_t n = (size_t)(end - h);
	const char *p = end + (*end == ']' ? 2 : 1);
	size_t pn = strspn(p, "0123456789");
	if (n == 0 || n >= hostlen || pn == 0 || pn > 5 || pn >= portlen ||
	    (p[pn] != '/' && p[pn] != '\0'))
		return false;
	long v = strtol(p, NULL, 10);
	if (v < 1 || v > 65535)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	memcpy(port, p, pn);
	port[pn] = '\0';
	return true;
}

/* A return URL: osc.udp://host:port/ and short enough to keep. */
static bool url_ok(const char *url)
{
	char host[GL_OSC_STRING_MAX], port[8];
	return url && strlen(url) < GL_OSC_STRING_MAX &&
	       osc_url_split(url, host, sizeof(host), port, sizeof(port));
}

static bool path_ok(const char *path)
{
	return path && path[0] == '/' && strlen(path) < GL_OSC_STRING_MAX;
}

/* The message's types are exactly `want`, with 'n' for any number and
 * 's' for a string (s or S). */
static bool types_are(const struct osc_msg *m, const char *want)
{
	if ((int)strlen(want) != m->argc)
		return false;
	for (int i = 0; i < m->argc; i++) {
		double d;
		if (want[i] == 's' && !arg_string(&m->argv[i]))
			return false;
		if (want[i] == 'n' && !arg_number(&m->argv[i], &d))
			return false;
	}
	return true;
}

/* ---- SooperLooper's loop commands ---------------------------------------- */

/* The loops a /sl/#/ path names: 0..7, -1 all, -3 the selected. */
static int loops_of(const struct osc_handler *h, int n, int loops[GL_TRACKS])
{
	if (n == -3)
		n = h->selected;
	if (n == -1) {
		for (int t = 0; t < GL_TRACKS; t++)
			loops[t] = t;
		return GL_TRACKS;
	}
	loops[0] = n;
	return 1;
}

static int empty_scene_after(const struct osc_handler *h, int t, int s)
{
	for (int i = 1; i <= GL_SCENES; i++) {
		int c = (s + i) % GL_SCENES;
		if (h->slot[t][c].state == CLIP_EMPTY)
			return c;
	}
	return -1;
}

/* One command on one loop; NULL, or why it did nothing. */
static const char *sl_hit(struct osc_handler *h, struct osc_out *out, int t,
			  const char *cmd)
{
	int s = h->cur_scene[t];
	uint8_t st = h->slot[t][s].state;
	if (!strcmp(cmd, "record")) {
		if (st == CLIP_EMPTY || st == CLIP_RECORD_QUEUED ||
		    st == CLIP_RECORDING ||
		    (st == CLIP_PLAY_QUEUED && h->slot[t][s].prev == CLIP_RECORDING)) {
			command(h, out, CMD_PRESS, t, s, 0);
			return NULL;
		}
		/* A loop with audio: never recorded over; a new take goes
		 * into the track's next empty slot. */
		int e = empty_scene_after(h, t, s);
		if (e < 0)
			return "record: the track has no empty slot";
		h->cur_scene[t] = e;
		command(h, out, CMD_PRESS, t, e, 0);
		return NULL;
	}
	if (!strcmp(cmd, "overdub")) {
		if (st != CLIP_PLAYING && st != CLIP_OVERDUBBING)
			return "overdub: the loop is not playing";
		command(h, out, CMD_OVERDUB, t, s, 0);
		return NULL;
	}
	if (!strcmp(cmd, "undo") || !strcmp(cmd, "redo")) {
		if (!has_audio(st))
			return "undo/redo: the loop is empty";
		command(h, out, cmd[0] == 'u' ? CMD_UNDO : CMD_REDO, t, s, 0);
		return NULL;
	}
	if (!strcmp(cmd, "trigger")) {
		if (st == CLIP_STOPPED || st == CLIP_STOP_QUEUED) {
			command(h, out, CMD_PRESS, t, s, 0);
			return NULL;
		}
		return st == CLIP_EMPTY
			   ? "trigger: the loop is empty"
			   : "trigger: already playing (gridloop launches at the "
			     "quantum, it does not restart a playing loop)";
	}
	if (!strcmp(cmd, "pause")) {
		if (st == CLIP_PLAYING || st == CLIP_OVERDUBBING) {
			command(h, out, CMD_STOP_CLIP, t, s, 0);
			return NULL;
		}
		if (st == CLIP_STOPPED) {
			command(h, out, CMD_PRESS, t, s, 0);
			return NULL;
		}
		return "pause: the loop is neither playing nor paused";
	}
	/* The loop operations of issue 11, as the engine defines them (a
	 * loop without audio: refused here, as undo is). */
	static const struct {
		const char *name;
		uint8_t type;
	} ops[] = {{"multiply", CMD_MULTIPLY}, {"insert", CMD_INSERT},
		   {"replace", CMD_REPLACE},   {"substitute", CMD_SUBSTITUTE},
		   {"reverse", CMD_REVERSE},   {"oneshot", CMD_ONESHOT},
		   {"undo_all", CMD_UNDO_ALL}, {"redo_all", CMD_REDO_ALL}};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(cmd, ops[i].name))
			continue;
		if (!has_audio(st))
			return "the loop is empty";
		command(h, out, (enum command_type)ops[i].type, t, s, 0);
		return NULL;
	}
	if (!strcmp(cmd, "mute") || !strcmp(cmd, "mute_on") || !strcmp(cmd, "mute_off")) {
		bool on = cmd[4] ? cmd[6] == 'n' : !h->muted[t];
		command(h, out, CMD_MUTE, t, 0, on ? 1.0f : 0.0f);
		h->muted[t] = on; /* a second toggle before the event toggles back */
		return NULL;
	}
	return ""; /* not a command gridloop has: the caller says so */
}

static const char *const sl_missing[] = {
    "solo",	    "solo_next",	"solo_prev",
    "record_solo",  "record_solo_next", "record_solo_prev",
    "set_sync_pos", "reset_sync_pos",	NULL};

static void sl_command(struct osc_handler *h, struct osc_out *out,
		       const struct osc_msg *m, int n, const char *op)
{
	if (!types_are(m, "s")) {
		refuse(h, out, NULL, m->path, "expects s:command");
		return;
	}
	const char *cmd = m->argv[0].s;
	if (!strcmp(op, "up") || !strcmp(op, "forceup")) {
		/* gridloop acts on the press (down or hit); releases of the
		 * commands it has do nothing, of the others they are refused
		 * at the press already. */
		return;
	}
	int loops[GL_TRACKS];
	int nl = loops_of(h, n, loops);
	for (int i = 0; i < nl; i++) {
		const char *why = sl_hit(h, out, loops[i], cmd);
		if (why && !why[0]) {
			bool known = false;
			for (int k = 0; sl_missing[k]; k++)
				known |= !strcmp(cmd, sl_missing[k]);
			refuse(h, out, NULL, m->path,
			       known ? "gridloop has no such loop operation"
				     : "unknown SooperLooper command");
			return;
		}
		/* On all loops, those where it does not apply are skipped. */
		if (why && nl == 1)
			refuse(h, out, NULL, m->path, why);
	}
}

static void sl_set(struct osc_handler *h, struct osc_out *out, const struct osc_msg *m,
		   int n)
{
	double v;
	if (!types_are(m, "sn") || !arg_number(&m->argv[1], &v)) {
		refuse(h, out, NULL, m->path, "expects s:control f:value");
		return;
	}
	const char *ctrl = m->argv[0].s;
	int loops[GL_TRACKS];
	int nl = loops_of(h, n, loops);
	if (!strcmp(ctrl, "wet")) {
		if (v < 0 || v > GL_GAIN_MAX) {
			refuse(h, out, NULL, m->path, "wet: 0 .. 2");
			return;
		}
		for (int i = 0; i < nl; i++)
			command(h, out, CMD_TRACK_VOLUME, loops[i], 0, (float)v);
	} else if (!strcmp(ctrl, "rate")) {
		if (v != 1.0)
			refuse(h, out, NULL, m->path,
			       "rate: gridloop plays at rate 1 only");
	} else if (!strcmp(ctrl, "quantize")) {
		/* gridloop's quantise is one for all tracks. */
		if (v == 0 || v == 1 || v == 2)
			command(h, out, CMD_SET_QUANTISE, 0, 0,
				v == 0	 ? QUANTISE_OFF
				: v == 1 ? QUANTISE_BAR
					 : QUANTISE_BEAT);
		else
			refuse(h, out, NULL, m->path,
			       "quantize: 0 off, 1 cycle (bar), 2 (beat); gridloop has "
			       "no loop "
			       "quantise");
	} else {
		refuse(h, out, NULL, m->path, "gridloop has no such loop control to set");
	}
}

/* Sends one loop control to url/path: i:loop s:ctrl f:value. */
static bool send_value(struct osc_handler *h, struct osc_out *out, const char *url,
		       const char *path, int loop, const char *ctrl, float v)
{
	return REPLY(h, out, url, path, "isf", (int32_t)loop, ctrl, (double)v);
}

static void sl_get(struct osc_handler *h, struct osc_out *out, const struct osc_msg *m,
		   int n)
{
	if (!types_are(m, "sss") || !url_ok(m->argv[1].s) || !path_ok(m->argv[2].s)) {
		refuse(h, out, NULL, m->path,
		       "expects s:control s:return_url (osc.udp://host:port/) "
		       "s:return_path");
		return;
	}
	const char *url = m->argv[1].s;
	int loops[GL_TRACKS];
	int nl = loops_of(h, n, loops);
	for (int i = 0; i < nl; i++) {
		float v;
		const char *why;
		if (!loop_get(h, loops[i], m->argv[0].s, &v, &why)) {
			refuse(h, out, url, m->path, why);
			return;
		}
		send_value(h, out, url, m->argv[2].s, loops[i], m->argv[0].s, v);
	}
}

/* ---- Registrations --------------------------------------------------------- */

static struct osc_reg *reg_find(struct osc_handler *h, int kind, int loop,
				const char *ctrl, const char *url, const char *path)
{
	for (int i = 0; i < GL_OSC_CLIENTS_MAX; i++) {
		struct osc_reg *r = &h->reg[i];
		if (r->kind == kind && r->loop == loop && !strcmp(r->ctrl, ctrl) &&
		    !strcmp(r->url, url) && !strcmp(r->path, path))
			return r;
	}
	return NULL;
}

/* Registers (or, unregister, drops) one client. NULL, or why not. */
static const char *reg_change(struct osc_handler *h, int kind, int loop, const char *ctrl,
			      int interval_ms, const char *url, const char *path,
			      bool unregister)
{
	if (!url_ok(url) || !path_ok(path))
		return "expects a return URL (osc.udp://host:port/) and path";
	if (strlen(ctrl) >= sizeof(h->reg[0].ctrl))
		return "no such control";
	struct osc_reg *r = reg_find(h, kind, loop, ctrl, url, path);
	if (unregister) {
		if (r)
			memset(r, 0, sizeof(*r));
		return NULL;
	}
	if (!r) {
		for (int i = 0; i < GL_OSC_CLIENTS_MAX && !r; i++)
			if (!h->reg[i].kind)
				r = &h->reg[i];
		if (!r)
			return "too many registrations: unregister one first";
		memset(r, 0, sizeof(*r));
		r->kind = (uint8_t)kind;
		r->loop = (int8_t)loop;
		snprintf(r->ctrl, sizeof(r->ctrl), "%s", ctrl);
		snprintf(r->url, sizeof(r->url), "%s", url);
		snprintf(r->path, sizeof(r->path), "%s", path);
	}
	/* SooperLooper: 10..100 ms, rounded down to 10 ms. */
	if (interval_ms < GL_OSC_AUTO_MS_MIN)
		interval_ms = GL_OSC_AUTO_MS_MIN;
	if (interval_ms > GL_OSC_AUTO_MS_MAX)
		interval_ms = GL_OSC_AUTO_MS_MAX;
	r->interval_ms = interval_ms / 10 * 10;
	r->due_ms = h->now_ms;
	return NULL;
}

/* /sl/#/register... and the global twins (loop OSC_LOOP_GLOBAL). */
static void sl_register(struct osc_handler *h, struct osc_out *out,
			const struct osc_msg *m, int loop, const char *op)
{
	bool unregister = !strncmp(op, "un", 2);
	bool aut = strstr(op, "auto") != NULL;
	const char *want = aut && !unregister ? "snss" : "sss";
	if (!types_are(m, want)) {
		refuse(h, out, NULL, m->path,
		       aut && !unregister
			   ? "expects s:control i:ms s:return_url s:return_path"
			   : "expects s:control s:return_url s:return_path");
		return;
	}
	const char *ctrl = m->argv[0].s;
	int base = aut && !unregister ? 2 : 1;
	const char *url = m->argv[base].s, *path = m->argv[base + 1].s;
	double ms = 0;
	if (aut && !unregister)
		arg_number(&m->argv[1], &ms);
	float v;
	const char *why = NULL;
	if (!unregister && !(loop == OSC_LOOP_GLOBAL ? global_get(h, ctrl, &v, &why)
						     : loop_get(h, 0, ctrl, &v, &why))) {
		refuse(h, out, url_ok(url) ? url : NULL, m->path, why);
		return;
	}
	if (loop == -3)
		loop = h->selected;
	why = reg_change(h, aut ? OSC_REG_AUTO : OSC_REG_UPDATE, loop, ctrl,
			 !(ms > 0)  ? 0
			 : ms > 1e6 ? 1000000
				    : (int)ms,
			 url, path, unregister);
	if (why)
		refuse(h, out, url_ok(url) ? url : NULL, m->path, why);
}

/* /sl/#/... */
static void sl_loop(struct osc_handler *h, struct osc_out *out, const struct osc_msg *m)
{
	const char *p = m->path + 4; /* after "/sl/" */
	char *end;
	long n = strtol(p, &end, 10);
	if (end == p || *end != '/' || (p[0] == '+') || (p[0] == ' ')) {
		h->stats.unknown++;
		REPLY(h, out, NULL, "/gridloop/error", "ss", m->path, "unknown path");
		return;
	}
	const char *op = end + 1;
	if (n != -1 && n != -3 && (n < 0 || n >= GL_TRACKS)) {
		refuse(h, out, NULL, m->path,
		       "no such loop: gridloop has loops 0..7 (its tracks), -1 all, -3 "
		       "selected");
		return;
	}
	if (!strcmp(op, "hit") || !strcmp(op, "down") || !strcmp(op, "up") ||
	    !strcmp(op, "forceup"))
		sl_command(h, out, m, (int)n, op);
	else if (!strcmp(op, "set"))
		sl_set(h, out, m, (int)n);
	else if (!strcmp(op, "get"))
		sl_get(h, out, m, (int)n);
	else if (!strcmp(op, "register_update") || !strcmp(op, "unregister_update") ||
		 !strcmp(op, "register_auto_update") ||
		 !strcmp(op, "unregister_auto_update"))
		sl_register(h, out, m, (int)n, op);
	else if (!strcmp(op, "load_loop") || !strcmp(op, "save_loop")) {
		const char *url = m->argc >= 4 ? arg_string(&m->argv[m->argc - 2]) : NULL;
		refuse(h, out, url_ok(url) ? url : NULL, m->path,
		       "gridloop keeps its loops in its session (gridloop export writes "
		       "WAVs)");
	} else {
		h->stats.unknown++;
		REPLY(h, out, NULL, "/gridloop/error", "ss", m->path, "unknown path");
	}
}

/* ---- Global /set, /get, /save_session, /ping ------------------------------- */

static void global_set(struct osc_handler *h, struct osc_out *out,
		       const struct osc_msg *m)
{
	double v;
	if (!types_are(m, "sn") || !arg_number(&m->argv[1], &v)) {
		refuse(h, out, NULL, m->path, "expects s:param f:value");
		return;
	}
	const char *c = m->argv[0].s;
	if (!strcmp(c, "tempo")) {
		if (v < GL_TEMPO_MIN || v > GL_TEMPO_MAX)
			refuse(h, out, NULL, m->path, "tempo: 30 .. 300 BPM");
		else
			command(h, out, CMD_SET_TEMPO, 0, 0, (float)v);
	} else if (!strcmp(c, "tap_tempo")) {
		command(h, out, CMD_TAP_TEMPO, 0, 0, 0);
	} else if (!strcmp(c, "eighth_per_cycle")) {
		int e;
		if (!arg_whole(&m->argv[1], 2 * GL_BEATS_MIN, 2 * GL_BEATS_MAX, &e) ||
		    e % 2)
			refuse(
			    h, out, NULL, m->path,
			    "eighth_per_cycle: an even number 2 .. 32 (gridloop's bar is "
			    "whole beats)");
		else
			command(h, out, CMD_SET_METER, 0, 0, (float)(e / 2));
	} else if (!strcmp(c, "selected_loop_num")) {
		int s;
		if (!arg_whole(&m->argv[1], -1, GL_TRACKS - 1, &s))
			refuse(h, out, NULL, m->path, "selected_loop_num: -1 (all) .. 7");
		else
			h->selected = s;
	} else if (!strcmp(c, "select_next_loop")) {
		h->selected = h->selected < 0 ? 0 : (h->selected + 1) % GL_TRACKS;
	} else if (!strcmp(c, "select_prev_loop")) {
		h->selected = h->selected <= 0 ? GL_TRACKS - 1 : h->selected - 1;
	} else if (!strcmp(c, "select_all_loops")) {
		h->selected = -1;
	} else if (!strcmp(c, "wet")) {
		if (v < 0 || v > GL_GAIN_MAX)
			refuse(h, out, NULL, m->path, "wet: 0 .. 2");
		else
			command(h, out, CMD_MASTER_VOLUME, 0, 0, (float)v);
	} else if (!strcmp(c, "sync_source") || !strcmp(c, "output_midi_clock")) {
		refuse(h, out, NULL, m->path,
		       "set in the config file: [sync] clock = internal | external");
	} else {
		refuse(h, out, NULL, m->path, "gridloop has no such global parameter");
	}
}

static void global_get_msg(struct osc_handler *h, struct osc_out *out,
			   const struct osc_msg *m)
{
	if (!types_are(m, "sss") || !url_ok(m->argv[1].s) || !path_ok(m->argv[2].s)) {
		refuse(
		    h, out, NULL, m->path,
		    "expects s:param s:return_url (osc.udp://host:port/) s:return_path");
		return;
	}
	float v;
	const char *why;
	if (!global_get(h, m->argv[0].s, &v, &why)) {
		refuse(h, out, m->argv[1].s, m->path, why);
		return;
	}
	/* SooperLooper answers a global get with loop index -2. */
	send_value(h, out, m->argv[1].s, m->argv[2].s, OSC_LOOP_GLOBAL, m->argv[0].s, v);
}

static void save_session(struct osc_handler *h, struct osc_out *out,
			 const struct osc_msg *m)
{
	/* s:filename s:return_url s:error_path; the file name is gridloop's
	 * own (its session directory). */
	const char *url = m->argc == 3 ? arg_string(&m->argv[1]) : NULL;
	const char *epath = m->argc == 3 ? arg_string(&m->argv[2]) : NULL;
	if (!types_are(m, "sss") || !url_ok(url) || !path_ok(epath)) {
		refuse(h, out, NULL, m->path,
		       "expects s:filename s:return_url s:error_path");
		return;
	}
	if (!h->cfg.can_save) {
		h->stats.refused++;
		REPLY(h, out, url, epath, "s",
		      "no session directory ([session] dir): nothing is saved");
		return;
	}
	command(h, out, CMD_REQUEST, 0, 0, REQUEST_SAVE);
}

static void ping(struct osc_handler *h, struct osc_out *out, const struct osc_msg *m)
{
	if (!types_are(m, "ss") || !url_ok(m->argv[0].s) || !path_ok(m->argv[1].s)) {
		refuse(h, out, NULL, m->path, "expects s:return_url s:return_path");
		return;
	}
	REPLY(h, out, m->argv[0].s, m->argv[1].s, "ssi", h->cfg.self_url, OSC_VERSION,
	      (int32_t)GL_TRACKS);
}

/* ---- gridloop's own namespace ---------------------------------------------- */

static void grid_clip(struct osc_handler *h, struct osc_out *out, const struct osc_msg *m)
{
	int t, s;
	if (!types_are(m, "nns") || !arg_whole(&m->argv[0], 0, GL_TRACKS - 1, &t) ||
	    !arg_whole(&m->argv[1], 0, GL_SCENES - 1, &s)) {
		refuse(h, out, NULL, m->path,
		       "expects i:track (0..7) i:scene (0..9) "
		       "s:press|clear|stop|overdub|undo|redo");
		return;
	}
	static const struct {
		const char *word;
		enum command_type type;
	} actions[] = {{"press", CMD_PRESS},	{"clear", CMD_CLEAR},
		       {"stop", CMD_STOP_CLIP}, {"overdub", CMD_OVERDUB},
		       {"undo", CMD_UNDO},	{"redo", CMD_REDO}};
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (!strcmp(m->argv[2].s, actions[i].word)) {
			command(h, out, actions[i].type, t, s, 0);
			if (actions[i].type == CMD_PRESS)
				h->cur_scene[t] = s;
			return;
		}
	}
	refuse(h, out, NULL, m->path,
	       "action: press, clear, stop, overdub, undo or redo");
}

static void grid_path(struct osc_handler *h, struct osc_out *out, const struct osc_msg *m)
{
	const char *op = m->path + strlen("/gridloop/");
	int s;
	if (!strcmp(op, "clip")) {
		grid_clip(h, out, m);
	} else if (!strcmp(op, "scene")) {
		if (!types_are(m, "n") || !arg_whole(&m->argv[0], 0, GL_SCENES - 1, &s))
			refuse(h, out, NULL, m->path, "expects i:scene (0..9)");
		else
			command(h, out, CMD_LAUNCH_SCENE, 0, s, 0);
	} else if (!strcmp(op, "stop_all")) {
		if (m->argc)
			refuse(h, out, NULL, m->path, "takes no arguments");
		else
			command(h, out, CMD_STOP_ALL, 0, 0, 0);
	} else if (!strcmp(op, "register") || !strcmp(op, "unregister")) {
		const char *why =
		    !types_are(m, "ss")
			? "expects s:return_url s:return_path"
			: reg_change(h, OSC_REG_GRID, 0, "grid", 0, m->argv[0].s,
				     m->argv[1].s, op[0] == 'u');
		if (why)
			refuse(h, out, NULL, m->path, why);
	} else if (!strcmp(op, "stats")) {
		if (!types_are(m, "ss") || !url_ok(m->argv[0].s) ||
		    !path_ok(m->argv[1].s)) {
			refuse(h, out, NULL, m->path,
			       "expects s:return_url s:return_path");
			return;
		}
		const struct osc_stats *st = &h->stats;
		REPLY(h, out, m->argv[0].s, m->argv[1].s, "iiiiiii", (int32_t)st->packets,
		      (int32_t)st->malformed, (int32_t)st->unknown, (int32_t)st->refused,
		      (int32_t)st->commands, (int32_t)st->commands_dropped,
		      (int32_t)st->flood_dropped);
	} else {
		h->stats.unknown++;
		REPLY(h, out, NULL, "/gridloop/error", "ss", m->path, "unknown path");
	}
}

/* ---- Dispatch -------------------------------------------------------------- */

static const char *const sl_unsupported[] = {"/load_session",
					     "/loop_add",
					     "/loop_del",
					     "/quit",
					     "/get_all_midi_bindings",
					     "/remove_midi_binding",
					     "/add_midi_binding",
					     "/clear_midi_bindings",
					     "/load_midi_bindings",
					     "/save_midi_bindings",
					     "/learn_midi_binding",
					     "/get_next_midi_event",
					     "/cancel_midi_learn",
					     "/cancel_get_next_midi",
					     NULL};

static void message(struct osc_handler *h, struct osc_out *out, const struct osc_msg *m)
{
	const char *p = m->path;
	if (!strcmp(p, "/ping"))
		ping(h, out, m);
	else if (!strncmp(p, "/sl/", 4))
		sl_loop(h, out, m);
	else if (!strcmp(p, "/set"))
		global_set(h, out, m);
	else if (!strcmp(p, "/get"))
		global_get_msg(h, out, m);
	else if (!strcmp(p, "/register_update") || !strcmp(p, "/unregister_update") ||
		 !strcmp(p, "/register_auto_update") ||
		 !strcmp(p, "/unregister_auto_update"))
		sl_register(h, out, m, OSC_LOOP_GLOBAL, p + 1);
	else if (!strcmp(p, "/save_session"))
		save_session(h, out, m);
	else if (!strncmp(p, "/gridloop/", 10))
		grid_path(h, out, m);
	else {
		for (int i = 0; sl_unsupported[i]; i++) {
			if (!strcmp(p, sl_unsupported[i])) {
				refuse(h, out, NULL, p, "not in gridloop");
				return;
			}
		}
		h->stats.unknown++;
		REPLY(h, out, NULL, "/gridloop/error", "ss", p, "unknown path");
	}
}

/* A message or a bundle ("#bundle", a time tag, then size-prefixed
 * elements, acted on at once, in order). act false: only checks that it is
 * well formed, so that a malformed bundle is ignored as a whole, never half
 * done. false: malformed. */
static bool element(struct osc_handler *h, const uint8_t *data, size_t len, int depth,
		    bool act, struct osc_out *out)
{
	if (len >= 8 && !memcmp(data, "#bundle", 8)) {
		if (len < 16 || depth >= OSC_BUNDLE_DEPTH || len % 4)
			return false;
		size_t at = 16;
		while (at < len) {
			if (len - at < 4)
				return false;
			uint32_t n = be32(data + at);
			at += 4;
			if (n > len - at || n % 4 ||
			    !element(h, data + at, n, depth + 1, act, out))
				return false;
			at += n;
		}
		return true;
	}
	struct osc_msg m;
	if (osc_decode(data, len, &m))
		return false;
	if (act)
		message(h, out, &m);
	return true;
}

void osc_handler_packet(struct osc_handler *h, const uint8_t *data, size_t len,
			bool truncated, int64_t now_ms, int64_t now, struct osc_out *out)
{
	out_reset(out);
	h->stats.packets++;
	h->now_ms = now_ms;
	if (now > h->now)
		h->now = now;
	if (truncated || len > GL_OSC_PACKET_MAX || !element(h, data, len, 0, false, out))
		h->stats.malformed++;
	else
		element(h, data, len, 0, true, out);
}

/* ---- Pushing state ----------------------------------------------------------- */

static void tick_reg(struct osc_handler *h, struct osc_reg *r, struct osc_out *out)
{
	if (r->kind == OSC_REG_GRID) {
		for (int i = 0; i < GL_SLOTS; i++) {
			int t = i % GL_TRACKS, s = i / GL_TRACKS;
			const struct osc_slot *sl = &h->slot[t][s];
			/* A take's length comes just after its state. */
			if (r->sent[i] && r->grid_last[i] == sl->state &&
			    r->grid_len[i] == sl->length)
				continue;
			double secs =
			    (double)sl->length / (h->cfg.rate ? h->cfg.rate : 48000);
			if (!REPLY(h, out, r->url, r->path, "iisf", (int32_t)t,
				   (int32_t)s, engine_clip_state_name(sl->state), secs))
				return; /* the rest on the next tick */
			r->sent[i] = 1;
			r->grid_last[i] = sl->state;
			r->grid_len[i] = sl->length;
		}
		return;
	}
	if (r->kind == OSC_REG_AUTO) {
		if (h->now_ms < r->due_ms)
			return;
		r->due_ms = h->now_ms + r->interval_ms;
	}
	int loops[GL_TRACKS], nl;
	if (r->loop == OSC_LOOP_GLOBAL) {
		nl = 1;
		loops[0] = OSC_LOOP_GLOBAL;
	} else {
		nl = loops_of(h, r->loop, loops);
	}
	for (int i = 0; i < nl; i++) {
		int slot = r->loop == OSC_LOOP_GLOBAL ? 0 : loops[i];
		float v;
		const char *why;
		bool ok = r->loop == OSC_LOOP_GLOBAL
			      ? global_get(h, r->ctrl, &v, &why)
			      : loop_get(h, loops[i], r->ctrl, &v, &why);
		if (!ok || (r->sent[slot] && r->last[slot] == v))
			continue;
		if (!send_value(h, out, r->url, r->path, loops[i], r->ctrl, v))
			return;
		r->sent[slot] = 1;
		r->last[slot] = v;
	}
}

void osc_handler_tick(struct osc_handler *h, int64_t now_ms, int64_t now,
		      struct osc_out *out)
{
	out_reset(out);
	h->now_ms = now_ms;
	if (now > h->now)
		h->now = now;
	for (int i = 0; i < GL_OSC_CLIENTS_MAX; i++)
		if (h->reg[i].kind)
			tick_reg(h, &h->reg[i], out);
}
