# ismfs — Makefile
#
# ---- configuration ---------------------------------------------------------
# CC         C compiler (C17).
# CFLAGS     optimisation/debug flags for the release build (the warnings below are always on).
# PREFIX     install prefix for `make install`.
# SAN        sanitizers of the test build (`make check`, `make asan`).
# NODEPS=1   skip scripts/deps.sh (packages are already installed).
# BUILD      where objects and test binaries go.
# V=1        print the full compiler command lines.
CC      ?= cc
CFLAGS  ?= -O2 -g
PREFIX  ?= /usr/local
SAN     ?= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# -----------------------------------------------------------------------------

Q       := $(if $(V),,@)
WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Werror
STD     := -std=c17 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
PKGS    := fuse3 libxml-2.0 libcrypto jansson
PKGCF    = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKGLIBS  = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -llmdb
XMLCF    = $(shell pkg-config --cflags libxml-2.0 2>/dev/null)
XMLLIBS  = $(shell pkg-config --libs libxml-2.0 2>/dev/null)
ALL_CFLAGS = $(STD) $(WARN) $(PKGCF) -I. -MMD -MP

PACK_SRC  := $(wildcard pack/*.c)
CRYPT_SRC := $(wildcard crypt/*.c)
INDEX_SRC := $(wildcard index/*.c)
FS_SRC    := $(wildcard fs/*.c)
LIB_SRC   := $(PACK_SRC) $(CRYPT_SRC) $(INDEX_SRC)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)

BUILD ?= build
REL  := $(BUILD)/rel
ASAN := $(BUILD)/asan

.PHONY: all check check-long test unit asan bench deps fixtures clean install
all: ismfs

deps:
	@[ -n "$(NODEPS)" ] || scripts/deps.sh

ismfs: $(REL)/ismfs
	@cp $< $@

$(REL)/ismfs: $(patsubst %.c,$(REL)/%.o,$(FS_SRC) $(LIB_SRC))
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKGLIBS)

$(REL)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# ---- test build: everything with ASan+UBSan -------------------------------
TCFLAGS := -O1 -g $(SAN)

$(ASAN)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC asan $<"
	$(Q)$(CC) $(TCFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(ASAN)/ismfs: $(patsubst %.c,$(ASAN)/%.o,$(FS_SRC) $(LIB_SRC))
	@echo "  LD asan $@"
	$(Q)$(CC) $(TCFLAGS) -o $@ $^ $(PKGLIBS)

# A unit test tests/unit/test_<module>_<file>.c includes <module>/<file>.c (to
# reach its statics) and links the rest of its module only, plus what that
# module may depend on: pack/ links neither libfuse, LMDB nor OpenSSL.
mod_of   = $(word 2,$(subst _, ,$(notdir $(1))))
file_of  = $(patsubst test_$(call mod_of,$(1))_%,%,$(basename $(notdir $(1))))
objs_in  = $(patsubst %.c,$(ASAN)/%.o,$(filter-out $(2) fs/main.c,$(wildcard $(1)/*.c)))
# what each module's tests link besides the rest of the module itself
dep_mods_pack  :=
dep_mods_index :=
dep_mods_crypt := pack
dep_mods_fs    := pack index crypt
libs_pack  := $(XMLLIBS) -lcmocka
libs_index := -llmdb -lcmocka
libs_crypt  = $(XMLLIBS) -lcrypto -lcmocka
libs_fs     = $(PKGLIBS) -lcmocka

define unit_rule
$(ASAN)/tests/$(basename $(notdir $(1))): $(1) \
        $(foreach m,$(call mod_of,$(1)) $(dep_mods_$(call mod_of,$(1))),\
            $(call objs_in,$(m),$(call mod_of,$(1))/$(call file_of,$(1)).c))
	@mkdir -p $$(@D)
	@echo "  LD test $$@"
	$$(Q)$$(CC) $$(TCFLAGS) $$(ALL_CFLAGS) -Itests/unit -o $$@ $$< $$(filter %.o,$$^) $$(libs_$(call mod_of,$(1)))
endef
$(foreach t,$(UNIT_SRC),$(eval $(call unit_rule,$(t))))

UNIT_BINS := $(patsubst tests/unit/%.c,$(ASAN)/tests/%,$(UNIT_SRC))

unit: $(UNIT_BINS)
asan: $(ASAN)/ismfs

fixtures:
	@tests/make-fixtures.sh

# `make check`: install what is missing, build with sanitizers, run every suite.
check: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(UNIT_BINS) $(ASAN)/ismfs $(FUZZ_REPLAY)
	@tests/make-fixtures.sh
	@ISMFS=$(ASAN)/ismfs tests/run.sh $(UNIT_BINS)

test: check

# Slow extras: every entry of every fixture (the 2-hour asset too) read and sized.
check-long: deps
	@$(MAKE) --no-print-directory $(ASAN)/ismfs
	@tests/make-fixtures.sh --long
	@PACKAGE_SIZES_FULL=1 ISMFS=$(ASAN)/ismfs TESTS=package_sizes tests/run.sh

# ---- benchmarks: `make bench` (bench/README.md); never part of `make check` ----
# bench/pack_bench links what ismfs links, less its main().
PACK_BENCH := $(REL)/bench/pack_bench

$(PACK_BENCH): $(REL)/bench/pack_bench.o \
        $(patsubst %.c,$(REL)/%.o,$(filter-out fs/main.c,$(FS_SRC)) $(LIB_SRC))
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(PKGLIBS)

HTTP_PASS  := $(REL)/bench/http_pass

$(HTTP_PASS): $(REL)/bench/http_pass.o
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lpthread

# (the release binary of $(BUILD) itself: ./ismfs may be busy running a mount)
bench: deps $(REL)/ismfs $(PACK_BENCH) $(HTTP_PASS)
	@tests/make-fixtures.sh --long
	@ISMFS=$(REL)/ismfs PACK_BENCH=$(PACK_BENCH) HTTP_PASS=$(HTTP_PASS) bench/run.sh

# ---- fuzzing: `make fuzz` (tests/fuzz/README.md); never part of `make check` ----
# FUZZ_SECONDS  how long `make fuzz` runs each target (default 60)
# FUZZ_TARGETS  which targets (default all: mp4 ism path filters cpix writers)
# FUZZ_CC       the libFuzzer compiler (Debian clang; `scripts/deps.sh fuzz` installs it)
# Targets are tests/fuzz/fuzz_<name>.c. `make fuzz` builds them with clang and
# -fsanitize=fuzzer,address,undefined into $(BUILD)/fuzz/ and runs each in turn
# (tests/fuzz/run.sh). The same sources, linked with gcc, ASan+UBSan and
# tests/fuzz/replay_main.c instead of libFuzzer ($(ASAN)/fuzz/fuzz_<name>), replay the
# committed corpus and regression inputs in `make check` (tests/integration/fuzz_replay.sh).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ         := $(BUILD)/fuzz
# what the targets link: the library modules and the fs/ files they reach (an archive, so
# each links only what it uses), never main.c or the FUSE glue
FUZZ_LIB_SRC := $(LIB_SRC) $(filter-out fs/main.c fs/mount.c,$(FS_SRC))
# clang's warnings differ from gcc's: the gcc build is the one that holds -Werror
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all $(STD) -Wall -Wextra $(PKGCF) -I. -MMD -MP
FUZZ_BINS    := $(patsubst %,$(FUZZ)/fuzz_%,$(FUZZ_TARGETS))
FUZZ_REPLAY  := $(patsubst %,$(ASAN)/fuzz/fuzz_%,$(FUZZ_NAMES))

.PHONY: fuzz fuzz-build fuzz-replay fuzz-deps
# (objects of the targets are kept: make would delete them as intermediates)
.SECONDARY: $(patsubst %,$(ASAN)/tests/fuzz/%.o,replay_main $(FUZZ_NAMES:%=fuzz_%)) \
            $(patsubst %,$(FUZZ)/obj/tests/fuzz/fuzz_%.o,$(FUZZ_NAMES))
fuzz-deps:
	@[ -n "$(NODEPS)" ] || scripts/deps.sh fuzz

$(FUZZ)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC fuzz $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ)/libismfs.a: $(patsubst %.c,$(FUZZ)/obj/%.o,$(FUZZ_LIB_SRC))
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ)/fuzz_%: $(FUZZ)/obj/tests/fuzz/fuzz_%.o $(FUZZ)/libismfs.a
	@echo "  LD fuzz $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKGLIBS)

$(ASAN)/fuzz/libismfs.a: $(patsubst %.c,$(ASAN)/%.o,$(FUZZ_LIB_SRC))
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(ASAN)/fuzz/fuzz_%: $(ASAN)/tests/fuzz/fuzz_%.o $(ASAN)/tests/fuzz/replay_main.o \
        $(ASAN)/fuzz/libismfs.a
	@echo "  LD asan $@"
	$(Q)$(CC) $(TCFLAGS) -o $@ $^ $(PKGLIBS)

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory -j2 $(FUZZ_BINS)

fuzz-replay: $(FUZZ_REPLAY)

fuzz: fuzz-build
	@FUZZ_DIR=$(FUZZ) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

install: ismfs
	install -D -m 755 ismfs $(DESTDIR)$(PREFIX)/bin/ismfs

clean:
	rm -rf $(BUILD) ismfs

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# `make demo`: mount a generated sample asset and serve it with nginx on 127.0.0.1:8080
# (DEMO_PORT=N to change); prints the URLs. `make demo-stop` stops both.
.PHONY: demo demo-stop
demo: deps
	@scripts/demo-stop.sh
	@$(MAKE) --no-print-directory -s ismfs
	@scripts/demo.sh

demo-stop:
	@scripts/demo-stop.sh
