#!/bin/sh
# The Debian packages edged's make targets need, installed when missing.
#
#   scripts/apt-deps.sh         for make run: python3-venv, mosquitto, mosquitto-clients
#   scripts/apt-deps.sh --test  for make test as well: systemd-analyze (the unit tests),
#                               openssl (test certificates), shellcheck (these scripts)
#   scripts/apt-deps.sh --list  only print what is missing (nothing is installed)
#
# Uses sudo unless it already runs as root. POSIX sh: make runs recipes with
# /bin/sh, which is dash on Debian and Raspberry Pi OS.
set -eu

PYTHON=${PYTHON:-python3}
want_test=0
list_only=0
for arg in "$@"; do
  case $arg in
    --test) want_test=1 ;;
    --list) list_only=1 ;;
    *) printf 'usage: %s [--test] [--list]\n' "$0" >&2; exit 2 ;;
  esac
done

have() { command -v "$1" >/dev/null 2>&1; }

missing=""
add() { missing="$missing $1"; }

have "$PYTHON" || add python3
# Debian splits venv's pip bootstrap (ensurepip) into python3-venv; without it
# `python3 -m venv` fails half way and leaves a venv without pip.
if have "$PYTHON" && ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then
  add python3-venv
fi
have mosquitto || [ -x /usr/sbin/mosquitto ] || add mosquitto
have mosquitto_pub || add mosquitto-clients
if [ "$want_test" -eq 1 ]; then
  have systemd-analyze || add systemd
  have openssl || add openssl
  have shellcheck || add shellcheck
fi

if [ "$list_only" -eq 1 ]; then
  # shellcheck disable=SC2086  # one line per package
  [ -z "$missing" ] || printf '%s\n' $missing
  exit 0
fi
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif have sudo; then
  SUDO=sudo
else
  printf 'apt-deps: these Debian packages are missing:%s\n' "$missing" >&2
  printf 'apt-deps: install them as root (apt-get install%s), or install sudo\n' "$missing" >&2
  exit 1
fi
printf 'installing Debian packages:%s\n' "$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086  # one word per package
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
