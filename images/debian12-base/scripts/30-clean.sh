#!/bin/bash
# Step 3: remove everything machine-, build- or time-specific. Proxmox generates SSH host keys
# and writes hostname, hosts, resolv.conf and network config at container creation; systemd
# generates the machine-id on first boot.
set -euo pipefail
cd "$ROOTFS"

rm -f usr/sbin/policy-rc.d

# SSH host keys and identities.
rm -f etc/ssh/ssh_host_*
: >etc/machine-id
rm -f var/lib/dbus/machine-id var/lib/systemd/random-seed var/lib/systemd/credential.secret

# Keys package scripts generated at build time (ssl-cert's snakeoil pair, pulled in by
# postgresql-common): every container would share them. The policy generates its own.
rm -f etc/ssl/private/ssl-cert-snakeoil.key etc/ssl/certs/ssl-cert-snakeoil.pem
if found=$(grep -rlI -e 'PRIVATE KEY-----' etc 2>/dev/null) && [ -n "$found" ]; then
  echo "30-clean: private keys left in the image: $found" >&2
  exit 1
fi

# Environment-specific files debootstrap copies from the build host.
rm -f etc/hostname etc/resolv.conf
echo localhost >etc/hostname
: >etc/resolv.conf
chmod 0644 etc/hostname etc/resolv.conf

# Package caches, indexes, backups and logs.
rm -rf var/lib/apt/lists/* var/cache/apt/* var/cache/ldconfig/aux-cache
mkdir -p var/lib/apt/lists/partial var/cache/apt/archives/partial
rm -f var/cache/debconf/*-old var/lib/dpkg/*-old etc/*- etc/.pwd.lock
find var/log -type f -delete
rm -rf tmp/* tmp/.[!.]* var/tmp/* root/.bash_history root/.cache

# Python bytecode is generated per machine on first use; compiled files are not reproducible.
find usr -depth -type d -name __pycache__ -exec rm -rf {} +

# /dev is provided by LXC (autodev); device nodes in the tarball break unprivileged restores.
find dev -mindepth 1 -delete

# Nothing may be mounted inside the root when it is packed.
if grep -q " $ROOTFS/" /proc/mounts; then
  echo "30-clean: something is still mounted under $ROOTFS" >&2
  exit 1
fi
echo "30-clean: $(du -sh --apparent-size . | cut -f1) left"
