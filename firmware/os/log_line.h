/* log_line.h -- one line of the program's log: "gridloop: ..." on stderr
 * (the journal under systemd). For the threads that may wait (supervisor,
 * SD writer); the real-time thread never logs. */
#ifndef GRIDLOOP_LOG_LINE_H
#define GRIDLOOP_LOG_LINE_H

void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
