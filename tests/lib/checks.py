"""checks.py -- the result lines of the Python checkers, in the one style of
the shell harness (tests/lib/harness.sh, whose `tally` counts them):
"ok   WHAT", "FAIL WHAT (why)", "info TEXT". Standard library only."""


def line(cond, what, detail=""):
    """The result line of one check: passed when `cond`; `detail` says why
    it failed (not shown when it passed)."""
    return ("ok   " if cond else "FAIL ") + what + ("" if cond or not detail else " (%s)" % detail)


def info(text):
    """A figure or a note, never a check."""
    return "info " + text


class Checks:
    """Result lines collected in order (printed by the caller)."""

    def __init__(self):
        self.lines = []

    def check(self, cond, what, detail=""):
        self.lines.append(line(cond, what, detail))
        return cond

    def info(self, what):
        self.lines.append(info(what))

    def passed(self):
        return all(not x.startswith("FAIL ") for x in self.lines)
