# strata: build, test and demo. `make demo` and `make test` are all a fresh
# Debian machine needs; both install missing system packages first.

GO      ?= go
PREFIX  ?= /usr
DESTDIR ?=
BIN     := bin
# Build tags used by build, test and vet alike. containers_image_openpgp keeps
# containers/image's signature verification pure Go (no gpgme); only the docker,
# oci and oci-archive transports are imported, so no storage driver is linked.
# A plain `go vet ./...` without tags also works (it type-checks the gpgme
# variant, hence libgpgme-dev in DEBS).
GOTAGS  := containers_image_openpgp

# Debian packages strata builds and tests with (checked with dpkg, installed when missing).
DEBS := gcc pkgconf ostree libostree-dev libglib2.0-dev libglib2.0-bin rpm createrepo-c \
        bubblewrap busybox-static dbus-daemon dbus-bin systemd polkitd libsolv-dev libsolvext-dev jq \
        docker-registry umoci buildah skopeo gnupg libgpgme-dev sqlite3 \
        qemu-system-x86 ostree-boot cpio kmod e2fsprogs openssl \
        cockpit-ws cockpit-bridge chromium

.PHONY: all build deps test test-vm demo bench install clean fmt vet

all: build

build:
	$(GO) build -tags '$(GOTAGS)' -o $(BIN)/stratad ./cmd/stratad
	CGO_ENABLED=0 $(GO) build -tags '$(GOTAGS)' -o $(BIN)/strata ./cmd/strata
	$(GO) build -tags '$(GOTAGS)' -o $(BIN)/strata-compose ./cmd/strata-compose
	$(GO) build -tags '$(GOTAGS)' -o $(BIN)/strata-image-proxy ./cmd/strata-image-proxy
	ln -sf strata $(BIN)/rpm-ostree

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing missing packages:" $$missing; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

# The end-to-end tests drive bin/strata and bin/stratad; they need root (a sysroot,
# a private system bus).
test: deps build
	$(GO) vet -tags '$(GOTAGS)' ./...
	STRATA_BIN=$(CURDIR)/$(BIN) $(GO) test -tags '$(GOTAGS)' -count=1 -timeout 30m ./...

# The boot proof alone: deployments strata writes, booted in qemu (part of `make test`).
test-vm: deps build
	STRATA_BIN=$(CURDIR)/$(BIN) $(GO) test -tags '$(GOTAGS)' -count=1 -timeout 20m -run 'TestVM' -v ./tests/e2e

# COCKPIT=1 serves the demo host to a browser through strata's Cockpit page
# (cockpit-ws on 127.0.0.1:$(COCKPIT_PORT), no login) until Ctrl-C, instead of
# the command-line walkthrough.
COCKPIT      ?=
COCKPIT_PORT ?= 9090
demo: deps build
	$(GO) run -tags '$(GOTAGS)' ./tests/demo -strata $(BIN)/strata -stratad $(BIN)/stratad \
		-policy dbus-policy/org.projectatomic.rpmostree1.conf \
		$(if $(COCKPIT),-cockpit cockpit -cockpit-port $(COCKPIT_PORT))

# Benchmarks: ratios against baselines timed in the same run (bench/README.md).
# The bench installs Debian's dnf itself if it is missing (depsolve baseline).
bench: deps build
	$(GO) run -tags '$(GOTAGS)' ./bench -strata $(BIN)/strata -stratad $(BIN)/stratad \
		-policy dbus-policy/org.projectatomic.rpmostree1.conf

install: build
	install -D -m 0755 $(BIN)/stratad $(DESTDIR)$(PREFIX)/libexec/stratad
	install -D -m 0755 $(BIN)/strata-image-proxy $(DESTDIR)$(PREFIX)/libexec/strata-image-proxy
	install -D -m 0755 $(BIN)/strata $(DESTDIR)$(PREFIX)/bin/strata
	install -D -m 0755 $(BIN)/strata-compose $(DESTDIR)$(PREFIX)/bin/strata-compose
	ln -sf strata $(DESTDIR)$(PREFIX)/bin/rpm-ostree
	install -D -m 0644 dbus-policy/org.projectatomic.rpmostree1.conf \
		$(DESTDIR)$(PREFIX)/share/dbus-1/system.d/org.projectatomic.rpmostree1.conf
	install -D -m 0644 dbus-policy/org.projectatomic.rpmostree1.policy \
		$(DESTDIR)$(PREFIX)/share/polkit-1/actions/org.projectatomic.rpmostree1.policy
	install -D -m 0644 systemd-units/org.projectatomic.rpmostree1.service \
		$(DESTDIR)$(PREFIX)/share/dbus-1/system-services/org.projectatomic.rpmostree1.service
	for u in stratad.service strata-automatic.service strata-automatic.timer; do \
		install -D -m 0644 systemd-units/$$u $(DESTDIR)$(PREFIX)/lib/systemd/system/$$u; done
	# rpm-ostree's unit names resolve to strata's (a symlinked unit is an alias).
	ln -sf stratad.service $(DESTDIR)$(PREFIX)/lib/systemd/system/rpm-ostreed.service
	ln -sf strata-automatic.service $(DESTDIR)$(PREFIX)/lib/systemd/system/rpm-ostreed-automatic.service
	ln -sf strata-automatic.timer $(DESTDIR)$(PREFIX)/lib/systemd/system/rpm-ostreed-automatic.timer
	# The Cockpit page (cockpit-ws finds it under share/cockpit/strata).
	for f in cockpit/*.json cockpit/*.html cockpit/*.js cockpit/*.css; do \
		install -D -m 0644 $$f $(DESTDIR)$(PREFIX)/share/cockpit/strata/$${f#cockpit/}; done
	# The commented default configuration; an administrator's file is kept.
	[ -e $(DESTDIR)/etc/rpm-ostreed.conf ] || install -D -m 0644 config/rpm-ostreed.conf $(DESTDIR)/etc/rpm-ostreed.conf

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet -tags '$(GOTAGS)' ./...

clean:
	rm -rf $(BIN)
