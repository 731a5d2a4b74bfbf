/* gl_errors.h -- how gridloop's functions say that something went wrong.
 *
 * One convention for the whole program, so that a caller never has to look
 * up which sign or which buffer a function uses:
 *
 *   int, OS work          0, or -errno (thread_start, keeper_start,
 *                         audio_alsa_read, sd_writer_start, ...). A positive
 *                         errno is never returned.
 *   int, with a message   0, or a negative value (-1, or -errno where the
 *                         cause is an OS call) with a one-line message
 *                         "where: what" written to the caller's buffer
 *                         (options_parse, script_parse_buffer,
 *                         atomic_file_write, session_store_commit, ...).
 *   const char *          NULL, or the message (profile_parse: written to
 *                         err and returned).
 *   const char **why      a constructor's static reason, never freed
 *                         (engine_create, keeper_create): NULL on success.
 *   bool                  a yes/no question (audio_alsa_is_xrun,
 *                         spsc_push: true = done), never an error code.
 *   pointer               NULL on failure (out of memory, or as the
 *                         function's contract says).
 *
 * The message buffer is always the pair (char *err, size_t errlen): the
 * function writes at most errlen bytes, NUL included, and names what was
 * wrong with where it came from (FILE:LINE, [section] key, the allowed
 * range). Enum results (options_result, audio_ending) say more than
 * success or failure and document their own values.
 *
 * A count, slot or index says what a negative means (keeper_service,
 * profile_load_dir, atomic_file_sweep); a few functions have three
 * outcomes and name them (session_store_lock, session_store_load,
 * options_check_memory); supervisor_run and export_cli give exit statuses.
 *
 * Each public function's comment in its header states which of these it
 * follows, including its error return. docs/design.md, "Errors".
 */
#ifndef GRIDLOOP_GL_ERRORS_H
#define GRIDLOOP_GL_ERRORS_H
#endif
