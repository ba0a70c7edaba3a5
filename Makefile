# phenoscope — one Makefile for the binary, its tests, benchmarks and set-up.
#
#   make            build ./phenoscope
#   make run        install missing Debian packages, build, create the demo store if absent, open the TUI
#   make test       the same set-up, then every test (unit, gradient checks, fixtures, end-to-end)
#   make parity     regenerate the PyTorch reference fixtures live and compare (needs python3-torch)
#   make bench      speed and memory against the reference, measured in the same run
#   make asan|tsan  sanitizer builds of the binary and tests (in build/asan, build/tsan)
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
             libjpeg62-turbo-dev libsixel-dev libsixel-bin libchafa-dev zlib1g-dev libyaml-dev \
             libcmocka-dev libglib2.0-dev tmux
DEB_EXTRA := python3-torch python3-torchvision python3-sklearn python3-numpy xvfb xterm \
             imagemagick xdotool
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

ALL_CFLAGS := $(WARN) -D_GNU_SOURCE -DPS_VERSION=\"$(VERSION)\" -I. -I$(BUILD)/gen $(PKG_CFLAGS) \
              $(CFLAGS) $(SANFLAGS) -MMD -MP -pthread
# The numerical kernels are worth the host's vector units; never -ffast-math (NaN checks).
ENGINE_CFLAGS := -O3 -march=native
LDLIBS := $(PKG_LIBS) -lm -pthread

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
        clean demo-store check-data fuzz

all: $(BIN)

$(BIN): $(BUILD)/obj/ui/main.o $(LIB)
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/obj/engine/%.o: engine/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ENGINE_CFLAGS) -c -o $@ $<

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

# ---- set-up -------------------------------------------------------------------------------
deps:
	@sh tests/deps.sh $(DEB_BUILD) -- $(DEB_EXTRA)

run: deps $(BIN)
	./$(BIN) demo --if-absent
	./$(BIN)

# ---- tests --------------------------------------------------------------------------------
test: deps $(BIN) $(TEST_BINS)
	@sh tests/run.sh $(BUILD) $(TEST_BINS)

test-long: deps $(BIN) $(TEST_BINS)
	@PS_TEST_LONG=1 sh tests/run.sh $(BUILD) $(TEST_BINS)

parity: deps $(BIN) $(TEST_BINS)
	@sh tests/parity.sh $(BUILD)

bench: deps $(BIN) $(BENCH_BINS)
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
