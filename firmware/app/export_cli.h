/* export_cli.h -- `gridloop export`, run from a shell (or over ssh) on the
 * appliance or on any machine the SD card is plugged into.
 *
 * With a gridloop running (it holds the session directory's lock, which
 * names its pid; the pid file only as a fallback), the export is that
 * gridloop's: it gets SIGUSR2, saves what is not saved yet, exports (the
 * controller's LEDs show it), and this command waits for the outcome in
 * EXPORT_DIR/last-export.txt and prints it; exports typed at once take
 * turns (a lock of their own). With none running, this command exports the
 * session saved on the card itself, holding the lock shared and touching
 * nothing else. Options are gridloop's own
 * (--config, --session, --export-dir, --export-format, --pid-file).
 */
#ifndef GRIDLOOP_EXPORT_CLI_H
#define GRIDLOOP_EXPORT_CLI_H

/* argv[0] is "export". Returns the exit status: 0 exported, 1 failed, 2 bad
 * usage. */
int export_cli(int argc, char **argv);

#endif
