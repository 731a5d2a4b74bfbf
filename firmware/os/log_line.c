/* log_line.c -- the program's log lines (log_line.h). */
#include "log_line.h"

#include <stdarg.h>
#include <stdio.h>

void log_line(const char *fmt, ...)
{
	/* One fprintf per line: lines from two threads never interleave. */
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "gridloop: %s\n", line);
}
