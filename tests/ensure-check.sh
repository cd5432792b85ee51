#!/bin/sh
# Makes sure the Check unit-test library and pkg-config are there before `make test` builds the tests.
# On Debian or Ubuntu it installs them with apt-get (through sudo when not root) and says so;
# elsewhere it prints the command to run. Exit status 0 when Check is usable.
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists check; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "make test: the Check library (and pkg-config) are needed; install them with your package" >&2
    echo "manager, e.g. 'brew install check pkg-config' or 'dnf install check-devel pkgconf'" >&2
    exit 1
fi
sh "$(dirname "$0")/apt-install.sh" "make test" check pkg-config || exit 1
pkg-config --exists check || { echo "make test: Check installed but pkg-config cannot find it" >&2; exit 1; }
echo "make test: Check $(pkg-config --modversion check) installed"
