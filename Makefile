# vulcan-guest — build, test and package the guest agent.
#
# Targets:
#   make deps       install npm dependencies exactly as locked (npm ci), again only when the lockfile changes
#   make build      compile shared/ (ESM + .d.ts in shared/dist) and type-check agent/ and test/
#   make agent      the single-file binary build/vulcan-guest (Node SEA: pinned Node 24 + bundled agent
#                   + native addons), plus the development bundle build/vulcan-guest.cjs and build/syscalls.node
#   make lint       biome: lint + format check of every TypeScript/JSON file
#   make typecheck  tsc -b over all projects (strict, noUncheckedIndexedAccess)
#   make test       lint, type-check, build the agent, then every vitest test against the built binary
#                   (unit + integration, PID 1 mode when root, the Go byte-compatibility round trip
#                   when `go` is installed)
#   make bench      the agent's cost vs the bare alternative: start-up and idle memory vs bare Node, a `pass`
#                   round trip, 200k lines, memory while streaming 100 MB, drift (test/bench/), JSON in build/bench/
#   make bench-vm   in-VM figures: the kernel's and the agent's share of boot-to-ready, Go hello world with the
#                   pre-warmed cache vs an empty one (test/bench/vm.ts; slow under TCG), JSON in build/bench/
#   make demo       the main job: build agent, kernel and python.ext4, boot a microVM, run a program in it
#   make kernel     guest kernel build/kernel/{vmlinux,bzImage} from Debian's linux-source (cached)
#   make images     build/images/{python,node,go}.ext4; one at a time: make image-python (cached)
#   make verify-images  inspect every image with debugfs (agent, init, /work, user, runtime)
#   make smoke      boot each image in a microVM and check the agent over real vsock
#                   (make smoke RUNTIME=python for one image); console logs of failures in build/smoke/
#   make system-deps  Debian packages for images and VMs (apt-get, as root) and vhost-device-vsock (cargo)
#   make format     rewrite files with biome's formatter
#   make clean      remove build outputs (build/, */dist)
#
# Knobs (override on the command line, e.g. `make test VITEST_ARGS=test/shared`):
#   NPM          npm binary                                  (default: npm)
#   VITEST_ARGS  extra arguments or file filters for vitest  (default: none)
#   BENCH_RUNS   repetitions per side in `make bench`        (default: 15)
#   BENCH_VM_RUNS  boots per init in `make bench-vm`         (default: 3)
#   CC           C compiler for agent/native/syscalls.c          (default: gcc)
#   RUNTIME      images for smoke/images targets             (default: python node go)
#   VULCAN_CACHE cache of kernels, images, tools, outside the checkout (default: /var/cache/vulcan-guest)
#   VHOST_DEVICE_VSOCK_VERSION  pinned crate version         (default: 0.3.0)

NPM ?= npm
VITEST_ARGS ?=
BENCH_RUNS ?= 15
BENCH_VM_RUNS ?= 3
RUNTIME ?= python node go
VULCAN_CACHE ?= /var/cache/vulcan-guest
VHOST_DEVICE_VSOCK_VERSION ?= 0.3.0
VHOST_DEVICE_VSOCK := $(VULCAN_CACHE)/tools/vhost-device-vsock-$(VHOST_DEVICE_VSOCK_VERSION)/bin/vhost-device-vsock
export VULCAN_CACHE
NODE_BIN := node_modules/.bin
DEPS_STAMP := node_modules/.installed

AGENT_SOURCES := $(shell find agent/src shared/src -name '*.ts' 2>/dev/null) agent/native/syscalls.c agent/build.mjs

.PHONY: deps build agent lint typecheck test bench bench-vm format clean system-deps kernel images verify-images smoke demo

$(DEPS_STAMP): package-lock.json package.json shared/package.json agent/package.json
	$(NPM) ci --no-audit --no-fund
	touch $@

deps: $(DEPS_STAMP)

build typecheck: deps
	$(NODE_BIN)/tsc -b

lint: deps
	$(NODE_BIN)/biome check .

format: deps
	$(NODE_BIN)/biome format --write .

build/vulcan-guest.cjs build/syscalls.node &: $(DEPS_STAMP) $(AGENT_SOURCES) package.json
	node agent/build.mjs

build/vulcan-guest: build/vulcan-guest.cjs build/syscalls.node agent/sea.mjs agent/node-options.json
	node agent/sea.mjs

agent: build/vulcan-guest

test: lint typecheck agent
	$(NODE_BIN)/vitest run --config test/vitest.config.ts $(VITEST_ARGS)

bench: build agent
	node test/bench/startup-memory.mjs --runs $(BENCH_RUNS)
	node test/bench/workloads.mjs --runs $(BENCH_RUNS)

system-deps:
	rootfs-build/install-deps.sh --vhost-device-vsock $(VHOST_DEVICE_VSOCK_VERSION) $(dir $(patsubst %/,%,$(dir $(VHOST_DEVICE_VSOCK))))

$(VHOST_DEVICE_VSOCK):
	$(MAKE) system-deps

kernel: system-deps
	rootfs-build/kernel.sh build/kernel

# The image script keeps its own input-keyed cache: running it when nothing changed costs a hash.
image-%: agent system-deps
	rootfs-build/image.sh $* build/images

images: $(addprefix image-,$(RUNTIME))

verify-images: images
	rootfs-build/verify-images.sh $(addprefix build/images/,$(addsuffix .ext4,$(RUNTIME)))

smoke: build kernel images $(VHOST_DEVICE_VSOCK)
	rootfs-build/verify-images.sh $(addprefix build/images/,$(addsuffix .ext4,$(RUNTIME)))
	RUNTIME="$(shell echo $(RUNTIME) | tr ' ' ',')" VHOST_DEVICE_VSOCK=$(VHOST_DEVICE_VSOCK) \
	  $(NODE_BIN)/vitest run --config test/smoke/vitest.config.ts

bench-vm: build kernel image-python image-go $(VHOST_DEVICE_VSOCK)
	VHOST_DEVICE_VSOCK=$(VHOST_DEVICE_VSOCK) node --import tsx test/bench/vm.ts --runs $(BENCH_VM_RUNS)

demo: build kernel image-python $(VHOST_DEVICE_VSOCK)
	VHOST_DEVICE_VSOCK=$(VHOST_DEVICE_VSOCK) node --import tsx test/smoke/demo.ts

clean:
	rm -rf build shared/dist agent/dist
