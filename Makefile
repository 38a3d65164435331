# vulcan-guest — build, test and package the guest agent.
#
# Targets:
#   make deps       install npm dependencies from the lockfile (npm ci), once per lockfile change
#   make build      compile shared/ (ESM + .d.ts in shared/dist) and type-check agent/ and test/
#   make agent      bundle the agent into build/vulcan-guest.mjs (one script, run with node)
#   make lint       biome: lint + format check of every TypeScript/JSON file
#   make typecheck  tsc -b over all projects (strict, noUncheckedIndexedAccess)
#   make test       lint, type-check, build the agent, then every vitest test (unit + integration,
#                   plus the Go byte-compatibility round trip when `go` is installed)
#   make format     rewrite files with biome's formatter
#   make clean      remove build outputs (build/, */dist)
#
# Knobs (override on the command line, e.g. `make test VITEST_ARGS=test/shared`):
#   NPM          npm binary                               (default: npm)
#   VITEST_ARGS  extra arguments/filters passed to vitest (default: none)

NPM ?= npm
VITEST_ARGS ?=
NODE_BIN := node_modules/.bin

AGENT_SOURCES := $(shell find agent/src shared/src -name '*.ts' 2>/dev/null)

.PHONY: deps build agent lint typecheck test format clean

node_modules/.installed: package-lock.json package.json shared/package.json agent/package.json
	$(NPM) ci --no-audit --no-fund
	touch $@

deps: node_modules/.installed

build typecheck: deps
	$(NODE_BIN)/tsc -b

lint: deps
	$(NODE_BIN)/biome check .

format: deps
	$(NODE_BIN)/biome format --write .

agent: build/vulcan-guest.mjs

build/vulcan-guest.mjs: node_modules/.installed $(AGENT_SOURCES) agent/build.mjs
	node agent/build.mjs

test: lint typecheck agent
	$(NODE_BIN)/vitest run --config test/vitest.config.ts $(VITEST_ARGS)

clean:
	rm -rf build shared/dist agent/dist
