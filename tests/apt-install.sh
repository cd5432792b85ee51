#!/bin/sh
# apt-install.sh WHO PACKAGE...: install Debian packages with apt-get (through sudo when not root),
# saying so in lines that start with WHO; where that cannot work, print the command to run instead.
# Exit status 0 when every package is installed. Shared by `make test` (tests/ensure-check.sh) and
# `make data` (tests/data/make-data.sh).
who=$1
shift
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: needs the Debian packages $* (apt-get is not here to install them)" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "$who: missing packages; as root run: apt-get install -y $*" >&2
    exit 1
fi
echo "$who: installing $* with ${sudo:+sudo }apt-get"
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get install -y -q "$@" >/dev/null 2>&1 ||
       { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q "$@" >/dev/null; }; }; then
    echo "$who: could not install them; run: sudo apt-get update && sudo apt-get install -y $*" >&2
    exit 1
fi
