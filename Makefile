# phenoscope — one Makefile for the binary, its tests, benchmarks and set-up.
#
#   make            build ./phenoscope
#   make run        install missing Debian packages, build, create the demo store if absent, open the TUI
#   make test       the same set-up, then every test (unit, gradient checks, fixtures, end-to-end)
#   make parity     regenerate the PyTorch reference fixtures live and compare (needs python3-torch)
#   make bench      speed and memory against the reference, measured in the same run
#   make asan|tsan  sanitizer builds of the binary and tests (in build/asan, build/tsan)
#   make SANITIZE=thread BUILD=build/tsan test-tsan   the threaded tests (TSAN_TESTS) under TSan
#   make hooks      build/phenoscope-hooks: kill points and fault injection (store/testhooks.h)
#   make fuzz       each libFuzzer harness tests/fuzz_*.c for FUZZ_SECONDS (300); fuzz-ci: 60 s
#   make MPI=0      the plain single-process binary even where mpicc exists (engine/dist.h)
#   make install    PREFIX=/usr/local by default; installs the binary and the man page
#
# Sources are found by wildcard: a module is a .c/.h pair in store/, engine/ or ui/;
# a test is tests/test_<name>.c (cmocka) or tests/e2e_<name>.sh.

VERSION   := 0.1.0
PREFIX    ?= /usr/local
BUILD     ?= build
CC        ?= cc
CFLAGS    ?= -O2 -g
WERROR    ?= 0
SANITIZE  ?=
# V=1 shows whole compiler command lines.
Q = $(if $(V),,@printf '  CC  %s\n' $@ && )

# Debian packages: what the build and tests need, and what parity / terminal tests use.
DEB_BUILD := build-essential pkg-config libncurses-dev libsqlite3-dev sqlite3 libopenblas-dev \
             openmpi-bin libopenmpi-dev \
             libjpeg62-turbo-dev libsixel-dev libsixel-bin libchafa-dev zlib1g-dev libyaml-dev \
             libcmocka-dev libglib2.0-dev tmux
DEB_EXTRA := strace python3-torch python3-torchvision python3-sklearn python3-numpy xvfb xterm \
             imagemagick xdotool
# tests/e2e_srun.sh: a private Slurm cluster (auth/none; munge comes as a dependency, unused)
DEB_EXTRA += slurmd slurmctld slurm-client
PKGS      := ncursesw sqlite3 openblas libjpeg libsixel chafa zlib yaml-0.1

WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wundef -Wwrite-strings -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ifeq ($(strip $(PKG_LIBS)),)
PKG_LIBS   := -lncursesw -lsqlite3 -lopenblas -ljpeg -lsixel -lchafa -lglib-2.0 -lz -lyaml
endif

SANFLAGS :=
ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
ifneq ($(findstring thread,$(SANITIZE)),)
SANFLAGS += -DPS_TSAN=1
endif
endif

# MPI (data-parallel training, engine/dist.c): built in when mpicc exists, unless MPI=0.
# Only dist.c includes mpi.h; everything links Open MPI's library.
MPI ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
MPI_CFLAGS :=
MPI_LIBS   :=
ifeq ($(MPI),1)
MPI_CFLAGS := -DPS_MPI $(shell mpicc --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell mpicc --showme:link 2>/dev/null)
endif

ALL_CFLAGS := $(WARN) -D_GNU_SOURCE -DPS_VERSION=\"$(VERSION)\" -I. -I$(BUILD)/gen $(PKG_CFLAGS) \
              $(CFLAGS) $(SANFLAGS) -MMD -MP -pthread
# The numerical kernels are worth the host's vector units; never -ffast-math (NaN checks).
ENGINE_CFLAGS := -O3 -march=native
LDLIBS := $(PKG_LIBS) $(MPI_LIBS) -lm -pthread

STORE_SRC  := $(sort $(wildcard store/*.c))
ENGINE_SRC := $(sort $(wildcard engine/*.c))
UI_SRC     := $(filter-out ui/main.c,$(sort $(wildcard ui/*.c)))
ASSETS     := $(sort $(wildcard assets/*))
GEN_SRC    := $(BUILD)/gen/assets_data.c

LIB_OBJ := $(STORE_SRC:%.c=$(BUILD)/obj/%.o) $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o) \
           $(UI_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/assets_data.o
LIB     := $(BUILD)/libphenoscope.a
BIN     := phenoscope
ifneq ($(BUILD),build)
BIN     := $(BUILD)/phenoscope
endif

TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_BINS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard tests/bench_*.c))
BENCH_BINS := $(BENCH_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRC  := $(sort $(wildcard tests/fuzz_*.c))

.PHONY: all deps run test test-unit test-e2e test-long parity bench asan tsan install uninstall \
        clean demo-store check-data fuzz fuzz-ci test-tsan hooks

all: $(BIN)

$(BIN): $(BUILD)/obj/ui/main.o $(LIB)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/obj/engine/%.o: engine/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ENGINE_CFLAGS) -c -o $@ $<

# dist.c alone sees mpi.h; its object depends on the MPI choice (build/obj/.mpi-<0|1>)
$(BUILD)/obj/engine/dist.o: engine/dist.c $(BUILD)/obj/.mpi-$(MPI)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(MPI_CFLAGS) -c -o $@ $<

$(BUILD)/obj/.mpi-$(MPI):
	@mkdir -p $(dir $@)
	@rm -f $(BUILD)/obj/.mpi-*
	@touch $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Shipped data files become C byte arrays, so the binary carries its assets.
$(GEN_SRC): $(ASSETS) tests/gen_assets.sh
	@mkdir -p $(dir $@)
	sh tests/gen_assets.sh $(ASSETS) > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/%: tests/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(LIB) $(LDLIBS) -lcmocka

# ---- test hooks: kill points and fault injection, never in the release binary ------------
# Sources that include store/testhooks.h are compiled a second time with -DPS_TEST_HOOKS into
# obj-hooks/; everything else is shared with the release build. The result is a library and a
# binary (phenoscope-hooks) for the kill and fault tests; tests/test_hooks_*.c link it.
HOOKED_SRC := $(shell grep -l 'store/testhooks.h' $(STORE_SRC) $(ENGINE_SRC) $(UI_SRC) ui/main.c 2>/dev/null)
HOOKS_OBJ  := $(foreach o,$(LIB_OBJ),$(if $(filter $(patsubst $(BUILD)/obj/%.o,%.c,$(o)),$(HOOKED_SRC)),$(patsubst $(BUILD)/obj/%,$(BUILD)/obj-hooks/%,$(o)),$(o)))
HOOKS_LIB  := $(BUILD)/libphenoscope-hooks.a
HOOKS_BIN  := $(BUILD)/phenoscope-hooks
HOOK_TEST_SRC  := $(sort $(wildcard tests/test_hooks_*.c))
HOOK_TEST_BINS := $(HOOK_TEST_SRC:tests/%.c=$(BUILD)/tests/%)

hooks: $(HOOKS_BIN)

$(HOOKS_BIN): $(BUILD)/obj-hooks/ui/main.o $(HOOKS_LIB)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(HOOKS_LIB): $(HOOKS_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/obj-hooks/engine/%.o: engine/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ENGINE_CFLAGS) -DPS_TEST_HOOKS -c -o $@ $<

$(BUILD)/obj-hooks/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -DPS_TEST_HOOKS -c -o $@ $<

$(HOOK_TEST_BINS): $(BUILD)/tests/%: tests/%.c $(HOOKS_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -DPS_TEST_HOOKS -Itests -o $@ $< $(HOOKS_LIB) $(LDLIBS) -lcmocka

# ---- fuzzing (clang + libFuzzer + ASan/UBSan) ----------------------------------------------
# make fuzz: each tests/fuzz_<target>.c for FUZZ_SECONDS (default 300) from the committed seeds
# in tests/fuzz/corpus/<target>/ (new inputs go to build/fuzz/corpus/<target>/, crashers to
# build/fuzz/crash/<target>/). make fuzz-ci: the same for FUZZ_CI_SECONDS (60) each.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FUZZ_CI_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_LIB_SRC := store/csv.c store/jpeg.c store/sanitize.c store/ps.c engine/safetensors.c \
                engine/params.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_TARGETS := $(FUZZ_SRC:tests/fuzz_%.c=%)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

.SECONDARY: $(FUZZ_LIB_OBJ)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(WARN) -D_GNU_SOURCE -I. $(PKG_CFLAGS) $(FUZZ_FLAGS) \
	    -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz_%.c $(FUZZ_LIB_OBJ)
	$(Q)$(FUZZ_CC) $(WARN) -D_GNU_SOURCE -I. -Itests $(PKG_CFLAGS) $(FUZZ_FLAGS) \
	    -fsanitize=fuzzer -MMD -MP -o $@ $(filter %.c %.o,$^) $(PKG_LIBS) -lm -pthread

fuzz:
	@sh tests/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci:
	@sh tests/fuzz.sh $(FUZZ_CI_SECONDS) $(FUZZ_TARGETS)

# ---- set-up -------------------------------------------------------------------------------
deps:
	@sh tests/deps.sh $(DEB_BUILD) -- $(DEB_EXTRA)

run: deps $(BIN)
	./$(BIN) demo --if-absent
	./$(BIN)

# ---- tests --------------------------------------------------------------------------------
test: deps $(BIN) $(HOOKS_BIN) $(TEST_BINS)
	@sh tests/run.sh $(BUILD) $(TEST_BINS)

test-long: deps $(BIN) $(HOOKS_BIN) $(TEST_BINS)
	@PS_TEST_LONG=1 sh tests/run.sh $(BUILD) $(TEST_BINS)

# The threaded tests under ThreadSanitizer, OpenBLAS on one thread (its own pthreads are not
# instrumented). Suppressions, each with its reason, are in tests/tsan.supp.
TSAN_TESTS ?= test_demo test_import_mimic test_import_cxr test_worker test_screens_threads
test-tsan: $(BIN) $(TSAN_TESTS:%=$(BUILD)/tests/%)
	@PS_NO_E2E=1 OPENBLAS_NUM_THREADS=1 \
	    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    sh tests/run.sh $(BUILD) $(TSAN_TESTS:%=$(BUILD)/tests/%)

parity: deps $(BIN) $(TEST_BINS)
	@sh tests/parity.sh $(BUILD)

# tests/bench_mpi.sh (run by bench.sh) times the all-reduce alone with this program under mpirun
MPI_BENCH := $(if $(filter 1,$(MPI)),$(BUILD)/tests/mpi_allreduce)

bench: deps $(BIN) $(BENCH_BINS) $(MPI_BENCH)
	@sh tests/bench.sh $(BUILD) $(BENCH_BINS)

asan:
	$(MAKE) BUILD=build/asan SANITIZE=address,undefined CFLAGS="-O1 -g" test

tsan:
	$(MAKE) BUILD=build/tsan SANITIZE=thread CFLAGS="-O1 -g" test

# ---- install ------------------------------------------------------------------------------
install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/phenoscope
	install -m 0644 man/phenoscope.1 $(DESTDIR)$(PREFIX)/share/man/man1/phenoscope.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/phenoscope $(DESTDIR)$(PREFIX)/share/man/man1/phenoscope.1

clean:
	rm -rf build phenoscope

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/ui/main.d
-include $(HOOKS_OBJ:.o=.d) $(BUILD)/obj-hooks/ui/main.d
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_BINS:=.d)
