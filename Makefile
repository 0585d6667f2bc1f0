# swift-drmaa — build, test and demo entry points.
SWIFT       ?= swift
BUILD_FLAGS ?=
EXAMPLES    := Example1 Example1_1 Example2 Example2_1 Example3 Example3_1 Example3_2 Example4 Example5 Example6
DEMO_HOME   ?= $(CURDIR)/out/demo-home

.PHONY: build test test-unit test-tsan test-examples demo clean

## build: debug build of every target
build:
	$(SWIFT) build $(BUILD_FLAGS)

## test: every test — Swift Testing suites (also under ThreadSanitizer), the ten tutorial ports checked
## against the Python originals' output, the C binding's tests (also under AddressSanitizer, in
## hostile hosts and their glibc check), drmaa-python's suite, the durable mode's scenarios (killed clients
## and daemons, many clients, other uids), a Snakemake workflow and a ruffus
## pipeline, the benchmark at small sizes (it fails only if something functionally fails, never on
## times) and a short pass of every fuzz target
test: test-unit test-tsan test-examples test-c test-c-asan test-hostile check-glibc test-python test-python-hostile test-durable test-clients test-slurm bench-quick fuzz-quick

test-unit:
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)

# ThreadSanitizer build in its own scratch path. The library's locks are pthread mutexes (ForkSafeMutex),
# which TSan sees; DRMAA_TSAN gives the test targets the same lock (Docs/Architecture.md). exitcode=66: any report fails `swift test`;
# no halt_on_error, so fixtures still end their jobs and every report is printed.
TSAN_SCRATCH ?= .build-tsan
TSAN_FLAGS   := --sanitize=thread --scratch-path $(TSAN_SCRATCH) -Xswiftc -DDRMAA_TSAN

## test-tsan: both Swift Testing suites under ThreadSanitizer; any report fails the target
test-tsan:
	$(SWIFT) build --build-tests $(BUILD_FLAGS) $(TSAN_FLAGS)
	TSAN_OPTIONS="exitcode=66 second_deadlock_stack=1" $(SWIFT) test --skip-build $(BUILD_FLAGS) $(TSAN_FLAGS)

test-examples: build
	$(DURABLE) python3 Tests/Examples/check_examples.py --bin "$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)"

## demo: the seed's DRMAA tutorial, ported to Swift, against LocalDRM (job output goes to $(DEMO_HOME))
demo: build
	@mkdir -p "$(DEMO_HOME)"
	@bin="$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)"; cd Examples && for e in $(EXAMPLES); do \
		echo "=== $$e"; HOME="$(DEMO_HOME)" "$$bin/$$e" || exit 1; \
	done
	@echo "=== job output files (the jobs' \$$HOME is $(DEMO_HOME)):"; ls "$(DEMO_HOME)"

clean:
	rm -rf .build .build-clib .build-daemon .build-tsan .build-bench .build-asan .build-fuzz out

# ---------------------------------------------------------------------------------------------
# The DRMAA 1.0 C binding: libdrmaa.so + drmaa.h (Sources/DRMAA). Built in its own scratch path.
CLIB_SCRATCH ?= .build-clib
CC           ?= cc
PREFIX       ?= /usr/local
PYTHON       ?= python3
SGE_DRMAA_INCLUDE ?= /usr/lib/gridengine-drmaa/include
# The Swift runtime is linked statically, only the drmaa_* functions are exported, soname libdrmaa.so.1;
# -z nodelete: dlclose never unmaps it, since its threads (supervisor, launcher) outlive any session.
CLIB_FLAGS   := -c release --product drmaa -Xswiftc -static-stdlib -Xlinker -z -Xlinker nodelete \
                -Xlinker -soname=libdrmaa.so.1 -Xlinker --version-script=$(CURDIR)/out/drmaa.map
# glibc compatibility (Sources/CGlibcCompat/glibc_compat.c, Docs/C-API.md): DRMAA_GLIBC_COMPAT turns on
# that file's definitions, which bind the symbols too new for glibc 2.28 and GCC 8's libstdc++ to
# older ones; libpthread.so.0 and libdl.so.2 are recorded as needed because the old versions of the
# pthread and dl functions live there before glibc 2.34. check-glibc enforces the *_MAX limits.
GLIBC_MAX    := 2.28
GLIBCXX_MAX  := 3.4.25
CXXABI_MAX   := 1.3.11
ifeq ($(shell uname -m),x86_64)
CLIB_FLAGS   += -Xcc -DDRMAA_GLIBC_COMPAT \
                -Xlinker --push-state -Xlinker --no-as-needed -Xlinker -l:libpthread.so.0 -Xlinker -l:libdl.so.2 \
                -Xlinker --pop-state
endif
CTEST_FLAGS  := -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra
# Tests of the durable mode (libdrmaa.so's default) keep their daemon's state in out/ and let it
# leave soon after the last client; EMBEDDED runs the same tests in the in-process mode.
DURABLE      := DRMAA_LOCAL_STATE_DIR=$(CURDIR)/out/state DRMAA_LOCAL_IDLE_EXIT=3
EMBEDDED     := DRMAA_LOCAL_MODE=embedded
# The durable mode's daemon and shepherd, installed beside libdrmaa.so (where the library looks first):
# release builds with the Swift runtime linked statically, in their own scratch path.
# Both are fully static executables (glibc and SQLite linked in; -DCLOCALDRM_STATIC: no dlsym), so
# that they run on any Linux the library runs on, whatever its glibc, and the shepherd, which starts
# once per job, starts in a third of the time of one with only the Swift runtime static
# (no dynamic loader, no relocations; Docs/Performance.md).
DAEMON_SCRATCH ?= .build-daemon
DAEMON_FLAGS   := -c release --scratch-path $(DAEMON_SCRATCH) -Xswiftc -static-executable -Xcc -DCLOCALDRM_STATIC

.PHONY: lib install test-c test-c-asan test-hostile check-glibc test-debian11 test-python test-python-hostile venv

## lib: release build of libdrmaa.so (self-contained: Swift runtime linked statically) in out/lib
lib:
	@mkdir -p out/lib
	@printf '{\n  global: drmaa_*;\n  local: *;\n};\n' > out/drmaa.map
	$(SWIFT) build --scratch-path $(CLIB_SCRATCH) $(CLIB_FLAGS)
	cp "$$($(SWIFT) build --scratch-path $(CLIB_SCRATCH) $(CLIB_FLAGS) --show-bin-path)/libdrmaa.so" out/lib/libdrmaa.so
	ln -sf libdrmaa.so out/lib/libdrmaa.so.1
	$(SWIFT) build $(DAEMON_FLAGS) --product drmaad
	$(SWIFT) build $(DAEMON_FLAGS) --product drmaa-shepherd
	cp "$$($(SWIFT) build $(DAEMON_FLAGS) --show-bin-path)/drmaad" "$$($(SWIFT) build $(DAEMON_FLAGS) --show-bin-path)/drmaa-shepherd" out/lib/
	@n=$$(nm -D --defined-only out/lib/libdrmaa.so | grep -c ' T drmaa_'); \
		if [ "$$n" -ne 36 ]; then echo "libdrmaa.so exports $$n drmaa_* functions, expected 36"; exit 1; fi; \
		echo "out/lib/libdrmaa.so: 36 drmaa_* functions exported"

## install: PREFIX=/usr/local — lib/libdrmaa.so.1, lib/libdrmaa.so, include/drmaa.h, lib/pkgconfig/drmaa.pc,
## and the durable mode's programs in libexec/swift-drmaa (drmaad, drmaa-shepherd), where the library finds them
install: lib
	install -d "$(DESTDIR)$(PREFIX)/lib/pkgconfig" "$(DESTDIR)$(PREFIX)/include" "$(DESTDIR)$(PREFIX)/libexec/swift-drmaa"
	install -m 755 out/lib/drmaad out/lib/drmaa-shepherd "$(DESTDIR)$(PREFIX)/libexec/swift-drmaa/"
	install -m 755 out/lib/libdrmaa.so "$(DESTDIR)$(PREFIX)/lib/libdrmaa.so.1"
	ln -sf libdrmaa.so.1 "$(DESTDIR)$(PREFIX)/lib/libdrmaa.so"
	install -m 644 Sources/DRMAA/include/drmaa.h "$(DESTDIR)$(PREFIX)/include/drmaa.h"
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: drmaa\nDescription: DRMAA 1.0 C binding (swift-drmaa, LocalDRM backend)\nVersion: 1.0\nLibs: -L$${libdir} -ldrmaa\nCflags: -I$${includedir}\n' \
		"$(PREFIX)" > "$(DESTDIR)$(PREFIX)/lib/pkgconfig/drmaa.pc"

## test-c: Tests/C/test_drmaa.c against our drmaa.h (and Grid Engine's drmaa.h if installed), linked to out/lib/libdrmaa.so,
## in the durable mode (the default) and the embedded one
test-c: lib
	@mkdir -p out/test-c/home
	$(CC) $(CTEST_FLAGS) -ISources/DRMAA/include Tests/C/test_drmaa.c -Lout/lib -ldrmaa -Wl,-rpath,$(CURDIR)/out/lib -o out/test-c/test_drmaa
	@echo "== durable mode"
	HOME=$(CURDIR)/out/test-c/home $(DURABLE) out/test-c/test_drmaa
	HOME=$(CURDIR)/out/test-c/home $(DURABLE) DRMAA_LOCAL_SLOTS=1 out/test-c/test_drmaa local-configuration
	HOME=$(CURDIR)/out/test-c/home $(DURABLE) DRMAA_LOCAL_SLOTS=zero out/test-c/test_drmaa local-configuration
	@echo "== embedded mode"
	HOME=$(CURDIR)/out/test-c/home $(EMBEDDED) out/test-c/test_drmaa
	HOME=$(CURDIR)/out/test-c/home $(EMBEDDED) DRMAA_LOCAL_SLOTS=1 out/test-c/test_drmaa local-configuration
	HOME=$(CURDIR)/out/test-c/home $(EMBEDDED) DRMAA_LOCAL_SLOTS=zero out/test-c/test_drmaa local-configuration
	@echo "== embedded again, spawning the way glibc 2.28 must (no posix_spawn chdir action)"
	HOME=$(CURDIR)/out/test-c/home $(EMBEDDED) DRMAA_LOCAL_SPAWN_FALLBACK=1 out/test-c/test_drmaa
	@if [ -f "$(SGE_DRMAA_INCLUDE)/drmaa.h" ]; then \
		echo "== ABI check: the same test compiled against $(SGE_DRMAA_INCLUDE)/drmaa.h"; \
		$(CC) $(CTEST_FLAGS) -I"$(SGE_DRMAA_INCLUDE)" Tests/C/test_drmaa.c -Lout/lib -ldrmaa -Wl,-rpath,$(CURDIR)/out/lib -o out/test-c/test_drmaa_sge_h && \
		HOME=$(CURDIR)/out/test-c/home $(DURABLE) out/test-c/test_drmaa_sge_h; \
	else echo "== ABI check skipped: no $(SGE_DRMAA_INCLUDE)/drmaa.h (apt-get install gridengine-drmaa-dev)"; fi

HOSTILE_MODES := fifo fork fork-storm fork-after-init bounds sigchld-ignore sigchld-nocldwait sigchld-reaper bytes categories emfile init-exit-loop tmpdir-modes cwd-removed

## test-hostile: the library inside hostile hosts (Tests/C/test_hostile.c, one process per mode; embedded mode, where
## jobs are the host's children) and dlclose with a live job (both modes)
test-hostile: lib
	@mkdir -p out/test-hostile/home
	$(CC) $(CTEST_FLAGS) -ISources/DRMAA/include Tests/C/test_hostile.c -Lout/lib -ldrmaa -Wl,-rpath,$(CURDIR)/out/lib -o out/test-hostile/test_hostile
	$(CC) $(CTEST_FLAGS) Tests/C/test_dlclose.c -ldl -o out/test-hostile/test_dlclose
	@for mode in $(HOSTILE_MODES); do \
		HOME=$(CURDIR)/out/test-hostile/home $(EMBEDDED) out/test-hostile/test_hostile $$mode || exit 1; \
	done
	HOME=$(CURDIR)/out/test-hostile/home $(EMBEDDED) out/test-hostile/test_dlclose $(CURDIR)/out/lib/libdrmaa.so
	HOME=$(CURDIR)/out/test-hostile/home $(DURABLE) out/test-hostile/test_dlclose $(CURDIR)/out/lib/libdrmaa.so

## check-glibc: libdrmaa.so needs no glibc symbol version newer than GLIBC_MAX, nor libstdc++ newer than
## GCC 8's (RHEL 8): GLIBCXX_MAX, CXXABI_MAX (x86_64; Docs/C-API.md); and it does not link SQLite (only the
## durable mode's daemon does, through LocalDRMSpool)
check-glibc: lib
	@for program in drmaad drmaa-shepherd; do \
		if objdump -p out/lib/$$program | grep -q NEEDED; then \
			echo "check-glibc: FAILED: out/lib/$$program is not a static executable"; exit 1; fi; done; \
		echo "check-glibc: out/lib/drmaad and out/lib/drmaa-shepherd are static executables (any glibc)"
	@if objdump -p out/lib/libdrmaa.so | grep NEEDED | grep -qi sqlite; then \
		echo "check-glibc: FAILED: out/lib/libdrmaa.so links SQLite"; exit 1; fi
	@if [ "$$(uname -m)" != x86_64 ]; then echo "check-glibc: skipped (the glibc compatibility is for x86_64)"; exit 0; fi; \
	status=0; \
	for limit in GLIBC_$(GLIBC_MAX) GLIBCXX_$(GLIBCXX_MAX) CXXABI_$(CXXABI_MAX); do \
		prefix=$${limit%_*}; \
		newest=$$( { objdump -T out/lib/libdrmaa.so; objdump -p out/lib/libdrmaa.so; } | grep -o "$${prefix}_[0-9][0-9.]*" | sort -uV | tail -1); \
		if [ "$$(printf '%s\n' "$$newest" "$$limit" | sort -V | tail -1)" = "$$limit" ]; then \
			echo "check-glibc: out/lib/libdrmaa.so needs at most $$newest (limit $$limit)"; continue; fi; \
		echo "check-glibc: FAILED: out/lib/libdrmaa.so needs $$newest, more than $$limit; too new:"; status=1; \
		objdump -T out/lib/libdrmaa.so | awk -v p="^[(]?$${prefix}_[0-9]" '{ for (i = 1; i <= NF; i++) if ($$i ~ p) print $$i, $$NF }' | tr -d '()' | \
			while read -r v sym; do [ "$$(printf '%s\n' "$$v" "$$limit" | sort -V | tail -1)" = "$$limit" ] || echo "  $$sym@$$v"; done; \
	done; \
	exit $$status

## test-debian11: as root, the C tests against libdrmaa.so in a Debian 11 chroot (glibc 2.31); the tree
## is made with debootstrap once, in out/debian11-root (Scripts/debian11-root.sh)
test-debian11: lib
	Scripts/debian11-root.sh

# AddressSanitizer (and LeakSanitizer) run of the same C tests: libdrmaa.so built with
# -sanitize=address in its own scratch path (the Swift runtime still linked statically; only our
# code is instrumented), the test compiled with the toolchain's clang, whose ASan runtime the
# library's instrumentation was built for. Tests/lsan.supp says which reports are the runtime's.
ASAN_SCRATCH ?= .build-asan
ASAN_CC      ?= $(dir $(shell command -v $(SWIFT)))clang
ASAN_LIB_FLAGS := $(CLIB_FLAGS) --scratch-path $(ASAN_SCRATCH) -Xswiftc -sanitize=address
ASAN_ENV     := SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
                LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp:print_suppressions=0

## test-c-asan: Tests/C/test_drmaa.c and libdrmaa.so under AddressSanitizer and LeakSanitizer (out/asan)
test-c-asan: lib
	@mkdir -p out/asan/lib out/asan/home
	@printf '{\n  global: drmaa_*;\n  local: *;\n};\n' > out/drmaa.map
	$(SWIFT) build $(ASAN_LIB_FLAGS)
	cp "$$($(SWIFT) build $(ASAN_LIB_FLAGS) --show-bin-path)/libdrmaa.so" out/asan/lib/libdrmaa.so
	ln -sf libdrmaa.so out/asan/lib/libdrmaa.so.1
	$(ASAN_CC) $(CTEST_FLAGS) -g -fsanitize=address -fno-omit-frame-pointer -fuse-ld=lld -ISources/DRMAA/include Tests/C/test_drmaa.c \
		-Lout/asan/lib -ldrmaa -Wl,-rpath,$(CURDIR)/out/asan/lib -o out/asan/test_drmaa
	HOME=$(CURDIR)/out/asan/home $(ASAN_ENV) $(EMBEDDED) out/asan/test_drmaa
	HOME=$(CURDIR)/out/asan/home $(ASAN_ENV) $(EMBEDDED) DRMAA_LOCAL_SLOTS=1 out/asan/test_drmaa local-configuration
	HOME=$(CURDIR)/out/asan/home $(ASAN_ENV) $(EMBEDDED) DRMAA_LOCAL_SLOTS=zero out/asan/test_drmaa local-configuration
	@echo "== durable mode: the client side under ASan (the daemon and shepherd of make lib)"
	HOME=$(CURDIR)/out/asan/home $(ASAN_ENV) $(DURABLE) DRMAA_LOCAL_DAEMON=$(CURDIR)/out/lib/drmaad out/asan/test_drmaa

## venv: out/venv with drmaa-python 0.7.9 and the runners of its test-suite (used by test-python and bench)
venv:
	@test -x out/venv/bin/python || $(PYTHON) -m venv out/venv
	@out/venv/bin/python -c 'import drmaa, pytest, nose' 2>/dev/null || \
		out/venv/bin/pip install -q drmaa==0.7.9 "pytest<8" pynose

# drmaa-python 0.7.9's sdist, for its test-suite (test-python, test-slurm)
out/sdist/drmaa-0.7.9: | venv
	@test -f out/sdist/drmaa-0.7.9.tar.gz || \
		out/venv/bin/pip download -q --no-deps --no-binary :all: drmaa==0.7.9 -d out/sdist
	@test -d out/sdist/drmaa-0.7.9 || tar -xzf out/sdist/drmaa-0.7.9.tar.gz -C out/sdist

## test-python: drmaa-python 0.7.9's own test-suite, the seed's tutorial scripts and our checks of what drmaa-python
## sees (Tests/Python/check_reasons.py) against out/lib/libdrmaa.so, in the durable mode (the default) and the embedded one
test-python: lib venv out/sdist/drmaa-0.7.9
	@mkdir -p out/test-python/home
	@for mode in "$(DURABLE)" "$(EMBEDDED)"; do echo "== $$mode"; \
		(cd out/sdist/drmaa-0.7.9 && env $$mode HOME=$(CURDIR)/out/test-python/home DRMAA_LIBRARY_PATH=$(CURDIR)/out/lib/libdrmaa.so \
			PATH=$(CURDIR)/out/venv/bin:$$PATH $(CURDIR)/out/venv/bin/python -m pytest -p no:cacheprovider -q \
			test/testcontext.py test/testmisc.py test/testwrap.py) || exit 1; \
		env $$mode DRMAA_LIBRARY_PATH=$(CURDIR)/out/lib/libdrmaa.so $(CURDIR)/out/venv/bin/python Tests/Python/check_examples.py \
			--python $(CURDIR)/out/venv/bin/python $$(case "$$mode" in *embedded*) echo --embedded;; esac) || exit 1; \
		env $$mode HOME=$(CURDIR)/out/test-python/home DRMAA_LIBRARY_PATH=$(CURDIR)/out/lib/libdrmaa.so \
			$(CURDIR)/out/venv/bin/python Tests/Python/check_reasons.py || exit 1; \
	done

## test-python-hostile: drmaa-python workers forked by multiprocessing use the parent's session (both modes)
test-python-hostile: lib venv
	@mkdir -p out/test-python/home
	HOME=$(CURDIR)/out/test-python/home $(DURABLE) DRMAA_LIBRARY_PATH=$(CURDIR)/out/lib/libdrmaa.so \
		$(CURDIR)/out/venv/bin/python Tests/Python/hostile_fork.py
	HOME=$(CURDIR)/out/test-python/home $(EMBEDDED) DRMAA_LIBRARY_PATH=$(CURDIR)/out/lib/libdrmaa.so \
		$(CURDIR)/out/venv/bin/python Tests/Python/hostile_fork.py

## test-slurm: the Slurm backend on a single-node Slurm (Scripts/slurm-up.sh starts one, with a MinJobAge of 2 s so
## that a test sees slurmctld forget ended jobs, when none answers and we are root, and stops it again at the end;
## otherwise SKIPPED): its Swift
## tests, the C test program, sessions across processes (Tests/Slurm/check_sessions.py), drmaa-python's test-suite
## and the seed's tutorial scripts through out/lib/libdrmaa.so with DRMAA_BACKEND=slurm; last, alone, the test that
## stops and restarts slurmctld during a wait
.PHONY: test-slurm
test-slurm: lib venv out/sdist/drmaa-0.7.9
	@if ! sinfo -h >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then SLURM_MINJOBAGE=$${SLURM_MINJOBAGE:-2} Scripts/slurm-up.sh || exit 1; \
			trap 'Scripts/slurm-down.sh' EXIT; \
		else echo "SKIPPED test-slurm: no Slurm controller answers here, and Scripts/slurm-up.sh needs root"; exit 0; fi; \
	fi; \
	set -e; \
	$(SWIFT) build --build-tests $(BUILD_FLAGS); \
	mkdir -p out/test-slurm/home out/test-c; \
	echo "== the wall-clock limit test, in the background (Slurm enforces limits in whole minutes: about 75 s)"; \
	DRMAA_SLURM_TESTS=1 "$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/swift-drmaaPackageTests.xctest" --testing-library swift-testing \
		--filter SlurmTimeoutTests > out/test-slurm/time-limit.log 2>&1 & limit=$$!; \
	DRMAA_SLURM_TESTS=1 $(SWIFT) test --skip-build $(BUILD_FLAGS) --filter SlurmDRMTests --skip SlurmOutageTests --skip SlurmTimeoutTests; \
	$(CC) $(CTEST_FLAGS) -ISources/DRMAA/include Tests/C/test_drmaa.c -Lout/lib -ldrmaa -Wl,-rpath,$(CURDIR)/out/lib -o out/test-c/test_drmaa; \
	echo "== the C test program on Slurm"; \
	HOME=$(CURDIR)/out/test-slurm/home DRMAA_BACKEND=slurm out/test-c/test_drmaa; \
	echo "== sessions across processes on Slurm"; \
	DRMAA_BACKEND=slurm DRMAA_LIBRARY_PATH=$(CURDIR)/out/lib/libdrmaa.so $(CURDIR)/out/venv/bin/python Tests/Slurm/check_sessions.py; \
	mkdir -p out/test-slurm/home; \
	(cd out/sdist/drmaa-0.7.9 && DRMAA_BACKEND=slurm HOME=$(CURDIR)/out/test-slurm/home DRMAA_LIBRARY_PATH=$(CURDIR)/out/lib/libdrmaa.so \
		PATH=$(CURDIR)/out/venv/bin:$$PATH $(CURDIR)/out/venv/bin/python -m pytest -p no:cacheprovider -q \
		test/testcontext.py test/testmisc.py test/testwrap.py); \
	DRMAA_BACKEND=slurm DRMAA_LIBRARY_PATH=$(CURDIR)/out/lib/libdrmaa.so $(CURDIR)/out/venv/bin/python Tests/Python/check_examples.py \
		--python $(CURDIR)/out/venv/bin/python --slurm --jobs 4; \
	echo "== the wall-clock limit test"; \
	if wait $$limit; then cat out/test-slurm/time-limit.log; else cat out/test-slurm/time-limit.log; exit 1; fi; \
	DRMAA_SLURM_TESTS=1 DRMAA_SLURM_OUTAGE_TESTS=1 $(SWIFT) test --skip-build $(BUILD_FLAGS) --filter SlurmOutageTests

## test-durable: the durable mode through drmaa-python (Tests/Durable/check_durable.py): jobs outlive a killed
## client, re-attaching by contact, another session's status/control, one slot pool and one daemon for many
## clients, other uids refused (as root), the daemon killed with kill -9; each scenario in a fresh state directory
.PHONY: test-durable
test-durable: lib venv
	$(CURDIR)/out/venv/bin/python Tests/Durable/check_durable.py --lib $(CURDIR)/out/lib/libdrmaa.so

# ---------------------------------------------------------------------------------------------
# Real DRMAA clients (Tests/Clients, Docs/Testing.md): Snakemake 9 with its DRMAA executor plugin and
# ruffus's drmaa_wrapper, pinned in Tests/Clients/requirements.txt, installed from PyPI into their own
# venv (again only when that file changes). Each client run has a time limit inside the checkers;
# `timeout` is the last resort, and the checkers kill every process left when it fires.
CLIENTS_VENV         := out/venv-clients
CLIENTS_REQUIREMENTS := Tests/Clients/requirements.txt
CLIENTS_TIMEOUT      ?= 300
CLIENTS_ARGS         := --lib $(CURDIR)/out/lib/libdrmaa.so --work $(CURDIR)/out/test-clients

.PHONY: venv-clients test-clients

## venv-clients: out/venv-clients with the clients pinned in Tests/Clients/requirements.txt
venv-clients:
	@test -x $(CLIENTS_VENV)/bin/python || $(PYTHON) -m venv $(CLIENTS_VENV)
	@cmp -s $(CLIENTS_REQUIREMENTS) $(CLIENTS_VENV)/requirements.txt || { \
		$(CLIENTS_VENV)/bin/pip install -q --disable-pip-version-check -r $(CLIENTS_REQUIREMENTS) && \
		cp $(CLIENTS_REQUIREMENTS) $(CLIENTS_VENV)/requirements.txt; }

## test-clients: a Snakemake workflow (--executor drmaa) and a ruffus pipeline (drmaa_wrapper.run_job)
## against out/lib/libdrmaa.so, checking the files, exit codes, logs and that every job process ends
test-clients: lib venv-clients
	@rm -rf out/test-clients
	@status=0; \
	timeout -k 10 1500 $(CLIENTS_VENV)/bin/python Tests/Clients/check_snakemake.py $(CLIENTS_ARGS) \
		--venv $(CURDIR)/$(CLIENTS_VENV) --timeout $(CLIENTS_TIMEOUT) || status=1; \
	timeout -k 10 $(CLIENTS_TIMEOUT) $(CLIENTS_VENV)/bin/python Tests/Clients/check_ruffus.py $(CLIENTS_ARGS) || status=1; \
	exit $$status

# ---------------------------------------------------------------------------------------------
# Benchmarks (Benchmarks/DRMAABench, Docs/Performance.md): a release build in its own scratch path.
# Every scenario runs in both of LocalDRM's modes (BENCH_MODES), the durable one with out/lib's
# drmaad and drmaa-shepherd and a private state directory whose daemon leaves once idle.
BENCH_SCRATCH ?= .build-bench
BENCH_MODES   ?= embedded,durable
BENCH_FLAGS   := -c release --scratch-path $(BENCH_SCRATCH) --product DRMAABench
BENCH_ARGS    := --python $(CURDIR)/out/venv/bin/python --lib $(CURDIR)/out/lib/libdrmaa.so \
                 --script $(CURDIR)/Benchmarks/python/bench_drmaa.py --modes $(BENCH_MODES)

.PHONY: bench bench-quick

## bench: every scenario at full size in both modes (15-20 minutes on 2 CPUs); table on stdout, JSON in out/bench/results.json
bench: lib venv
	$(SWIFT) build $(BENCH_FLAGS)
	"$$($(SWIFT) build $(BENCH_FLAGS) --show-bin-path)/DRMAABench" $(BENCH_ARGS) --json out/bench/results.json

## bench-quick: every scenario at small sizes in both modes (well under a minute), to keep the benchmark working; JSON in
## out/bench/quick.json. A debug build in the default scratch path (the one make test-unit built already): its figures are
## not comparable with make bench's
bench-quick: lib venv
	$(SWIFT) build $(BUILD_FLAGS) --product DRMAABench
	"$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/DRMAABench" $(BENCH_ARGS) --quick --json out/bench/quick.json

# ---------------------------------------------------------------------------------------------
# Fuzzing (Fuzz/, Docs/Testing.md): one libFuzzer binary with AddressSanitizer, every target in
# it, a release build in its own scratch path. swiftc gets `-sanitize=fuzzer,address` as one
# flag: as two flags the later replaces the earlier, and the code is built without coverage.
# SwiftPM's own --sanitize=fuzzer makes it link libFuzzer's main instead of the replay main.
FUZZ_SCRATCH       ?= .build-fuzz
FUZZ_FLAGS         := -c release --scratch-path $(FUZZ_SCRATCH) --product DRMAAFuzz --sanitize=fuzzer \
                      -Xswiftc -sanitize=fuzzer,address -Xswiftc -DDRMAA_LIBFUZZER
FUZZ_TARGETS       ?= timestamp time-amount native categories contact template c-api wire
FUZZ_SECONDS       ?= 60
FUZZ_QUICK_SECONDS ?= 10

.PHONY: fuzz fuzz-quick fuzz-build fuzz-replay

fuzz-build:
	$(SWIFT) build $(FUZZ_FLAGS)

## fuzz: each fuzz target for FUZZ_SECONDS (default 60); any finding fails it (inputs in out/fuzz/findings)
fuzz: fuzz-build
	Fuzz/run-fuzzers.sh "$$($(SWIFT) build $(FUZZ_FLAGS) --show-bin-path)/DRMAAFuzz" $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## fuzz-quick: each fuzz target for FUZZ_QUICK_SECONDS (default 10), as CI runs it
fuzz-quick: fuzz-build
	Fuzz/run-fuzzers.sh "$$($(SWIFT) build $(FUZZ_FLAGS) --show-bin-path)/DRMAAFuzz" $(FUZZ_QUICK_SECONDS) $(FUZZ_TARGETS)

## fuzz-replay: the committed corpora through an ordinary debug build (no fuzzer): reproduces findings
fuzz-replay: build
	@bin="$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/DRMAAFuzz"; for t in $(FUZZ_TARGETS); do \
		"$$bin" $$t Fuzz/corpus/$$t || exit 1; done
