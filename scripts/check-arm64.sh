#!/bin/sh
# Prove the Raspberry Pi install on arm64: build a Debian bookworm arm64 root
# with debootstrap, run it through qemu-user-static (binfmt_misc), and inside
# it, as a user `pi` with sudo as on Raspberry Pi OS:
#   1. docs/deploy.md's steps 2 and 3, read from the file and run as written
#      (runtime only: no torch), except that the tree is copied in instead of
#      cloned (only Debian's and PyPI's registries are reachable from here);
#   2. `edged parse`, with and without the config;
#   3. `make broker` (the broker `make run` starts: dash, non-root, sudo for
#      the Debian packages), the installed daemon on it, an utterance in and
#      the device command and the result out, SIGTERM and `offline`;
#   4. Debian's own mosquitto on 1883 and `make broker BROKER_PORT=1883`: the
#      clear message about a foreign broker;
#   5. `make run` itself (its own venv, the broker, the daemon), and a round trip.
# Emulation proves the install and the wheels, not speed.
#
#   sudo scripts/check-arm64.sh [ROOT]        (default /var/tmp/edged-arm64/root)
#
# Environment: MIRROR (default: the Debian mirror of this machine's apt
# sources), SECURITY_MIRROR (likewise), REUSE=1 (keep an existing root from an
# earlier run: skips debootstrap), MAKE_RUN=0 (skip step 5).
# Not part of `make test`: it takes 10-40 minutes and needs root.
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${1:-/var/tmp/edged-arm64/root}
SUITE=bookworm
REUSE=${REUSE:-0}
MAKE_RUN=${MAKE_RUN:-1}
# The CPU qemu emulates: a Raspberry Pi 4's (cortex-a72) or 5's (cortex-a76).
# Not qemu's default "max": with it onnxruntime 1.32 picked kernels that
# qemu 7.2 runs wrongly here ("turn off the kitchen lights" parsed as not
# recognised, confidence 0.23), while cortex-a72, -a76, neoverse-n1 and
# a64fx all gave HassTurnOff at 1.000.
QEMU_CPU=${QEMU_CPU:-cortex-a72}
export QEMU_CPU
START=$(date +%s)

say() { printf '\n=== [%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
fail() { printf 'check-arm64: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "needs root (debootstrap, chroot, mounts)"
  exec sudo MIRROR="${MIRROR:-}" SECURITY_MIRROR="${SECURITY_MIRROR:-}" REUSE="$REUSE" \
    MAKE_RUN="$MAKE_RUN" QEMU_CPU="$QEMU_CPU" sh "$0" "$@"
fi
case $ROOT in /*) ;; *) fail "ROOT must be an absolute path (got $ROOT)" ;; esac
[ "$ROOT" != / ] || fail "ROOT must not be /"

# The mirror this machine's apt uses (deb822 .sources or one-line .list).
host_uri() {
  suffix=$1
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed -n "s|^URIs:[[:space:]]*\\([^[:space:]]*/$suffix\\)/\\{0,1\\}[[:space:]]*\$|\\1|p" "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -n "s|^deb[[:space:]]\\{1,\\}\\(\\[[^]]*\\][[:space:]]\\{1,\\}\\)\\{0,1\\}\\([^[:space:]]*/$suffix\\)/\\{0,1\\}[[:space:]].*|\\2|p" "$f"
  done
}
MIRROR=${MIRROR:-$(host_uri debian | head -n 1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-$(host_uri debian-security | head -n 1)}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# shellcheck disable=SC1091  # the host's own file
say "host: $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME"); mirror $MIRROR; root $ROOT"

# --- host tools --------------------------------------------------------------
missing=""
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
[ -x /usr/bin/qemu-aarch64-static ] || missing="$missing qemu-user-static"
command -v update-binfmts >/dev/null 2>&1 || missing="$missing binfmt-support"
if [ -n "$missing" ]; then
  say "installing on the host:$missing"
  apt-get update -qq
  # shellcheck disable=SC2086  # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

# --- binfmt_misc: run arm64 binaries through qemu ------------------------------
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
    fail "cannot mount binfmt_misc (a container without it?): arm64 programs cannot run here"
fi
update-binfmts --enable qemu-aarch64 2>/dev/null || true
entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
if ! { [ -f "$entry" ] && head -n 1 "$entry" | grep -q enabled; }; then
  fail "qemu-aarch64 is not registered with binfmt_misc (update-binfmts --enable qemu-aarch64 failed)"
fi
# sudo inside the root needs its setuid bit honoured, which binfmt_misc does
# only with the C (credentials) flag; Debian registers qemu-aarch64 without it
# ("effective uid is not 0"). So while this runs, that entry is switched off
# and one of ours with the same magic and flags OCF stands in; both are put
# back on exit.
OURS=/proc/sys/fs/binfmt_misc/edged-check-aarch64
binfmt_restore() {
  if [ -f "$OURS" ]; then echo -1 >"$OURS" || true; fi
  if [ -f "$entry" ]; then echo 1 >"$entry" || true; fi
}
if ! sed -n 's/^flags: //p' "$entry" | grep -q C; then
  magic=$(sed -n 's/^magic //p' "$entry" | sed 's/../\\x&/g')
  mask=$(sed -n 's/^mask //p' "$entry" | sed 's/../\\x&/g')
  [ -f "$OURS" ] && echo -1 >"$OURS"
  echo 0 >"$entry"
  printf ':edged-check-aarch64:M:0:%s:%s:/usr/bin/qemu-aarch64-static:OCF\n' "$magic" "$mask" \
    >/proc/sys/fs/binfmt_misc/register ||
    { echo 1 >"$entry"; fail "could not register qemu-aarch64 with the C flag (sudo needs it)"; }
  entry_used=$OURS
  trap binfmt_restore EXIT
else
  entry_used=$entry
fi
say "binfmt_misc: $(basename "$entry_used"), $(sed -n 's/^flags: /flags /p' "$entry_used"), $(sed -n 's/^interpreter //p' "$entry_used")"

# --- the root --------------------------------------------------------------------
mounted() { grep -q " $ROOT/" /proc/mounts; }
# The pids of processes inside the root whose command line matches $1.
root_pids() {
  for dir in /proc/[0-9]*; do
    [ "$(readlink "$dir/root" 2>/dev/null)" = "$ROOT" ] || continue
    tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -q -- "$1" && echo "${dir#/proc/}"
  done
  return 0
}
cleanup() {
  # Processes first (nothing may keep the mounts busy), then the mounts.
  for pid in $(root_pids .); do kill "$pid" 2>/dev/null || true; done
  sleep 1
  for m in dev/pts dev proc/cpuinfo proc sys; do
    if grep -q " $ROOT/$m " /proc/mounts; then umount -l "$ROOT/$m" || true; fi
  done
  binfmt_restore
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$REUSE" = 1 ] && [ -x "$ROOT/bin/sh" ]; then
  say "reusing the root from an earlier run"
else
  ! mounted || fail "$ROOT still has mounts: umount them first (see /proc/mounts)"
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  say "debootstrap --arch=arm64 --variant=minbase $SUITE"
  debootstrap --arch=arm64 --variant=minbase --include=ca-certificates,sudo \
    "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 ||
    { tail -n 30 "$ROOT.debootstrap.log"; fail "debootstrap failed (log: $ROOT.debootstrap.log)"; }
  say "debootstrap done"
fi
# Without binfmt's F flag the interpreter must exist inside the root too.
cp /usr/bin/qemu-aarch64-static "$ROOT/usr/bin/"
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
# No services start inside a chroot (Debian's mosquitto is started by hand in step 4).
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# debootstrap leaves no /etc/hosts: localhost (the example config's broker,
# mosquitto_pub's default) and the host name sudo resolves, as on a Pi.
grep -q "[[:space:]]localhost\$" "$ROOT/etc/hosts" 2>/dev/null ||
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >>"$ROOT/etc/hosts"
grep -q "[[:space:]]$(hostname)\$" "$ROOT/etc/hosts" ||
  printf '127.0.1.1\t%s\n' "$(hostname)" >>"$ROOT/etc/hosts"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
# qemu-user 7.2 shows arm64 programs this machine's own (x86) /proc/cpuinfo,
# and onnxruntime's CPU detection crashes on it at import (SIGSEGV). The
# root gets a Pi's instead, for the CPU qemu emulates.
case $QEMU_CPU in
  cortex-a72) part=0xd08 features="fp asimd evtstrm crc32 cpuid" model="Raspberry Pi 4 Model B" ;;
  cortex-a76) part=0xd0b model="Raspberry Pi 5 Model B"
    features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
  *) fail "QEMU_CPU must be cortex-a72 (a Pi 4) or cortex-a76 (a Pi 5) (got $QEMU_CPU)" ;;
esac
CPUINFO=$ROOT.cpuinfo
: >"$CPUINFO"
n=0
while [ "$n" -lt "$(nproc)" ]; do
  printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: 1\n\n' \
    "$n" "$features" "$part" >>"$CPUINFO"
  n=$((n + 1))
done
printf 'Model\t\t: %s\n' "$model" >>"$CPUINFO"
mount --bind "$CPUINFO" "$ROOT/proc/cpuinfo"
# Every process in the root, through su and sudo too, runs on that CPU.
grep -v '^QEMU_CPU=' "$ROOT/etc/environment" >"$ROOT/etc/environment.new" 2>/dev/null || true
echo "QEMU_CPU=$QEMU_CPU" >>"$ROOT/etc/environment.new"
mv "$ROOT/etc/environment.new" "$ROOT/etc/environment"
say "emulated CPU: $QEMU_CPU ($model), $(nproc) cores"

# A host behind a TLS-inspecting proxy trusts its CA through
# /usr/local/share/ca-certificates; the root must too, or pip cannot reach
# PyPI. pip is pointed at the system bundle, which a pip from PyPI (after
# `pip install --upgrade pip`) would otherwise not use. A Pi does not need this.
EXTRA_CA=""
for crt in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$crt" ] || continue
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  cp "$crt" "$ROOT/usr/local/share/ca-certificates/"
  EXTRA_CA="$EXTRA_CA $(basename "$crt")"
done
if [ -n "$EXTRA_CA" ]; then
  say "this host trusts extra CAs (a TLS-inspecting proxy):$EXTRA_CA; the root trusts them too"
  chroot "$ROOT" update-ca-certificates >/dev/null
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOT/etc/pip.conf"
fi

# --- what Raspberry Pi OS Lite already has: python3, sudo, a user pi -------------
say "the Pi's baseline: python3 and a user 'pi' with sudo"
chroot "$ROOT" /bin/sh -eu <<'EOF'
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 make >/dev/null
id pi >/dev/null 2>&1 || useradd --create-home --shell /bin/bash pi
echo 'pi ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/010_pi-nopasswd
chmod 0440 /etc/sudoers.d/010_pi-nopasswd
echo "$(uname -m) $(. /etc/os-release && echo "$PRETTY_NAME"), $(python3 --version)"
EOF

# The tree as `git clone` would give it: what is committed (git archive).
rm -rf "$ROOT/home/pi/edged"
mkdir -p "$ROOT/home/pi/edged"
git -C "$REPO" archive --format=tar HEAD | tar -x -C "$ROOT/home/pi/edged"
say "copied $(git -C "$REPO" rev-parse --short HEAD) of $REPO to /home/pi/edged"

# docs/deploy.md, sections 2 and 3: the ```sh blocks, as written, except the
# clone (done above), sudoedit (interactive) and the foreground `edged run`,
# which step 3 below runs in the background.
awk '
  /^## / { inside = ($0 ~ /^## 2\. / || $0 ~ /^## 3\. /) }
  inside && /^```sh/ { code = 1; next }
  inside && /^```/ { code = 0; next }
  inside && code { print }
' "$REPO/docs/deploy.md" >"$ROOT/home/pi/deploy-steps.all"
grep -q 'pip install' "$ROOT/home/pi/deploy-steps.all" || fail "no install steps found in docs/deploy.md"
{
  echo "set -eux"
  sed -e 's|^git clone .* && cd ~/edged$|cd ~/edged|' \
    -e '/^sudoedit /d' -e '/edged run --config/d' "$ROOT/home/pi/deploy-steps.all"
} >"$ROOT/home/pi/deploy-steps.sh"
grep 'edged run --config' "$ROOT/home/pi/deploy-steps.all" | head -n 1 >"$ROOT/home/pi/foreground-run"
[ -s "$ROOT/home/pi/foreground-run" ] || fail "no foreground 'edged run' in docs/deploy.md"
chroot "$ROOT" chown -R pi:pi /home/pi

as_pi() { chroot "$ROOT" su - pi -c "$1"; }

say "step 1: docs/deploy.md sections 2 and 3, as pi"
cat "$ROOT/home/pi/deploy-steps.sh"
as_pi 'sh ~/deploy-steps.sh'
say "installed: $(as_pi '/opt/edged/venv/bin/python -c "import platform, onnxruntime, tokenizers; print(platform.machine(), \"onnxruntime\", onnxruntime.__version__, onnxruntime.get_available_providers(), \"tokenizers\", tokenizers.__version__)"')"
as_pi '! /opt/edged/venv/bin/python -c "import torch" 2>/dev/null && ! /opt/edged/venv/bin/python -c "import transformers" 2>/dev/null && echo "no torch, no transformers"'
as_pi 'du -sh /opt/edged/venv | sed "s/\t.*/ in \/opt\/edged\/venv/"'
as_pi '/opt/edged/venv/bin/pip list --format=freeze 2>/dev/null | tr "\n" " "; echo'

say "step 2: edged parse"
# shellcheck disable=SC2016  # expanded by the shell inside the root
as_pi 'set -e
echo "QEMU_CPU=$QEMU_CPU in the root; $(grep -m1 "CPU part" /proc/cpuinfo)"
export EDGED_MODEL_DIR=/opt/edged/models/edged-nlu
/opt/edged/venv/bin/edged parse "turn off the kitchen lights" | tee /tmp/parse-1
grep -q "^intent: *HassTurnOff" /tmp/parse-1
/opt/edged/venv/bin/edged parse --config /etc/edged/config.yaml --site kitchen "dim the lights to 30 percent" | tee /tmp/parse-2
grep -q "^intent: *HassLightSet" /tmp/parse-2'

say "step 3: make broker (as pi), the installed daemon on it, a round trip"
as_pi 'cd ~/edged && make broker'
FOREGROUND=$(cat "$ROOT/home/pi/foreground-run")
echo "the daemon, as docs/deploy.md runs it in the foreground: $FOREGROUND"
as_pi "cd ~/edged && export EDGED_MQTT_PORT=11883 && $FOREGROUND" >"$ROOT/tmp/edged.log" 2>&1 &
DAEMON=$!
stop_daemon() {
  # The Python process only: su's and sh's command lines name `edged run` too.
  for pid in $(root_pids 'bin/python.*bin/edged run --config'); do kill -TERM "$pid"; done
}
trip=0
# shellcheck disable=SC2016  # expanded by the shell inside the root
as_pi 'set -e
mosquitto_sub -p 11883 -t edged/status -C 1 -W 300 | grep -qx online
echo "edged/status: online"
mosquitto_sub -p 11883 -v -t "zigbee2mqtt/#" -C 2 -W 120 >/tmp/commands &
commands=$!
mosquitto_sub -p 11883 -t edged/result -C 1 -W 120 >/tmp/result &
result=$!
sleep 2
mosquitto_pub -p 11883 -q 1 -t edged/utterance -m "{\"text\": \"turn off the kitchen lights\", \"id\": \"arm64-1\"}"
wait $commands
wait $result
cat /tmp/commands
echo "edged/result $(cat /tmp/result)"
grep -q "^zigbee2mqtt/Kitchen Ceiling/set {\"state\":\"OFF\"}" /tmp/commands
grep -q "\"status\": *\"executed\"" /tmp/result' || trip=1
stop_daemon
rc=0
wait "$DAEMON" || rc=$?
printf 'edged/status after SIGTERM: '
as_pi 'mosquitto_sub -p 11883 -t edged/status -C 1 -W 10' || true
say "daemon exit status after SIGTERM: $rc; its log:"
cat "$ROOT/tmp/edged.log"
[ "$trip" -eq 0 ] || fail "no round trip through the installed daemon"
[ "$rc" -eq 0 ] || fail "the daemon did not exit 0 on SIGTERM"
as_pi 'cd ~/edged && make broker-stop'

say "step 4: Debian's mosquitto holds 1883 (no set_tcp_nodelay): make broker BROKER_PORT=1883"
chroot "$ROOT" sh -c 'install -d -o mosquitto /run/mosquitto && mosquitto -d -c /etc/mosquitto/mosquitto.conf'
sleep 2
rc=0
as_pi 'cd ~/edged && make broker BROKER_PORT=1883' || rc=$?
for pid in $(root_pids mosquitto); do kill "$pid"; done
[ "$rc" -ne 0 ] || fail "make broker on a foreign broker's port should have failed"
echo "(make broker refused, exit status $rc, as it should)"

if [ "$MAKE_RUN" = 1 ]; then
  say "step 5: make run (as pi): its own venv, the broker, the daemon"
  as_pi 'cd ~/edged && make run' >"$ROOT/tmp/make-run.log" 2>&1 &
  MAKE_PID=$!
  trip=0
  # make run first builds its venv (pip, emulated: minutes); the broker and
  # then the daemon come up after that.
  # shellcheck disable=SC2016  # expanded by the shell inside the root
  if as_pi 'end=$(($(date +%s) + 1200))
while [ "$(date +%s)" -lt "$end" ]; do
  mosquitto_sub -p 11883 -t edged/status -C 1 -W 30 2>/dev/null | grep -qx online && exit 0
  sleep 5
done
exit 1'; then
    say "make run: online"
    # shellcheck disable=SC2016  # expanded by the shell inside the root
    as_pi 'set -e
mosquitto_sub -p 11883 -v -t edged/result -C 1 -W 120 >/tmp/make-run-trip &
sub=$!
sleep 2
mosquitto_pub -p 11883 -q 1 -t edged/kitchen/utterance -m "{\"text\": \"turn on the lights\", \"id\": \"arm64-2\"}"
wait $sub
cat /tmp/make-run-trip
grep -q "\"status\": *\"executed\"" /tmp/make-run-trip' || trip=1
  else
    echo "make run did not come online within 20 min"
    trip=1
  fi
  stop_daemon
  wait "$MAKE_PID" || true
  say "make run's output:"
  cat "$ROOT/tmp/make-run.log"
  as_pi 'cd ~/edged && make broker-stop'
  [ "$trip" -eq 0 ] || fail "make run: no round trip"
fi

say "all steps passed in $(($(date +%s) - START)) s"
