# mtrl build. Out-of-tree objects under build/, the binary is build/mtrl.
#   make            build build/mtrl
#   make test       build and run the test suite (cmocka)
#   make run        train the quickstart config
#   make bench      nets, env and update benchmarks with short settings
#   make asan       tests under AddressSanitizer + UBSan (build-asan/)
#   make fuzz       libFuzzer targets (clang, ASan + UBSan; build-fuzz/), each
#                   for FUZZ_SECONDS (60); not part of make test
#   make deps       install the Debian packages mtrl needs (and Slurm, for its tests)
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -march=x86-64-v2
PKGS    := hdf5 openblas yaml-0.1
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -g -pthread -MMD -MP \
           -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libav headers only: src/render loads the libraries with dlopen at run time.
AV_PKGS := libavformat libavcodec libavutil
CFLAGS  += $(shell pkg-config --cflags $(AV_PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lmujoco -llapacke -lz -ldl -lm -pthread
TEST_LDLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
# The video test reads MP4s back with libavformat itself (linked, unlike mtrl).
TEST_LDLIBS_test_render_video := $(shell pkg-config --libs $(AV_PKGS) 2>/dev/null)

# Modules and what each may link against (DESIGN.md: dependencies point one way).
MODULES   := core nets mtl replay envs sac sweep report render
DEPS_core :=
DEPS_nets := core
DEPS_mtl  := core
DEPS_replay := core
DEPS_envs := core
DEPS_sac  := nets mtl replay core
DEPS_sweep := core
DEPS_report := core
DEPS_render := envs core
DEPS_cli  := render sweep report sac nets mtl replay envs core
DEPS_e2e  := $(DEPS_cli)

lib = $(BUILD)/lib$(1).a
module_srcs = $(wildcard src/$(1)/*.c)
objs = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(1))

all: $(BUILD)/mtrl

# ---- embedded scene XML (src/envs/assets/*.xml -> one generated C file) ----
ASSETS := $(sort $(wildcard src/envs/assets/*.xml))
$(BUILD)/embed: tools/embed.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -o $@ $<
$(BUILD)/gen/assets.c: $(BUILD)/embed $(ASSETS)
	@mkdir -p $(@D)
	$(BUILD)/embed $@ $(ASSETS)
$(BUILD)/obj/gen/assets.o: $(BUILD)/gen/assets.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# ---- module libraries ----
# wgrad.c's register blocks stay in registers only at -O3 (see the file).
$(BUILD)/obj/nets/wgrad.o: CFLAGS += -O3
$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

define module_rule
$(call lib,$(1)): $(call objs,$(call module_srcs,$(1))) $(if $(filter envs,$(1)),$(BUILD)/obj/gen/assets.o)
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach m,$(MODULES),$(eval $(call module_rule,$(m))))

# ---- the mtrl command ----
CLI_OBJS := $(call objs,$(wildcard src/cli/*.c))
$(BUILD)/mtrl: $(CLI_OBJS) $(foreach m,$(DEPS_cli),$(call lib,$(m)))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# The command's code without main(), for tests/test_cli_*.c and the fuzz targets.
$(call lib,cli): $(filter-out $(BUILD)/obj/cli/main.o,$(CLI_OBJS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# ---- tests: tests/test_<module>_<what>.c links that module and its deps ----
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
test_module = $(word 2,$(subst _, ,$(notdir $(1))))

.SECONDEXPANSION:
test_libs = $(if $(filter cli,$(call test_module,$(1))),$(call lib,cli)) \
            $(foreach m,$(filter $(MODULES),$(call test_module,$(1)) $(DEPS_$(call test_module,$(1)))),$(call lib,$(m)))
$(BUILD)/tests/%: tests/%.c $$(call test_libs,$$@) tests/testutil.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -Itests -o $@ $< $(call test_libs,$@) $(TEST_LDLIBS) $(TEST_LDLIBS_$(notdir $@)) $(LDLIBS)

# Every test binary runs from the repo root; e2e tests use build/mtrl.
test: deps-check $(TESTS) $(BUILD)/mtrl
	@MTRL_BIN=$(abspath $(BUILD)/mtrl) tools/run-tests $(TESTS)

# Build one test by name and run it: make check T=nets_grad
check: $(BUILD)/tests/test_$(T) $(BUILD)/mtrl
	MTRL_BIN=$(abspath $(BUILD)/mtrl) $(BUILD)/tests/test_$(T)

run: deps-check $(BUILD)/mtrl
	$(BUILD)/mtrl run configs/quickstart.yaml

bench: $(BUILD)/mtrl
	$(BUILD)/mtrl bench nets --quick
	$(BUILD)/mtrl bench env mt10 --quick
	$(BUILD)/mtrl bench update --quick

asan:
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 $(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fsanitize=address,undefined" test

# ---- fuzzing: tests/fuzz/fuzz_<target>.c, seeds in tests/fuzz/corpus/<target>/;
# crashes go to build-fuzz/crashes/<target>/ (make each one a regression input
# under tests/fuzz/regress/<target>/, replayed by test_cli_fuzz_regress).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := config checkpoint combine
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(call lib,cli) \
                      $(foreach m,$(DEPS_cli),$(call lib,$(m)))
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(call lib,cli) \
	    $(foreach m,$(DEPS_cli),$(call lib,$(m))) $(LDLIBS)

fuzz-build:
	$(MAKE) BUILD=build-fuzz CC=clang \
	    OPT="-O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
	    $(patsubst %,build-fuzz/fuzz/fuzz_%,$(FUZZ_TARGETS))

fuzz: fuzz-build
	tools/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

deps:
	@tools/deps install
deps-check:
	@tools/deps check

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all test check run bench asan fuzz fuzz-build deps deps-check clean
-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
