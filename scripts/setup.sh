#!/usr/bin/env bash
# Install everything the project needs on a fresh Debian machine; fast and silent when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# lxc runs the local fabric's containers (lxc-usernsexec unpacks unprivileged roots; uidmap
# brings newuidmap/newgidmap); iproute2 makes the bridges.
apt_packages=(packer debootstrap zstd openssh-client git make ca-certificates shellcheck lxc uidmap iproute2)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Unprivileged containers map root to 100000 (Proxmox's default id map): the host must delegate
# that range to root. Added once, idempotently; nothing else in the files is touched.
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  grep -qx 'root:100000:65536' "$f" || echo 'root:100000:65536' >> "$f"
done

# Every unprivileged container's systemd runs as host uid 100000, and each takes several inotify
# instances; the kernel's default of 128 per uid stops new containers' init at about two dozen
# (the local fleet stack runs 24: "Child ended on error (255)" in lxc.log). Raised, never lowered.
if [ "$(sysctl -n fs.inotify.max_user_instances)" -lt 1024 ]; then
  sysctl -q -w fs.inotify.max_user_instances=1024
fi

# The venv is rebuilt only when the pinned requirements change.
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements-stamp 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python requirements"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > .venv/.requirements-stamp
fi

scripts/collections.sh
