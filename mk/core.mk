# The core crate: the suite again with every backend forced through
# KPOLL_BACKEND, so that AUTO's choice is exercised too.
DEB_PACKAGES += build-essential
