# gridloop build. Plain make, no generated files.
#
#   make            the program and the test binaries (native, build/native)
#   make check      every test: unit tests plain, under ASan+UBSan, the threaded
#                   ones under TSan, arm64 cross build under qemu-user, the real
#                   binary on alsa-lib's file plugin, the virtual board, and
#                   every fuzz target briefly
#   make demo       the scripted looping set, rendered to a WAV file
#   make bench      benchmarks that print figures (never timed assertions)
#   make install    the program and the controller profiles (DESTDIR, PREFIX,
#                   PROFILE_DIR)
#   make deb        the Debian package for the Pi (arm64; DEB_ARCH=amd64 for a PC),
#                   build/deb/gridloop_<version>_<arch>.deb (scripts/build-deb)
#
# Every firmware/*.c except main.c is linked into the tests, so a new module
# needs no Makefile change. Variants live side by side under build/<variant>.

O        ?= build/native
CC       ?= cc
SAN      ?=
OPT      ?= -O2
PKGS     := alsa inih sndfile libsystemd libcjson samplerate
PREFIX      ?= /usr
PROFILE_DIR ?= $(PREFIX)/share/gridloop/profiles
CFLAGS   := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -Wshadow \
            -Wstrict-prototypes -Wmissing-prototypes -pthread -Ifirmware $(SAN) \
            -DGRIDLOOP_PROFILE_DIR='"$(PROFILE_DIR)"' \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDFLAGS  := -pthread $(SAN) $(EXTRA_LDFLAGS)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

FW_SRC    := $(filter-out firmware/main.c,$(wildcard firmware/*.c))
FW_OBJ    := $(FW_SRC:%.c=$(O)/%.o)
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(O)/tests/%)
TOOL_SRC  := $(wildcard tests/tools/*.c)
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(O)/tools/%)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(O)/bench/%)

# Keep object files of test and tool binaries between runs.
.SECONDARY:

.PHONY: all setup program tests tools benches check check-unit check-asan \
        check-tsan check-arm64 check-alsa check-vm check-fuzz demo bench format lint clean \
        install

all: setup
	@$(MAKE) --no-print-directory program tests tools benches

setup:
	@scripts/setup-host

program: $(O)/gridloop
tests: $(TEST_BIN) $(O)/rtguard.so $(O)/fsfault.so
tools: $(TOOL_BIN)
benches: $(BENCH_BIN)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/gridloop: $(O)/firmware/main.o $(FW_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/%: $(O)/tests/%.o $(FW_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

$(O)/tools/%: $(O)/tests/tools/%.o $(FW_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/bench/%: $(O)/tests/bench/%.o $(FW_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The real-time guard is preloaded into test processes: no sanitizer inside
# it (it interposes malloc, which the sanitizers also own).
$(O)/rtguard.so: tests/rtguard/rtguard.c tests/rtguard/rtguard.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -fPIC -shared \
	    -pthread -o $@ tests/rtguard/rtguard.c -ldl

# The SD card fault shim (tests/fsfault/fsfault.c), preloaded by the tests
# of atomic_file.c and session_store.c into children of their own.
$(O)/fsfault.so: tests/fsfault/fsfault.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -fPIC -shared \
	    -o $@ tests/fsfault/fsfault.c -ldl

# Where the program looks for profiles (GRIDLOOP_PROFILE_DIR) is where they
# are installed; a binary run from the tree falls back to board/profiles.
install: program
	install -D -m 755 $(O)/gridloop $(DESTDIR)$(PREFIX)/bin/gridloop
	install -d $(DESTDIR)$(PROFILE_DIR)
	install -m 644 board/profiles/*.profile $(DESTDIR)$(PROFILE_DIR)/

.PHONY: deb
deb:
	@scripts/build-deb $(or $(DEB_ARCH),arm64)

# ---- checks --------------------------------------------------------------

check: setup
	@scripts/check

check-unit: all
	@scripts/run-tests $(O)

check-asan:
	@$(MAKE) --no-print-directory O=build/asan OPT=-O1 \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" tests
	@ASAN_OPTIONS=detect_leaks=1 scripts/run-tests build/asan

check-tsan:
	@$(MAKE) --no-print-directory O=build/tsan OPT=-O1 CC=clang \
	    SAN="-fsanitize=thread" tests
	@scripts/run-tests build/tsan threaded

check-arm64:
	@scripts/setup-host cross
	@PKG_CONFIG_PATH=/usr/lib/aarch64-linux-gnu/pkgconfig \
	    PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
	    $(MAKE) --no-print-directory O=build/arm64 CC=aarch64-linux-gnu-gcc \
	    program tests
	@scripts/run-tests build/arm64 arm64

# Every libFuzzer target for FUZZ_SECONDS each (default 20), corpus kept in
# build/fuzz/corpus (tests/fuzz/run).
check-fuzz:
	@tests/fuzz/run $(or $(FUZZ_SECONDS),20)

demo: all
	@scripts/demo

bench: all
	@scripts/bench

format:
	clang-format -i firmware/*.c firmware/*.h tests/*.c tests/*/*.c tests/*/*.h

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --std=c11 --inline-suppr -Ifirmware firmware tests

clean:
	rm -rf build out

-include $(shell find $(O) -name '*.d' 2>/dev/null)
