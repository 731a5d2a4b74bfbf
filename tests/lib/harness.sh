# shellcheck shell=sh
# harness.sh -- the one harness of the shell tests (scripts/test-alsa,
# test-sessions, test-board, tests/vm/*.sh): sourced, not run. POSIX sh, so
# that dash, bash and busybox sh all take it.
#
# One output style for every test script and Python checker:
#   ok   NAME            a check that passed
#   FAIL NAME            a check that failed (then the tail of its log, "     | ")
#   skip NAME            a check that could not run here (counted as neither)
#   info TEXT            a figure or a note, never an assertion
# and the last line "N passed, N failed" (scripts/check, run-tests and
# test-virtual-board collect it; scripts/check flags "^FAIL ").
#
# And running the real gridloop on alsa-lib's file plugin (no sound card, not
# paced): pcm_conf, gl_run, clean_run. Every input is an argument; the only
# state kept here is the two counters. Paths are relative to the tree's root:
# the scripts cd there before they source this file.

h_passed=0
h_failed=0

# stat_field KEY FILE: the number after KEY in the last of FILE's lines
# that have it ("-": standard input), e.g. stat_field xruns gl.log on
# gridloop's "statistics: ... xruns 3; ..." lines; nothing when none has.
stat_field() { grep -o "$1 [0-9.]*" "$2" 2>/dev/null | tail -n 1 | awk '{ print $NF }'; }

# ok NAME: one check passed.
ok() {
	echo "ok   $*"
	h_passed=$((h_passed + 1))
}

# bad NAME [LOG]: one check failed; the last 20 lines of LOG show why.
bad() {
	echo "FAIL $1"
	if [ -n "${2:-}" ] && [ -f "$2" ]; then sed 's/^/     | /' "$2" | tail -n 20; fi
	h_failed=$((h_failed + 1))
}

# skip NAME: a check that cannot run here; neither passed nor failed.
skip() { echo "skip $*"; }

# info TEXT: a figure, not a check.
info() { echo "info $*"; }

# check NAME COMMAND...: one check, passed when COMMAND succeeds.
check() {
	_h_name=$1
	shift
	if "$@"; then ok "$_h_name"; else bad "$_h_name"; fi
}

# tally FILE: counts the "ok   " and "FAIL " lines that a checker (a Python
# one: tests/lib/checks.py) wrote into FILE, as checks of this script; FILE
# is shown as it is. Returns 1 (and counts one failure) when FILE has no
# check at all: a checker that died says nothing, and that is no pass.
tally() {
	cat "$1"
	_h_ok=$(grep -c '^ok   ' "$1" || true)
	_h_bad=$(grep -c '^FAIL ' "$1" || true)
	h_passed=$((h_passed + _h_ok))
	h_failed=$((h_failed + _h_bad))
	if [ "$_h_ok" -eq 0 ] && [ "$_h_bad" -eq 0 ]; then
		bad "$1 has no check: the checker said $(tail -n 3 "$1" | tr '\n' ' ')"
		return 1
	fi
}

# summary: the line "N passed, N failed"; returns 0 only when something
# passed and nothing failed.
summary() {
	echo "$h_passed passed, $h_failed failed"
	[ "$h_failed" -eq 0 ] && [ "$h_passed" -gt 0 ]
}

# finish: summary, then exit with its status.
finish() {
	summary
	exit $?
}

# refuse_start NAME WHY: the script cannot run at all (a missing binary, a
# missing tool): one failure, the summary, exit 1.
refuse_start() {
	echo "$1: $2"
	h_failed=$((h_failed + 1))
	finish
}

# ---- gridloop on alsa-lib's file plugin ----------------------------------------

# pcm_conf FILE IN OUT: writes FILE, an ALSA config (tests/alsa/pcm.conf.in)
# whose test_capture reads the raw file IN and whose test_playback writes
# the raw file OUT; prints FILE.
pcm_conf() {
	sed -e "s|@IN@|$2|" -e "s|@OUT@|$3|" tests/alsa/pcm.conf.in >"$1"
	echo "$1"
}

# gl_run [-t SECS] [-e VAR=VALUE]... [-w WRAPPER] [-x] BIN CONFIG ALSA_CONF LOG [ARGS...]
#   runs BIN -c CONFIG --alsa-config ALSA_CONF -C test_capture -P test_playback
#   ARGS (later ARGS win: -P test_playback_keep), its stdout and stderr in
#   LOG, with the environment VAR=VALUE added (LD_PRELOAD=rtguard.so for the
#   real-time guard, FSFAULT=... for tests/fsfault), under timeout(1) with
#   SECS (default 120; 0: no timeout, so that signals reach gridloop itself),
#   after WRAPPER (words, e.g. "setpriv --bounding-set=-sys_nice"). -x execs
#   it: for `gl_run -x ... &`, where $! must be gridloop's own pid. Returns
#   its exit status (timeout's 124 when it hung).
gl_run() {
	_h_secs=120
	_h_env=
	_h_wrap=
	_h_exec=
	while [ $# -gt 0 ]; do
		case $1 in
		-t) _h_secs=$2 && shift 2 ;;
		-e) _h_env="$_h_env$(printf '%s\n' "$2" | sed "s/'/'\\\\''/g; s/^/'/; s/\$/' /")" && shift 2 ;;
		-w) _h_wrap=$2 && shift 2 ;;
		-x) _h_exec=exec && shift ;;
		*) break ;;
		esac
	done
	if [ $# -lt 4 ]; then
		echo "gl_run: BIN CONFIG ALSA_CONF LOG expected" >&2
		return 2
	fi
	_h_bin=$1
	_h_conf=$2
	_h_alsa=$3
	_h_log=$4
	shift 4
	_h_timeout=
	[ "$_h_secs" = 0 ] || _h_timeout="timeout -k 5 $_h_secs"
	# The environment words were quoted above; the wrapper and timeout are
	# plain words: eval puts them together with ARGS as they are.
	# shellcheck disable=SC2086
	eval "$_h_exec $_h_timeout $_h_wrap env $_h_env"' "$_h_bin" -c "$_h_conf" --alsa-config "$_h_alsa" \
		-C test_capture -P test_playback "$@" >"$_h_log" 2>&1'
}

# clean_run LOG: the run in LOG ended well under the real-time guard (it was
# on, no violation, no xrun, no late script command).
clean_run() {
	grep -q "real-time guard on" "$1" && grep -q "xruns 0;" "$1" &&
		grep -q "late script commands 0;" "$1" && ! grep -q "rtguard" "$1"
}
