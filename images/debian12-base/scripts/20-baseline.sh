#!/bin/bash
# Step 2: the image baseline. Packages from packages.txt, key-only SSH, no users, no
# environment-specific data, and the /etc/samakia-image stamp.
set -euo pipefail

# Run a command inside the root, with /proc mounted in a private mount namespace: the mount
# disappears with the command, so nothing can leak onto the host or into the tarball.
in_root() {
  unshare --mount --propagation private -- /bin/sh -c \
    'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$ROOTFS" "$@"
}

# No daemon may start inside the build root.
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"

# Build-time apt source: the pinned mirror (a snapshot's Release files are expired by design).
apt_opts=()
if [ -n "$SNAPSHOT" ]; then
  apt_opts=(-o Acquire::Check-Valid-Until=false)
fi
echo "deb $MIRROR $SUITE main" >"$ROOTFS/etc/apt/sources.list"

# The configuration the baseline owns (sshd drop-in and friends), root-owned, 0644. Before the
# packages: postgresql-common reads its createcluster.d at install time (no cluster in the image).
(cd "$FILES_DIR" && find . -type f | sort) | while read -r f; do
  install -D -m 0644 -o root -g root "$FILES_DIR/$f" "$ROOTFS/$f"
done

packages=$(grep -v -e '^#' -e '^[[:space:]]*$' "$PACKAGES_FILE" | tr '\n' ' ')
echo "20-baseline: installing $packages"
export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
in_root apt-get "${apt_opts[@]}" -qq update >"$WORK_DIR/apt.log" 2>&1 || { cat "$WORK_DIR/apt.log" >&2; exit 1; }
# shellcheck disable=SC2086
in_root apt-get "${apt_opts[@]}" -y -qq --no-install-recommends install $packages \
  >>"$WORK_DIR/apt.log" 2>&1 || { tail -n 40 "$WORK_DIR/apt.log" >&2; exit 1; }

# Services the packages enabled stay off until the configuration policy enables a profile's
# own: a database container runs no resolver, and no daemon runs with its packaged defaults.
for unit in unbound.service postgresql.service; do
  if [ -e "$ROOTFS/lib/systemd/system/$unit" ]; then
    in_root systemctl disable --quiet "$unit"
  fi
done

# Record exactly which archive state the base came from (for the catalog's sources).
for rel in "$ROOTFS"/var/lib/apt/lists/*_InRelease; do
  printf '%s %s %s\n' "$MIRROR/dists/$SUITE/InRelease" "$(sha256sum "$rel" | cut -d' ' -f1)" \
    "$(sed -n 's/^Date: //p' "$rel" | head -n1 | tr ' ' '_')"
done >"$WORK_DIR/base-release.txt"

# Containers use the ordinary Debian mirrors, not the build's (possibly snapshot) mirror.
cat >"$ROOTFS/etc/apt/sources.list" <<SOURCES
deb http://deb.debian.org/debian $SUITE main
deb http://deb.debian.org/debian $SUITE-updates main
deb http://security.debian.org/debian-security $SUITE-security main
SOURCES

# Key-only SSH: the effective configuration must say so (checked with the image's own sshd).
ssh-keygen -q -t ed25519 -N '' -f "$WORK_DIR/probe_host_key"
install -m 0600 "$WORK_DIR/probe_host_key" "$ROOTFS/run/probe_host_key"
mkdir -p "$ROOTFS/run/sshd"
effective=$(in_root /usr/sbin/sshd -T -h /run/probe_host_key)
rm -f "$ROOTFS/run/probe_host_key" "$WORK_DIR"/probe_host_key*
for want in "passwordauthentication no" "kbdinteractiveauthentication no" \
  "permitrootlogin without-password" "authenticationmethods publickey" "permitemptypasswords no"; do
  grep -qx "$want" <<<"$effective" || { echo "20-baseline: sshd is not key-only: missing '$want'" >&2; exit 1; }
done

# No users: only Debian's system accounts (uid < 1000, and nobody), none with a usable password.
awk -F: '$3 >= 1000 && $1 != "nobody" {print "20-baseline: unexpected user " $1; bad=1} END {exit bad}' \
  "$ROOTFS/etc/passwd"
awk -F: '$2 !~ /^[!*]/ {print "20-baseline: account with a password: " $1; bad=1} END {exit bad}' \
  "$ROOTFS/etc/shadow"

# The stamp: what this template is and where it came from.
build_time=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
cat >"$ROOTFS/etc/samakia-image" <<STAMP
# Samakia Fabric image stamp, written at build time. Do not edit.
FAMILY=$FAMILY
VERSION=$VERSION
BUILD_TIME=$build_time
GIT_COMMIT=$GIT_COMMIT
TEMPLATE_DIGEST=$TEMPLATE_DIGEST
BASE_SUITE=$SUITE
MIRROR=$MIRROR
ARCH=$ARCH
STAMP
chmod 0644 "$ROOTFS/etc/samakia-image"
echo "20-baseline: stamped $FAMILY $VERSION ($build_time)"
