/* session_store.h -- the session directory on the SD card's data partition.
 *
 *   DIR/session.json                  the manifest (manifest.h)
 *   DIR/clip-t1-s01-000042.wav        one file per clip: 32-bit float WAV at
 *                                     the session's rate, exactly the audio
 *                                     the engine holds (never a lossy copy)
 *
 * Power-cut safe by construction: a clip file, once written, never changes;
 * new audio goes to a file with a new name (the serial number grows). A save
 * writes the new clip files first (each atomically, atomic_file.h), then the
 * manifest atomically, and only then removes the files the new manifest no
 * longer lists. Killed at any moment, the directory holds the old manifest
 * with all its files or the new one with all of its files; files nobody
 * lists (and temporaries) are swept at the next load.
 */
#ifndef GRIDLOOP_SESSION_STORE_H
#define GRIDLOOP_SESSION_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

#include "session.h"

/* Where a clip's audio goes when it is read a piece at a time: n frames of
 * one channel, from frame `from`. */
typedef void (*session_audio_sink)(void *ctx, int channel, int64_t from, const float *src,
				   int64_t n);

/* As session_store_read_clip() for a session at the rate it is read at,
 * but a piece at a time into sink (the loader's keeper take), never a
 * whole-clip buffer: restoring a long take needs its memory once, not
 * twice. The same checks and channel conversion; no rate conversion. */
int session_store_stream_clip(const char *dir, const struct session *s, int slot,
			      int channels, session_audio_sink sink, void *ctx, char *err,
			      size_t errlen);

/* Before any memory is taken for clip `slot`: its file is opened (never
 * blocking: regular files only, no symlinks) and checked against the
 * manifest (rate, channels and frames: the file's real length, so a
 * manifest whose `frames` lies is caught here), and the memory to read it
 * at `rate` as `channels` must be available
 * (os/sysmem.h: MemAvailable and the cgroup's room). 0, or -1 with a message naming the
 * file (and the MB needed and available). */
int session_store_check_clip(const char *dir, const struct session *s, int slot,
			     uint32_t rate, int channels, char *err, size_t errlen);

/* When the data lives on its own partition (mounted at mount_point), a
 * card that did not mount leaves an empty directory there, on the root
 * filesystem: writing into it would put the session where the card is not.
 * 0 when mount_point is a mount point (another device than its parent's),
 * -1 with a message otherwise. */
int session_store_check_mount(const char *mount_point, char *err, size_t errlen);

/* A session that cannot be used as it is (corrupt, from a newer gridloop,
 * at another rate, found on a card that was not there at start) is renamed
 * DIR.WHY-<time>, never overwritten: the musician's audio stays on the card.
 * When DIR cannot be renamed (a mount point: EBUSY) its manifest and clip
 * files are moved into a new folder DIR/WHY-<time> instead. The new place
 * goes to aside. 0, or -1 (the message is logged): then nothing was moved
 * and the caller must not save into DIR (its first save would remove the
 * old clips). */
int session_store_set_aside(const char *dir, const char *why, char *aside, size_t len);
/* The two halves of it, for a mark that must be on the card before the
 * move (a rate conversion's, main.c): the name DIR would get now (0, or -1
 * when it does not fit in len), then the move to it (0 or -1 as above;
 * aside becomes DIR/WHY-<time> when DIR could not be renamed). */
int session_store_aside_name(const char *dir, const char *why, char *aside, size_t len);
int session_store_set_aside_as(const char *dir, char *aside, size_t len);

/* A path as one name for one place, in place: "a//b/./c/" is "a/b/c"
 * (so that a rename of it works, and two spellings of one directory are
 * one); "" stays "", "/" stays "/", "./" is ".". ".." is kept (it cannot
 * be resolved without the file system). */
void session_store_clean_path(char *path);

/* Creates DIR (and its parent) if missing. 0 or -errno (message in err). */
int session_store_prepare(const char *dir, char *err, size_t errlen);

/* Writes clip `slot` of s (its audio must be set) as a new file with a name
 * not used in dir before (serial taken from and advanced in *serial), and
 * puts that name in the clip's `file`. The manifest is not touched: the
 * file is not part of the session until session_store_commit(). 0 or
 * -errno (message in err). */
int session_store_write_clip(const char *dir, struct session *s, int slot,
			     uint64_t *serial, char *err, size_t errlen);

/* Where a clip's audio comes from when it is not in memory (the SD writer
 * copies it out of the keeper's memory a piece at a time, so that saving a
 * long take never needs a second take's worth of RAM): fills dst with n
 * frames of one channel from frame `from`, returns the frames given. */
typedef int64_t (*session_audio_source)(void *ctx, int channel, int64_t from, float *dst,
					int64_t n);

/* As session_store_write_clip(), the clip's frames and channels set but its
 * audio read from src. A source that gives less than asked (the audio went
 * away meanwhile) ends it with -EAGAIN and no file. */
int session_store_write_clip_from(const char *dir, struct session *s, int slot,
				  session_audio_source src, void *ctx, uint64_t *serial,
				  char *err, size_t errlen);

/* Writes s's manifest atomically, then removes clip files it does not list.
 * Every present clip must name a file already in dir. 0 or -errno. */
int session_store_commit(const char *dir, const struct session *s, char *err,
			 size_t errlen);

/* Reads the manifest of dir into s (no audio): 0; 1 when dir holds no
 * session yet (a fresh card: not an error); -1 on a missing directory, a
 * corrupt manifest or one from a newer gridloop (message in err). Also
 * sweeps temporaries and files no manifest lists. *serial is set past the
 * highest serial in use. */
int session_store_load(const char *dir, struct session *s, uint64_t *serial, char *err,
		       size_t errlen);

/* Reads clip `slot`'s file into its audio (malloc'ed, per channel),
 * converted to `rate` (libsamplerate, best quality) when the session was
 * saved at another rate, and to `channels` (mono to both sides, stereo to
 * their average). Sets the clip's frames to the converted length. A file
 * that is missing, unreadable, of the wrong rate, channels or length is
 * refused with a message naming it: 0 or -1. */
int session_store_read_clip(const char *dir, struct session *s, int slot, uint32_t rate,
			    int channels, char *err, size_t errlen);

/* A file that belongs to DIR but is no part of its session: beside it,
 * PARENT/.NAME<suffix>, so that it stays when DIR is set aside (inside DIR
 * for a DIR with no name of its own, "/" or "."). 0, or -1 when it does not
 * fit in len. */
int session_store_beside(const char *dir, const char *suffix, char *out, size_t len);

/* The lock that says one gridloop owns DIR: flock on a lock file beside it
 * (".NAME.lock" in DIR's parent), held for as long as the returned fd is
 * open. A running gridloop holds it exclusively (and writes its pid in
 * it); `gridloop export` without one holds it shared, so that a gridloop
 * started meanwhile does not tidy up under it, and several exports can
 * run. Never blocks. The fd (>= 0); -1 when another holds it (*holder: the
 * pid written in the file, or 0); -2 when it cannot be made (DIR's parent
 * missing: no card; message in err for both). */
int session_store_lock(const char *dir, bool shared, pid_t *holder, char *err,
		       size_t errlen);

/* Like session_store_load(), but touches nothing: no sweep of temporaries
 * or of unlisted files (they may be a running gridloop's save in
 * progress). For readers that do not hold the lock exclusively (export). */
int session_store_read(const char *dir, struct session *s, char *err, size_t errlen);

#endif
