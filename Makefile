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
	@$(MAKE) --no-print-directory -j$$(nproc) $(UNIT_BINS) $(ASAN)/ismfs
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
