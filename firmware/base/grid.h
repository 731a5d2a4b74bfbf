/* grid.h -- the clip grid's shape and how launches snap to the beat grid:
 * the few facts every layer shares (the engine, the MIDI layer, the SD card)
 * without the engine's commands and events (engine.h).
 */
#ifndef GRIDLOOP_GRID_H
#define GRIDLOOP_GRID_H

#define GL_TRACKS    8
#define GL_SCENES    10
#define GL_SLOTS     (GL_TRACKS * GL_SCENES)
#define GL_MAX_IN_CH 32 /* input channels of the audio interface */
#define GL_OUT_CH    2	/* the engine's output is always stereo */

/* Where a launch lands: at once, at the next beat, at the next bar. */
enum quantise { QUANTISE_OFF, QUANTISE_BEAT, QUANTISE_BAR };

#endif
