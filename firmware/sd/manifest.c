/* manifest.c -- a session's manifest (manifest.h): the settings and the
 * clip list of a struct session as JSON, read and written with cJSON.
 *
 * Reading goes field by field. Each reader looks its field up, checks type
 * and range, and on a mistake writes "where.field: must be RULE (got X)"
 * into the caller's buffer; the first mistake stops the parse and the
 * session goes back to its initial state, so a half-read manifest is never
 * used. Array indexes in messages are 0-based, as in the JSON ("clips[0]" is
 * the first clip); track and scene numbers are 1-based, as on the pads. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "gl_limits.h"
#include "manifest.h"

#define FRAMES_MAX ((double)GL_CLIP_FRAMES_MAX)

/* ---- reading: errors ----------------------------------------------------- */

/* Where the reader is: the object it reads fields from, the path of that
 * object as a prefix for messages ("" or "clips[3]."), and the caller's
 * error buffer. */
struct reader {
	const cJSON *obj;
	const char *where;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int
fail(const struct reader *r, const char *key, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (r->err && r->errlen)
		snprintf(r->err, r->errlen, "%s%s: %s", r->where, key, what);
	return -1;
}

/* A string for a message: quoted, at most 24 characters, anything but
 * printable ASCII shown as '?', so a hostile manifest cannot put control
 * characters into the log. */
static void quote(const char *str, char *out, size_t outlen)
{
	char shown[32];
	size_t n = 0;
	for (; n < 24 && str[n]; n++)
		shown[n] = (str[n] >= 0x20 && str[n] < 0x7f) ? str[n] : '?';
	shown[n] = '\0';
	snprintf(out, outlen, "\"%s\"%s", shown, str[n] ? "..." : "");
}

/* What a JSON value is, for "(got X)". */
static void describe(const cJSON *v, char *out, size_t outlen)
{
	if (cJSON_IsNumber(v))
		snprintf(out, outlen, "%.15g", v->valuedouble);
	else if (cJSON_IsString(v))
		quote(v->valuestring, out, outlen);
	else if (cJSON_IsTrue(v))
		snprintf(out, outlen, "true");
	else if (cJSON_IsFalse(v))
		snprintf(out, outlen, "false");
	else if (cJSON_IsNull(v))
		snprintf(out, outlen, "null");
	else if (cJSON_IsArray(v))
		snprintf(out, outlen, "an array");
	else
		snprintf(out, outlen, "an object");
}

/* Field `key` (value v, NULL when missing) breaks `rule`. */
static int wrong(const struct reader *r, const char *key, const cJSON *v,
		 const char *rule)
{
	char got[64];
	if (!v)
		return fail(r, key, "missing (must be %s)", rule);
	describe(v, got, sizeof(got));
	return fail(r, key, "must be %s (got %s)", rule, got);
}

/* ---- reading: fields ----------------------------------------------------- */

static const cJSON *field(const struct reader *r, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(r->obj, key);
}

static bool is_whole(double d)
{
	return isfinite(d) && d == floor(d);
}

/* A whole number lo..hi into *out. Missing: an error when required, else
 * *out keeps its default. */
static int read_whole(const struct reader *r, const char *key, bool required, double lo,
		      double hi, const char *rule, int64_t *out)
{
	const cJSON *v = field(r, key);
	if (!v && !required)
		return 0;
	if (!cJSON_IsNumber(v) || !is_whole(v->valuedouble) || v->valuedouble < lo ||
	    v->valuedouble > hi)
		return wrong(r, key, v, rule);
	*out = (int64_t)v->valuedouble;
	return 0;
}

/* An optional number lo..hi into *out (which holds the default). */
static int read_number(const struct reader *r, const char *key, double lo, double hi,
		       const char *rule, double *out)
{
	const cJSON *v = field(r, key);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo ||
	    v->valuedouble > hi)
		return wrong(r, key, v, rule);
	*out = v->valuedouble;
	return 0;
}

static int read_float(const struct reader *r, const char *key, double lo, double hi,
		      const char *rule, float *out)
{
	double d = *out;
	if (read_number(r, key, lo, hi, rule, &d) < 0)
		return -1;
	*out = (float)d;
	return 0;
}

/* An optional true/false into *out (which holds the default). */
static int read_bool(const struct reader *r, const char *key, bool *out)
{
	const cJSON *v = field(r, key);
	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return wrong(r, key, v, "true or false");
	*out = cJSON_IsTrue(v);
	return 0;
}

/* A string into *out (pointing into the cJSON tree). Missing: an error when
 * required, else *out is NULL. */
static int read_string(const struct reader *r, const char *key, bool required,
		       const char *rule, const char **out)
{
	const cJSON *v = field(r, key);
	*out = NULL;
	if (!v && !required)
		return 0;
	if (!cJSON_IsString(v))
		return wrong(r, key, v, rule);
	*out = v->valuestring;
	return 0;
}

/* Copies src into dst (size dstlen), cut at a UTF-8 character boundary when
 * too long, so a truncated name is still valid text. */
static void copy_text(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);
	if (n >= dstlen) {
		n = dstlen - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
			n--; /* src[n] continues a character: cut before it */
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- reading: the manifest ----------------------------------------------- */

/* "format", "version" and "compatible": is this a manifest this gridloop
 * can read? */
static int read_format(const struct reader *r)
{
	const char *format;
	if (read_string(r, "format", true, "\"" MANIFEST_FORMAT "\"", &format) < 0)
		return -1;
	if (strcmp(format, MANIFEST_FORMAT) != 0)
		return wrong(r, "format", field(r, "format"), "\"" MANIFEST_FORMAT "\"");

	int64_t version = 0;
	if (read_whole(r, "version", true, 1, 1e9, "a whole number >= 1", &version) < 0)
		return -1;
	int64_t compatible = version;
	char rule[64];
	snprintf(rule, sizeof(rule), "a whole number 1..%lld, at most the version",
		 (long long)version);
	if (read_whole(r, "compatible", false, 1, (double)version, rule, &compatible) < 0)
		return -1;
	if (compatible > MANIFEST_VERSION)
		return fail(r, "version",
			    "written by a newer gridloop (format version %lld, needs a "
			    "reader of version %lld); this one reads version %d",
			    (long long)version, (long long)compatible, MANIFEST_VERSION);
	return 0;
}

#define RATE_RULE  "44100, 48000 or 96000"
#define TEMPO_RULE "30..300, or 0 for no tempo"
#define GAIN_RULE  "a number 0..2"

static int read_rate(const struct reader *r, struct session *s)
{
	int64_t rate = 0;
	if (read_whole(r, "rate", true, 0, 1e9, RATE_RULE, &rate) < 0)
		return -1;
	if (rate != 44100 && rate != 48000 && rate != 96000)
		return wrong(r, "rate", field(r, "rate"), RATE_RULE);
	s->rate = (uint32_t)rate;
	return 0;
}

static int read_tempo(const struct reader *r, struct session *s)
{
	if (read_number(r, "tempo", 0, GL_TEMPO_MAX, TEMPO_RULE, &s->tempo) < 0)
		return -1;
	if (s->tempo != 0 && s->tempo < GL_TEMPO_MIN)
		return wrong(r, "tempo", field(r, "tempo"), TEMPO_RULE);
	return 0;
}

static int read_quantise(const struct reader *r, struct session *s)
{
	static const char *const names[] = {
	    [QUANTISE_OFF] = "off", [QUANTISE_BEAT] = "beat", [QUANTISE_BAR] = "bar"};
	const char *rule = "\"off\", \"beat\" or \"bar\"";
	const char *name;
	if (read_string(r, "quantise", false, rule, &name) < 0)
		return -1;
	if (!name)
		return 0;
	for (int q = 0; q < (int)(sizeof(names) / sizeof(names[0])); q++)
		if (strcmp(name, names[q]) == 0) {
			s->quantise = (enum quantise)q;
			return 0;
		}
	return wrong(r, "quantise", field(r, "quantise"), rule);
}

static int read_settings(const struct reader *r, struct session *s)
{
	int64_t beats = s->beats_per_bar;
	const char *saved;
	if (read_rate(r, s) < 0 || read_tempo(r, s) < 0 ||
	    read_whole(r, "beats_per_bar", false, GL_BEATS_MIN, GL_BEATS_MAX,
		       "a whole number 1..16", &beats) < 0 ||
	    read_quantise(r, s) < 0 || read_bool(r, "metronome", &s->metronome) < 0 ||
	    read_float(r, "master_volume", 0, 2, GAIN_RULE, &s->master_volume) < 0 ||
	    read_string(r, "saved", false, "a string (a UTC time)", &saved) < 0)
		return -1;
	s->beats_per_bar = (uint32_t)beats;
	if (saved)
		copy_text(s->saved_at, sizeof(s->saved_at), saved);
	return 0;
}

/* "tracks": absent (defaults), or exactly one object per track. */
static int read_tracks(const struct reader *r, struct session *s)
{
	const cJSON *tracks = field(r, "tracks");
	char rule[48];
	snprintf(rule, sizeof(rule), "an array of %d track objects", GL_TRACKS);
	if (!tracks)
		return 0;
	if (!cJSON_IsArray(tracks))
		return wrong(r, "tracks", tracks, rule);
	int n = cJSON_GetArraySize(tracks);
	if (n != GL_TRACKS)
		return fail(r, "tracks", "must be %s (got %d)", rule, n);
	for (int t = 0; t < GL_TRACKS; t++) {
		char where[32], key[32];
		const cJSON *track = cJSON_GetArrayItem(tracks, t);
		snprintf(key, sizeof(key), "tracks[%d]", t);
		if (!cJSON_IsObject(track))
			return wrong(r, key, track, "an object");
		snprintf(where, sizeof(where), "tracks[%d].", t);
		struct reader in = *r;
		in.obj = track;
		in.where = where;
		if (read_float(&in, "volume", 0, 2, GAIN_RULE, &s->tracks[t].volume) <
			0 ||
		    read_bool(&in, "mute", &s->tracks[t].mute) < 0)
			return -1;
	}
	return 0;
}

/* A clip's length in bars at the session's tempo and meter; 0 with no
 * tempo. For manifests that do not say. */
static double bars_of(const struct session *s, int64_t frames)
{
	if (s->tempo <= 0)
		return 0;
	double frames_per_bar = s->rate * 60.0 / s->tempo * s->beats_per_bar;
	return (double)frames / frames_per_bar;
}

/* One entry of "clips" (index i) into its slot; slot_of[] maps the slots
 * filled so far to their entries, for the duplicate checks. */
static int read_clip(const struct reader *r, int i, struct session *s, int *slot_of)
{
	char where[32];
	snprintf(where, sizeof(where), "clips[%d].", i);
	struct reader in = *r;
	in.where = where;

	int64_t track = 0, scene = 0, frames = 0, channels = 0;
	double bars = -1;
	const char *file;
	char track_rule[32], scene_rule[32];
	snprintf(track_rule, sizeof(track_rule), "a whole number 1..%d", GL_TRACKS);
	snprintf(scene_rule, sizeof(scene_rule), "a whole number 1..%d", GL_SCENES);
	if (read_whole(&in, "track", true, 1, GL_TRACKS, track_rule, &track) < 0 ||
	    read_whole(&in, "scene", true, 1, GL_SCENES, scene_rule, &scene) < 0 ||
	    read_string(&in, "file", true, "a file name", &file) < 0 ||
	    read_whole(&in, "frames", true, 1, FRAMES_MAX,
		       "a whole number > 0, at most 2^40", &frames) < 0 ||
	    read_whole(&in, "channels", true, 1, 2, "1 or 2", &channels) < 0 ||
	    read_number(&in, "bars", 0, 1e12, "a number >= 0", &bars) < 0)
		return -1;
	bool muted = false, reversed = false;
	double speed = 1;
	if (read_bool(&in, "muted", &muted) < 0 ||
	    read_bool(&in, "reverse", &reversed) < 0 ||
	    read_number(&in, "speed", 0.5, 2, "0.5, 1 or 2", &speed) < 0)
		return -1;
	if (speed != 0.5 && speed != 1 && speed != 2)
		return wrong(&in, "speed", field(&in, "speed"), "0.5, 1 or 2");
	int64_t cycle = 0;
	if (read_whole(&in, "cycle", false, 1, FRAMES_MAX,
		       "a whole number > 0 that divides frames", &cycle) < 0)
		return -1;
	if (cycle && (cycle > frames || frames % cycle))
		return wrong(&in, "cycle", field(&in, "cycle"),
			     "a whole number > 0 that divides frames");
	int64_t seams[GL_SEAMS_MAX] = {0};
	int nseams = 0;
	const cJSON *sv = field(&in, "seams");
	if (sv) {
		static const char rule[] = "an array of at most 16 increasing whole "
					   "numbers between 0 and frames";
		if (!cJSON_IsArray(sv) || cJSON_GetArraySize(sv) > GL_SEAMS_MAX)
			return wrong(&in, "seams", sv, rule);
		const cJSON *x;
		cJSON_ArrayForEach(x, sv)
		{
			if (!cJSON_IsNumber(x) || !is_whole(x->valuedouble) ||
			    x->valuedouble <= 0 || x->valuedouble >= (double)frames ||
			    (nseams && (int64_t)x->valuedouble <= seams[nseams - 1]))
				return wrong(&in, "seams", sv, rule);
			seams[nseams++] = (int64_t)x->valuedouble;
		}
	}
	if (!manifest_name_ok(file))
		return wrong(
		    &in, "file", field(&in, "file"),
		    "a plain file name of [A-Za-z0-9._-], not starting with '.'");

	int slot = (int)((scene - 1) * GL_TRACKS + (track - 1));
	if (s->clips[slot].present)
		return fail(&in, "scene",
			    "track %lld, scene %lld already has a clip (clips[%d])",
			    (long long)track, (long long)scene, slot_of[slot]);
	/* Case-insensitive: on a FAT card "A.wav" and "a.wav" are one file. */
	for (int other = 0; other < GL_SLOTS; other++)
		if (s->clips[other].present &&
		    strcasecmp(s->clips[other].file, file) == 0)
			return fail(&in, "file", "\"%s\" is also the file of clips[%d]",
				    file, slot_of[other]);

	struct session_clip *c = &s->clips[slot];
	c->present = true;
	c->channels = (int)channels;
	c->frames = frames;
	c->bars = bars >= 0 ? bars : bars_of(s, frames);
	c->muted = muted;
	c->reversed = reversed;
	c->speed = speed;
	c->cycle = cycle < frames ? cycle : 0;
	memcpy(c->seams, seams, (size_t)nseams * sizeof(seams[0]));
	c->nseams = nseams;
	copy_text(c->file, sizeof(c->file), file);
	slot_of[slot] = i;
	return 0;
}

static int read_clips(const struct reader *r, struct session *s)
{
	const cJSON *clips = field(r, "clips");
	int slot_of[GL_SLOTS] = {0};
	if (!cJSON_IsArray(clips))
		return wrong(r, "clips", clips, "an array of clip objects");
	int i = 0;
	const cJSON *clip;
	cJSON_ArrayForEach(clip, clips)
	{
		char key[32];
		snprintf(key, sizeof(key), "clips[%d]", i);
		if (!cJSON_IsObject(clip))
			return wrong(r, key, clip, "an object");
		struct reader in = *r;
		in.obj = clip;
		if (read_clip(&in, i, s, slot_of) < 0)
			return -1;
		i++;
	}
	return 0;
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The text as a cJSON tree: one JSON value, nothing after it but
 * whitespace. NULL (message in r) when it is not.
 *
 * cJSON gets a NUL-terminated copy even though it is told the length:
 * cJSON 1.7.15 reads one byte past the length in some truncated texts
 * ('{"a":1,' at the very end, found by fuzzing it instrumented), and a
 * terminator there makes that read harmless whatever the library's patch
 * level. A manifest is small and read rarely. */
static cJSON *parse_json(const struct reader *r, const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy) {
		fail(r, "manifest", "out of memory (%zu bytes)", len);
		return NULL;
	}
	if (len)
		memcpy(copy, text, len);
	copy[len] = '\0';

	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(copy, len, &end, false);
	size_t at = end ? (size_t)(end - copy) : 0;
	if (!root)
		fail(r, "manifest", "not valid JSON (error at byte %zu of %zu)", at, len);
	while (root && at < len && is_json_space(copy[at]))
		at++;
	if (root && at < len) {
		fail(r, "manifest", "not valid JSON (text after the end, at byte %zu)",
		     at);
		cJSON_Delete(root);
		root = NULL;
	}
	free(copy);
	return root;
}

int manifest_parse(const char *text, size_t len, struct session *s, char *err,
		   size_t errlen)
{
	struct reader r = {.obj = NULL, .where = "", .err = err, .errlen = errlen};
	session_init(s, 0);
	if (err && errlen)
		err[0] = '\0';
	if (len > MANIFEST_MAX_SIZE)
		return fail(&r, "manifest", "too big (%zu bytes, at most %d)", len,
			    MANIFEST_MAX_SIZE);
	cJSON *root = parse_json(&r, text, len);
	if (!root)
		return -1;
	r.obj = root;
	int rc = -1;
	if (!cJSON_IsObject(root))
		wrong(&r, "manifest", root, "a JSON object");
	else if (read_format(&r) == 0 && read_settings(&r, s) == 0 &&
		 read_tracks(&r, s) == 0 && read_clips(&r, s) == 0)
		rc = 0;
	cJSON_Delete(root);
	if (rc < 0)
		session_init(s, 0);
	return rc;
}

bool manifest_name_ok(const char *name)
{
	size_t n = 0;
	if (!name || name[0] == '\0' || name[0] == '.')
		return false;
	for (; name[n]; n++) {
		char c = name[n];
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!plain || n + 1 >= SESSION_NAME_MAX)
			return false;
	}
	return true;
}

/* ---- writing ------------------------------------------------------------- */

/* d as the shortest decimal that reads back exactly (as a float when
 * as_float), so 0.8f is written 0.8, not 0.800000011920929. cJSON's own
 * printing is not used for these: it keeps 15 digits when they come back
 * within an epsilon, so a double could change by a bit on each save. */
static void decimal_text(double d, bool as_float, char *buf, size_t len)
{
	if (!isfinite(d))
		d = 0; /* never in a valid session; keeps the JSON valid */
	if (d == floor(d) && fabs(d) < 1e15) {
		snprintf(buf, len, "%.0f", d); /* 120, not 1.2e+02 */
		return;
	}
	for (int digits = 1; digits <= 17; digits++) {
		snprintf(buf, len, "%.*g", digits, d);
		double back = strtod(buf, NULL);
		if (as_float ? (float)back == (float)d : back == d)
			break;
	}
	for (char *p = buf; *p; p++)
		if (*p == ',')
			*p = '.'; /* a locale's decimal comma is not JSON */
}

static bool add_decimal(cJSON *obj, const char *key, double d, bool as_float)
{
	char buf[40];
	decimal_text(d, as_float, buf, sizeof(buf));
	return cJSON_AddRawToObject(obj, key, buf) != NULL;
}

static const char *quantise_name(enum quantise q)
{
	switch (q) {
	case QUANTISE_OFF:
		return "off";
	case QUANTISE_BEAT:
		return "beat";
	case QUANTISE_BAR:
		break;
	}
	return "bar";
}

/* Each writer returns false when out of memory (cJSON's adders return NULL
 * then); manifest_write frees the half-built tree. */
static bool write_settings(cJSON *root, const struct session *s)
{
	return cJSON_AddStringToObject(root, "format", MANIFEST_FORMAT) &&
	       cJSON_AddNumberToObject(root, "version", MANIFEST_VERSION) &&
	       cJSON_AddNumberToObject(root, "compatible", MANIFEST_VERSION) &&
	       cJSON_AddStringToObject(root, "saved", s->saved_at) &&
	       cJSON_AddNumberToObject(root, "rate", s->rate) &&
	       add_decimal(root, "tempo", s->tempo, false) &&
	       cJSON_AddNumberToObject(root, "beats_per_bar", s->beats_per_bar) &&
	       cJSON_AddStringToObject(root, "quantise", quantise_name(s->quantise)) &&
	       cJSON_AddBoolToObject(root, "metronome", s->metronome) &&
	       add_decimal(root, "master_volume", s->master_volume, true);
}

static bool write_tracks(cJSON *root, const struct session *s)
{
	cJSON *tracks = cJSON_AddArrayToObject(root, "tracks");
	if (!tracks)
		return false;
	for (int t = 0; t < GL_TRACKS; t++) {
		cJSON *track = cJSON_CreateObject();
		if (!track)
			return false;
		cJSON_AddItemToArray(tracks, track);
		if (!add_decimal(track, "volume", s->tracks[t].volume, true) ||
		    !cJSON_AddBoolToObject(track, "mute", s->tracks[t].mute))
			return false;
	}
	return true;
}

static bool write_seams(cJSON *clip, const struct session_clip *c)
{
	cJSON *a = cJSON_AddArrayToObject(clip, "seams");
	for (int i = 0; a && i < c->nseams && i < GL_SEAMS_MAX; i++) {
		cJSON *x = cJSON_CreateNumber((double)c->seams[i]);
		if (!x)
			return false;
		cJSON_AddItemToArray(a, x);
	}
	return a != NULL;
}

static bool write_clip(cJSON *clips, const struct session_clip *c, int slot)
{
	cJSON *clip = cJSON_CreateObject();
	if (!clip)
		return false;
	cJSON_AddItemToArray(clips, clip);
	return cJSON_AddNumberToObject(clip, "track", slot % GL_TRACKS + 1) &&
	       cJSON_AddNumberToObject(clip, "scene", slot / GL_TRACKS + 1) &&
	       cJSON_AddStringToObject(clip, "file", c->file) &&
	       cJSON_AddNumberToObject(clip, "frames", (double)c->frames) &&
	       add_decimal(clip, "bars", c->bars, false) &&
	       cJSON_AddNumberToObject(clip, "channels", c->channels) &&
	       /* Only when set: older readers' manifests stay as they were. */
	       (!c->muted || cJSON_AddBoolToObject(clip, "muted", true)) &&
	       (!c->reversed || cJSON_AddBoolToObject(clip, "reverse", true)) &&
	       ((c->speed != 0.5 && c->speed != 2) ||
		cJSON_AddNumberToObject(clip, "speed", c->speed)) &&
	       (c->cycle <= 0 || c->cycle >= c->frames || c->frames % c->cycle ||
		cJSON_AddNumberToObject(clip, "cycle", (double)c->cycle)) &&
	       (c->nseams <= 0 || write_seams(clip, c));
}

static bool write_clips(cJSON *root, const struct session *s)
{
	cJSON *clips = cJSON_AddArrayToObject(root, "clips");
	if (!clips)
		return false;
	for (int slot = 0; slot < GL_SLOTS; slot++)
		if (s->clips[slot].present && !write_clip(clips, &s->clips[slot], slot))
			return false;
	return true;
}

char *manifest_write(const struct session *s)
{
	cJSON *root = cJSON_CreateObject();
	char *text = NULL;
	if (root && write_settings(root, s) && write_tracks(root, s) &&
	    write_clips(root, s))
		text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return NULL;
	/* End with a newline, as a text file does. */
	size_t n = strlen(text);
	char *with_newline = realloc(text, n + 2);
	if (!with_newline) {
		free(text);
		return NULL;
	}
	with_newline[n] = '\n';
	with_newline[n + 1] = '\0';
	return with_newline;
}
