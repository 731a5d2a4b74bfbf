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
#   make image      the SD-card image of the appliance (arm64, Debian 12):
#                   build/image/gridloop-arm64.img (scripts/build-image; root)
#   make check-board  that image booted under qemu-system-aarch64 with systemd
#                   as PID 1: the service, watchdog, hardening, a stand-in
#                   controller's LEDs, replugs, an 80-clip session, power cuts
#                   (scripts/test-image; ~12-20 min, not part of make check)
#   make deb        the Debian package for the Pi (arm64; DEB_ARCH=amd64 for a PC),
#                   build/deb/gridloop_<version>_<arch>.deb (scripts/build-deb)
#
# The program is built in layers, one folder and one static archive each,
# bottom up; a layer uses only the layers before it:
#
#   base    pure: the SPSC queue, the clip grid, the one table of limits
#   engine  pure: the looper, fed one period at a time (no ALSA, files,
#           threads or allocation after engine_create)
#   midi    pure: controller profiles (text in), the controller, MIDI clock,
#           the set of controllers, scripts, OSC messages (text and bytes
#           in, commands and bytes out)
#   os      the OS boundaries: ALSA PCM and sequencer, the audio thread, the
#           keeper (clip memory), threads, wake-ups, logging (alsa-lib,
#           libsystemd)
#   sd      the SD card: sessions, manifest, SD writer, restore, export, the
#           performance recorder (libsndfile, cJSON, libsamplerate)
#   app     the program: options, the supervisor, export CLI; main.c apart
#
# A new .c (or .cpp: only the os layer has one, link.cpp) in a layer's folder
# needs no Makefile change. The pure layers are
# checked by `make check-purity` (part of make check): their archives may not
# need any symbol of alsa-lib, libsndfile, libsystemd, cJSON, libsamplerate,
# nor a file, thread, sleep or memory-mapping call (scripts/check-purity),
# and their tests link only the pure archives. Variants live side by side
# under build/<variant>.

O        ?= build/native
CC       ?= cc
AR       ?= ar
SAN      ?=
OPT      ?= -O2
PKGS     := alsa inih sndfile libsystemd libcjson samplerate
# The one C++ file (firmware/os/link.cpp: Ableton Link, header-only, from
# ableton-link-dev + libasio-dev) is compiled by the C compiler's C++ twin.
# LINK=no (or no ableton/Link.hpp for this compiler) builds it without
# Link: the program then refuses [sync] link = yes with a clear message.
CXX      := $(if $(filter clang,$(CC)),clang++,$(if $(filter %-gcc,$(CC)),$(CC:%-gcc=%-g++),g++))
LINK     ?= $(if $(shell echo '\#include <ableton/Link.hpp>' | $(CXX) -std=c++14 -DLINK_PLATFORM_LINUX=1 -E -x c++ - >/dev/null 2>&1 && echo y),yes,no)
LINK_FLAGS := $(if $(filter yes,$(LINK)),-DLINK_PLATFORM_LINUX=1,-DGRIDLOOP_NO_LINK)
PREFIX      ?= /usr
PROFILE_DIR ?= $(PREFIX)/share/gridloop/profiles
LAYERS   := base engine midi os sd app
PURE     := base engine midi
CFLAGS   := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -Wshadow \
            -Wstrict-prototypes -Wmissing-prototypes -pthread \
            $(LAYERS:%=-Ifirmware/%) $(SAN) \
            -DGRIDLOOP_PROFILE_DIR='"$(PROFILE_DIR)"' \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
LDFLAGS  := -pthread $(SAN) $(EXTRA_LDFLAGS)
CXXFLAGS := -std=c++14 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -pthread \
            -Ifirmware/os $(SAN) $(LINK_FLAGS) $(EXTRA_CFLAGS)
OS_LIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lstdc++ -latomic
PURE_LIBS := -lm

layer_obj = $(patsubst %.c,$(O)/%.o,$(filter-out firmware/app/main.c,$(wildcard firmware/$(1)/*.c))) \
            $(patsubst %.cpp,$(O)/%.o,$(wildcard firmware/$(1)/*.cpp))
layer_lib = $(O)/lib/libgl_$(1).a
# Archives in link order: each layer before the ones it uses.
ALL_LIBS  := $(foreach l,app sd os midi engine base,$(call layer_lib,$(l)))
PURE_ARCH := $(foreach l,midi engine base,$(call layer_lib,$(l)))

# The tests of the pure layers: linked with the pure archives only, plus the
# pieces of the os layer that the tests feed them with (the keeper hands
# the engine memory, from a thread of its own; rt_mark brackets the
# real-time sections for the guard; profiles and scripts are read from
# files, and the script feeder's thread fills the engine's queue),
# which need nothing but libc: no library of the program (OS_LIBS) is on
# their link line.
PURE_TESTS := test_controller test_engine test_clip_store test_midi_clock \
              test_midi_hub test_profile test_script test_spsc test_spsc_mt \
              test_engine_mt test_osc test_link_sync test_rephase
RIG_OBJ    := $(addprefix $(O)/firmware/os/,keeper.o rt_mark.o thread.o wake.o profile_files.o \
                script_feeder.o)

TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(O)/tests/%)
TOOL_SRC  := $(wildcard tests/tools/*.c)
TOOL_BIN  := $(TOOL_SRC:tests/tools/%.c=$(O)/tools/%)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(O)/bench/%)

# Keep object files of test and tool binaries between runs.
.SECONDARY:

.PHONY: all setup program libs tests tools benches soak check check-unit check-asan \
        check-tsan check-arm64 check-alsa check-vm check-purity check-fuzz demo image check-board \
        bench format lint clean install

all: setup
	@$(MAKE) --no-print-directory program tests tools benches

setup:
	@scripts/setup-host

program: $(O)/gridloop
libs: $(ALL_LIBS)
tests: $(TEST_BIN) $(O)/rtguard.so $(O)/fsfault.so
tools: $(TOOL_BIN)
benches: $(BENCH_BIN)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

# What each archive is made of: every .c of its folder.
$(foreach l,$(LAYERS),$(eval $(call layer_lib,$(l)): $(call layer_obj,$(l))))
$(O)/lib/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/gridloop: $(O)/firmware/app/main.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(OS_LIBS)

$(PURE_TESTS:%=$(O)/tests/%): $(O)/tests/%: $(O)/tests/%.o $(RIG_OBJ) $(PURE_ARCH)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(PURE_LIBS)

$(O)/tests/%: $(O)/tests/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(OS_LIBS)

$(O)/tools/%: $(O)/tests/tools/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(OS_LIBS)

$(O)/bench/%: $(O)/tests/bench/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(OS_LIBS)

# The pure layers stay pure: see scripts/check-purity.
check-purity: $(foreach l,$(PURE),$(call layer_lib,$(l))) $(PURE_TESTS:%=$(O)/tests/%)
	@scripts/check-purity $(foreach l,$(PURE),$(call layer_lib,$(l))) -- $(PURE_TESTS:%=$(O)/tests/%)

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

image:
	@scripts/build-image

# ---- checks --------------------------------------------------------------

# The image booted (slow: TCG emulation of an arm64 board): CI runs it
# after make check.
check-board:
	@scripts/test-image

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
	    $(MAKE) --no-print-directory O=build/arm64 CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar \
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

# A long run on the virtual board, its dropouts counted (not in check).
MINUTES ?= 10
soak: all
	@scripts/setup-host vm
	@scripts/soak-vb $(MINUTES)

format:
	clang-format -i firmware/*/*.c firmware/*/*.h tests/*.c tests/*/*.c tests/*/*.h

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --std=c11 --inline-suppr $(LAYERS:%=-Ifirmware/%) firmware tests

clean:
	rm -rf build out

-include $(shell find $(O) -name '*.d' 2>/dev/null)
