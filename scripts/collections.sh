#!/usr/bin/env bash
# Placeholder replaced by the playbooks work: installs community.general and ansible.posix offline.
set -euo pipefail
