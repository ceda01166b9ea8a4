#!/usr/bin/env bash
# Static checks of the playbooks: yamllint, ansible-lint (production profile, offline) and
# ansible-playbook --syntax-check. Called by scripts/lint.sh and by the playbook test tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
case ":$PATH:" in *":$PWD/$bin:"*) ;; *) export PATH="$PWD/$bin:$PATH" ;; esac
export ANSIBLE_CONFIG="$PWD/playbooks/ansible.cfg"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

echo "lint: yamllint playbooks"
"$bin/yamllint" --strict -c .yamllint playbooks .yamllint .ansible-lint

echo "lint: ansible-lint (production profile, offline)"
"$bin/ansible-lint" --offline -c .ansible-lint --profile production --strict --nocolor -q playbooks

echo "lint: ansible-playbook --syntax-check"
"$bin/ansible-playbook" --syntax-check -i localhost, playbooks/site.yml >/dev/null
echo "lint: playbooks clean"
