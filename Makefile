# swift-drmaa — build, test and demo entry points.
SWIFT       ?= swift
BUILD_FLAGS ?=
EXAMPLES    := Example1 Example1_1 Example2 Example2_1 Example3 Example3_1 Example3_2 Example4 Example5 Example6
DEMO_HOME   ?= $(CURDIR)/out/demo-home

.PHONY: build test test-unit test-examples demo clean

## build: debug build of every target
build:
	$(SWIFT) build $(BUILD_FLAGS)

## test: every test — Swift Testing suites, then the ten tutorial ports checked against the Python originals' output
test: test-unit test-examples

test-unit:
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)

test-examples: build
	python3 Tests/Examples/check_examples.py --bin "$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)"

## demo: the seed's DRMAA tutorial, ported to Swift, against LocalDRM (job output goes to $(DEMO_HOME))
demo: build
	@mkdir -p "$(DEMO_HOME)"
	@bin="$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)"; cd Examples && for e in $(EXAMPLES); do \
		echo "=== $$e"; HOME="$(DEMO_HOME)" "$$bin/$$e" || exit 1; \
	done
	@echo "=== job output files (the jobs' \$$HOME is $(DEMO_HOME)):"; ls "$(DEMO_HOME)"

clean:
	rm -rf .build out
