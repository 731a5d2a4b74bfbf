/* undo_model.h -- an independent model of one clip's undo levels, for the
 * tests that check the engine's undo against it (tests/test_undo.c: passes
 * of one length; tests/test_multiply.c: multiplies and inserts, states of
 * any length).
 *
 * The model keeps every state the clip was in (its audio, read when the
 * operation ended, and its length) and a cursor: an undo moves the cursor
 * back, a redo forward; a new pass, multiply or insert cuts what was ahead
 * and adds a state; a clear hides the clip until an undo brings it back,
 * and a redo after that undo clears it again. It knows nothing of the
 * engine's code: only what a musician is promised (docs/manual.md, "Undo").
 *
 *   struct undo_model m = {.levels = 4};   // 0: no bound of its own
 *   undo_model_push(&m, audio, frames);    // the state after an operation
 *   undo_model_undo(&m);                   // false: nothing to undo
 *   undo_model_free(&m);
 *
 * States are malloc'd float arrays the model owns (freed when cut, dropped
 * or at undo_model_free); a NULL state is one not known yet (a pass cut
 * short by an undo: what it wrote is learnt when it is redone). */
#ifndef GRIDLOOP_TESTS_UNDO_MODEL_H
#define GRIDLOOP_TESTS_UNDO_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gl_limits.h"

#define UNDO_MODEL_STATES (GL_UNDO_LEVELS_MAX + 2)

struct undo_model {
	float *st[UNDO_MODEL_STATES];
	int64_t len[UNDO_MODEL_STATES];
	int n, cur; /* states, and the one the clip holds */
	bool cleared, clear_redo;
	int levels;  /* the bound on undo levels (states - 1); 0: none here */
	int dropped; /* oldest states dropped by that bound */
};

/* What was ahead of the cursor is gone (a new operation, or a clear). */
static inline void undo_model_cut(struct undo_model *m)
{
	if (m->n == 0) /* the first state */
		return;
	for (int i = m->cur + 1; i < m->n; i++)
		free(m->st[i]);
	m->n = m->cur + 1;
}

/* The oldest state goes (the engine's bound dropped a level). */
static inline void undo_model_drop_oldest(struct undo_model *m)
{
	free(m->st[0]);
	memmove(m->st, m->st + 1, (size_t)(m->n - 1) * sizeof(m->st[0]));
	memmove(m->len, m->len + 1, (size_t)(m->n - 1) * sizeof(m->len[0]));
	m->n--;
	m->cur--;
	m->dropped++;
}

/* A new state at the cursor (owned by the model from now on); with a bound
 * of its own, the oldest goes once there are more levels than it. Returns
 * false when the model is full (a bound the engine did not keep). */
static inline bool undo_model_push(struct undo_model *m, float *state, int64_t len)
{
	undo_model_cut(m);
	m->clear_redo = false;
	if (m->n >= UNDO_MODEL_STATES) {
		free(state);
		return false;
	}
	m->st[m->n] = state;
	m->len[m->n++] = len;
	m->cur = m->n - 1;
	if (m->levels > 0 && m->n - 1 > m->levels)
		undo_model_drop_oldest(m);
	return true;
}

/* false: nothing to undo. */
static inline bool undo_model_undo(struct undo_model *m)
{
	if (m->cleared) {
		m->cleared = false;
		m->clear_redo = true;
		return true;
	}
	if (m->cur == 0)
		return false;
	m->cur--;
	return true;
}

/* false: nothing to redo. */
static inline bool undo_model_redo(struct undo_model *m)
{
	if (m->cleared)
		return false;
	if (m->cur + 1 < m->n) {
		m->cur++;
		return true;
	}
	if (m->clear_redo) {
		m->cleared = true;
		m->clear_redo = false;
		return true;
	}
	return false;
}

/* A clear: the redo levels go, the clip is hidden until an undo. */
static inline void undo_model_clear(struct undo_model *m)
{
	if (m->cleared)
		return;
	undo_model_cut(m);
	m->cleared = true;
	m->clear_redo = false;
}

static inline void undo_model_free(struct undo_model *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->st[i]);
	m->n = m->cur = 0;
}

#endif
