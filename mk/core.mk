# The core crate: the suite again with every backend forced through
# KPOLL_BACKEND, so that AUTO's choice is exercised too.
DEB_PACKAGES += build-essential

# The backends of other systems cannot run here; their code is at least
# compiled and linted for those targets, when rustup can provide them.
CROSS_TARGETS := x86_64-unknown-freebsd x86_64-apple-darwin x86_64-unknown-netbsd x86_64-unknown-illumos

.PHONY: check-targets test-backends
TEST_TARGETS += check-targets test-backends

check-targets:
	@for t in $(CROSS_TARGETS); do \
	    if rustup target list --installed 2>/dev/null | grep -qx "$$t" || \
	       rustup target add "$$t" >/dev/null 2>&1; then \
	        echo "clippy -p kpoll --target $$t"; \
	        $(CARGO) clippy -q -p kpoll --lib --target "$$t" -- -D warnings || exit 1; \
	    else \
	        echo "check-targets: $$t unavailable, skipped"; \
	    fi; \
	done

# The conformance suite picks its backends itself; this runs AUTO's choice
# through KPOLL_BACKEND for each backend of this host.
test-backends:
	@for b in epoll poll select; do \
	    echo "AUTO with KPOLL_BACKEND=$$b"; \
	    KPOLL_BACKEND=$$b $(CARGO) test -q -p kpoll --test auto_backend || exit 1; \
	done
	@echo "conformance suite with pipe wake sources (KPOLL_WAKE=pipe)"
	KPOLL_WAKE=pipe $(CARGO) test -q -p kpoll --tests
