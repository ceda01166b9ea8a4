"""The converged root keeps every promise the roles make, checked on the system itself."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    ADMIN,
    ALL_PROFILES,
    EDGE_UPSTREAMS,
    HOSTNAME,
    MONITORING_TARGETS,
    POLICY_VERSION,
    Converged,
    sysctl_file_values,
)

from ops.config import rootfs


def sshd_effective(root: Path) -> dict[str, str]:
    """``sshd -T`` inside the root: the configuration sshd would really use."""
    out = rootfs.chroot(root, "/usr/sbin/sshd", "-T").stdout
    conf: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        conf[key] = f"{conf[key]} {value}" if key in conf else value
    return conf


def mode_owner(path: Path) -> tuple[str, str, str]:
    """(octal mode, owner, group) of a path, names resolved in the root's own databases."""
    st = path.lstat()
    root = path
    while not (root / "etc/passwd").exists():
        root = root.parent
    users = {int(f[2]): f[0] for f in (line.split(":") for line in (root / "etc/passwd").read_text().splitlines())}
    groups = {int(f[2]): f[0] for f in (line.split(":") for line in (root / "etc/group").read_text().splitlines())}
    return f"{stat.S_IMODE(st.st_mode):04o}", users[st.st_uid], groups[st.st_gid]


def db(root: Path, name: str) -> dict[str, list[str]]:
    """/etc/passwd, /etc/shadow or /etc/group of the root as name -> fields."""
    rows = (line.split(":") for line in (root / "etc" / name).read_text().splitlines() if line)
    return {r[0]: r[1:] for r in rows}


def installed(root: Path, package: str) -> bool:
    """Whether dpkg in the root has the package installed."""
    proc = rootfs.chroot(root, "dpkg-query", "-W", "-f=${Status}", package, check=False)
    return proc.returncode == 0 and proc.stdout == "install ok installed"


@pytest.fixture(scope="module")
def root(converged: Converged) -> Path:
    return converged.root


@pytest.fixture(scope="module")
def sshd(root: Path) -> dict[str, str]:
    return sshd_effective(root)


# --- ssh_hardening --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("permitemptypasswords", "no"),
        ("permitrootlogin", "no"),
        ("pubkeyauthentication", "yes"),
        ("authenticationmethods", "publickey"),
        ("allowgroups", "sshusers"),
        ("maxauthtries", "2"),
        ("logingracetime", "30"),
        ("x11forwarding", "no"),
        ("allowagentforwarding", "no"),
        ("allowtcpforwarding", "no"),
        ("permittunnel", "no"),
        ("permituserenvironment", "no"),
        ("hostbasedauthentication", "no"),
        ("ignorerhosts", "yes"),
        ("gssapiauthentication", "no"),
        ("usedns", "no"),
        ("compression", "no"),
        ("loglevel", "VERBOSE"),
    ],
)
def test_sshd_effective_option(sshd: dict[str, str], option: str, value: str) -> None:
    assert sshd.get(option) == value, f"sshd -T: {option}={sshd.get(option)!r}"


def test_sshd_modern_algorithms_only(sshd: dict[str, str]) -> None:
    ciphers = sshd["ciphers"].split(",")
    macs = sshd["macs"].split(",")
    kex = sshd["kexalgorithms"].split(",")
    assert ciphers[0] == "chacha20-poly1305@openssh.com"
    assert not [c for c in ciphers if "cbc" in c or "3des" in c or "arcfour" in c]
    assert all(m.endswith("-etm@openssh.com") for m in macs), macs
    assert not [m for m in macs if "sha1" in m or "md5" in m]
    assert not [k for k in kex if "sha1" in k or "nistp" in k or k.startswith("diffie-hellman-group14")]
    assert "curve25519-sha256" in kex
    host_keys = sshd["hostkey"].split()
    assert host_keys == ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"]


def test_sshd_config_file_and_moduli(root: Path) -> None:
    assert mode_owner(root / "etc/ssh/sshd_config") == ("0600", "root", "root")
    text = (root / "etc/ssh/sshd_config").read_text()
    assert "Include" not in text  # drop-ins cannot weaken the policy
    rootfs.chroot(root, "/usr/sbin/sshd", "-t")
    sizes = {
        int(line.split()[4])
        for line in (root / "etc/ssh/moduli").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert sizes and min(sizes) >= 3071, sorted(sizes)
    for key in ("ssh_host_ed25519_key", "ssh_host_rsa_key"):
        assert mode_owner(root / "etc/ssh" / key) == ("0600", "root", "root")


# --- bootstrap --------------------------------------------------------------------------------


def test_admin_user_key_only_with_sudo(root: Path, policy_vars: dict[str, Any]) -> None:
    passwd, shadow, group = db(root, "passwd"), db(root, "shadow"), db(root, "group")
    assert ADMIN in passwd
    assert passwd[ADMIN][4] == f"/home/{ADMIN}"
    assert passwd[ADMIN][-1] == "/bin/bash"
    assert shadow[ADMIN][0].startswith("!"), "admin password must be locked (key-only)"
    assert ADMIN in group["sshusers"][2].split(",")
    ssh_dir = root / "home" / ADMIN / ".ssh"
    assert mode_owner(ssh_dir) == ("0700", ADMIN, ADMIN)
    keys = ssh_dir / "authorized_keys"
    assert mode_owner(keys) == ("0600", ADMIN, ADMIN)
    assert keys.read_text().strip().splitlines() == policy_vars["fabric_admin_ssh_keys"]
    sudoers = root / "etc/sudoers.d/samakia-admin"
    assert mode_owner(sudoers) == ("0440", "root", "root")
    assert f"{ADMIN} ALL=(ALL:ALL) NOPASSWD: ALL" in sudoers.read_text()
    rootfs.chroot(root, "visudo", "-c")
    # sudo resolves the admin's rights for real, inside the root.
    listing = rootfs.chroot(root, "sudo", "-l", "-U", ADMIN).stdout
    assert "NOPASSWD: ALL" in listing


def test_root_reachable_by_key_only(root: Path, sshd: dict[str, str]) -> None:
    assert db(root, "shadow")["root"][0].startswith("!")
    assert sshd["permitrootlogin"] == "no"  # closed once hardened


def test_hostname(root: Path) -> None:
    assert (root / "etc/hostname").read_text() == f"{HOSTNAME}\n"
    assert f"127.0.1.1\t{HOSTNAME}" in (root / "etc/hosts").read_text().splitlines()


# --- os_hardening ----------------------------------------------------------------------------


def test_sysctls_written_for_a_container_never_applied(converged: Converged) -> None:
    values = sysctl_file_values(converged.root)
    assert values["net.ipv4.conf.all.accept_redirects"] == "0"
    assert values["net.ipv4.tcp_syncookies"] == "1"
    # A chroot builds a container: only per-namespace keys, no host-global ones.
    assert values and all(k.startswith("net.ipv4.") or k.startswith("net.ipv6.") for k in values), values
    # The host kernel was not touched: some written values differ from the host's, unchanged.
    differing = {k: v for k, v in values.items() if converged.host_sysctls_before.get(k, v) != v}
    assert differing, "no written key differs from the host: the check would prove nothing"
    for key in differing:
        now = (Path("/proc/sys") / key.replace(".", "/")).read_text().strip()
        assert now == converged.host_sysctls_before[key], f"host kernel {key} changed to {now}"


def test_login_defs_umask_limits_core_dumps(root: Path) -> None:
    defs = dict(
        line.split(None, 1) for line in (root / "etc/login.defs").read_text().splitlines() if line and line[0] != "#"
    )
    assert defs["UMASK"].strip() == "027"
    assert defs["ENCRYPT_METHOD"].strip() == "YESCRYPT"
    assert defs["PASS_MAX_DAYS"].strip() == "60"
    assert (root / "etc/profile.d/samakia-umask.sh").read_text().splitlines()[-1] == "umask 027"
    limits = (root / "etc/security/limits.d/10-samakia-hardening.conf").read_text()
    assert "*    hard    core      0" in limits
    assert "Storage=none" in (root / "etc/systemd/coredump.conf.d/10-samakia.conf").read_text()
    assert "DefaultLimitCORE=0" in (root / "etc/systemd/system.conf.d/10-samakia-limits.conf").read_text()
    # A login shell in the root really gets the umask.
    out = rootfs.chroot(root, "bash", "-lc", "umask").stdout.strip()
    assert out == "0027"


def test_unneeded_packages_removed(converged: Converged) -> None:
    assert installed(converged.base, "telnet")  # it was there before the policy
    for pkg in ("telnet", "inetutils-telnet"):
        assert not installed(converged.root, pkg), pkg


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("etc/shadow", ("0640", "root", "shadow")),
        ("etc/gshadow", ("0640", "root", "shadow")),
        ("etc/passwd", ("0644", "root", "root")),
        ("etc/sudoers", ("0440", "root", "root")),
        ("etc/sudoers.d", ("0750", "root", "root")),
        ("root", ("0700", "root", "root")),
        ("etc/login.defs", ("0644", "root", "root")),
    ],
)
def test_sensitive_file_modes(root: Path, path: str, expected: tuple[str, str, str]) -> None:
    assert mode_owner(root / path) == expected


def test_no_password_hashes_for_service_users(root: Path) -> None:
    passwd, shadow = db(root, "passwd"), db(root, "shadow")
    service = [u for u, f in passwd.items() if int(f[1]) < 1000]
    assert len(service) > 15  # base accounts plus the ones the packages added
    for user in service:
        pw = shadow[user][0]
        assert pw and not pw.startswith("$"), f"{user} has a password hash or an empty password"
    for user, f in shadow.items():
        assert f[0] != "", f"{user} has an empty password"


# --- baseline ---------------------------------------------------------------------------------


def test_time_sync_configured_and_enabled(root: Path) -> None:
    assert installed(root, "systemd-timesyncd")
    conf = (root / "etc/systemd/timesyncd.conf.d/10-samakia.conf").read_text()
    assert "NTP=0.debian.pool.ntp.org" in conf
    link = root / "etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service"
    assert link.is_symlink()


def test_journald_limits(root: Path) -> None:
    conf = (root / "etc/systemd/journald.conf.d/10-samakia.conf").read_text()
    assert "SystemMaxUse=256M" in conf and "Storage=persistent" in conf


def test_unattended_security_upgrades_without_reboot(root: Path) -> None:
    assert installed(root, "unattended-upgrades")
    auto = (root / "etc/apt/apt.conf.d/20auto-upgrades").read_text()
    assert 'APT::Periodic::Unattended-Upgrade "1";' in auto
    conf = (root / "etc/apt/apt.conf.d/52samakia-unattended-upgrades").read_text()
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in conf
    assert "label=Debian-Security" in conf
    assert "-security main" in (root / "etc/apt/sources.list").read_text()
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert (root / "etc/systemd/system/timers.target.wants" / timer).is_symlink()
    # apt itself reads the merged configuration as intended.
    dump = rootfs.chroot(root, "apt-config", "dump", "Unattended-Upgrade::Automatic-Reboot").stdout
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in dump


def test_policy_version_stamp(root: Path) -> None:
    path = root / "etc/samakia-fabric/policy.json"
    assert mode_owner(path) == ("0644", "root", "root")
    stamp = json.loads(path.read_text())
    assert stamp["policy_version"] == POLICY_VERSION
    assert stamp["hostname"] == HOSTNAME
    assert stamp["runtime_profiles"] == sorted(ALL_PROFILES)


# --- runtime ----------------------------------------------------------------------------------

PROFILE_EXPECTATIONS = {
    "dns": ("unbound", "unbound.service", "etc/unbound/unbound.conf.d/samakia.conf"),
    "monitoring": ("prometheus", "prometheus.service", "etc/prometheus/prometheus.yml"),
    "postgresql": ("postgresql-15", "postgresql.service", "etc/postgresql/15/main/conf.d/10-samakia.conf"),
    "object_storage": ("swift-proxy", "swift-proxy.service", "etc/swift/proxy-server.conf.d/00-samakia.conf"),
    "edge": ("nginx", "nginx.service", "etc/nginx/conf.d/20-samakia-edge.conf"),
}


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_runtime_profile(root: Path, profile: str) -> None:
    package, service, config = PROFILE_EXPECTATIONS[profile]
    assert installed(root, package)
    assert (root / config).is_file()
    if service:
        # Enablement links point at /lib/... inside the root: dangling from the host, so lexists.
        wants = [d / service for d in (root / "etc/systemd/system").glob("*.wants") if os.path.lexists(d / service)]
        assert wants, f"{service} not enabled at boot"


def test_runtime_users_and_directories(root: Path) -> None:
    assert mode_owner(root / "srv/objects/d1") == ("0750", "swift", "swift")
    assert mode_owner(root / "etc/swift/proxy-server.conf.d") == ("0750", "root", "swift")
    # The secrets were generated in the root, readable by swift only, and are not the packaged ones.
    users = root / "etc/swift/proxy-server.conf.d/50-samakia-users.conf"
    assert mode_owner(users) == ("0640", "root", "swift")
    assert mode_owner(root / "etc/swift/swift.conf") == ("0640", "root", "swift")
    assert "changeme" not in (root / "etc/swift/swift.conf").read_text()
    # Secrets and rings are kept on the data volume too: a rebuilt container reuses them.
    state = root / "srv/objects/.samakia"
    assert mode_owner(state) == ("0700", "root", "root")
    assert (state / "swift.conf").read_text() == (root / "etc/swift/swift.conf").read_text()
    assert (state / "50-samakia-users.conf").read_text() == users.read_text()
    assert (state / "object.ring.gz").read_bytes() == (root / "etc/swift/object.ring.gz").read_bytes()
    assert "user_admin_admin = admin" not in (root / "etc/swift/proxy-server.conf").read_text()
    assert mode_owner(root / "srv/postgresql/backups") == ("0700", "postgres", "postgres")
    assert mode_owner(root / "var/lib/prometheus/node-exporter") == ("0755", "prometheus", "prometheus")
    assert "server_tokens off;" in (root / "etc/nginx/conf.d/10-samakia-hardening.conf").read_text()
    assert "\tssl_protocols TLSv1.2 TLSv1.3;" in (root / "etc/nginx/nginx.conf").read_text().splitlines()
    # The configuration fragments are valid for the real daemons.
    # unbound's own trust anchor (root.key) only appears at first start; check our fragment with
    # a scratch config in the root's /tmp that includes it.
    scratch = root / "tmp" / "samakia-unbound-check.conf"
    scratch.write_text('include: "/etc/unbound/unbound.conf.d/samakia.conf"\n')
    try:
        # The same file as the chroot sees it: its path relative to the root.
        rootfs.chroot(root, "unbound-checkconf", "/" + scratch.relative_to(root).as_posix())
    finally:
        scratch.unlink()
    rootfs.chroot(root, "nginx", "-t")


PROBE = Path(__file__).resolve().parent / "service_probe.py"

# Shell set-up of run_services: the root gets its own /proc, /dev (the host's, bind-mounted),
# /dev/shm and /run, all inside the check's private mount namespace.
SERVICES_PRELUDE = """
ip link set lo up
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/dev/shm"
mount -t tmpfs tmpfs "$R/run"
probe() { "$PROBE_PY" "$PROBE" "$@"; }
ids() { echo "$(chroot "$R" id -u "$1"):$(chroot "$R" id -g "$1")"; }
scratch() {  # scratch DIR USER MODE: an empty tmpfs owned by USER over a directory of the root
  mount -t tmpfs -o "mode=$3,uid=$(chroot "$R" id -u "$2"),gid=$(chroot "$R" id -g "$2")" tmpfs "$R/$1"
}
"""


def run_services(root: Path, script: str, env: dict[str, str] | None = None, timeout: float = 240) -> str:
    """Run ``script`` (sh) in its own network, PID and mount namespaces; return what it printed.

    The root's daemons start there as their units start them and bind their configured ports
    on a loopback that nothing else shares (no port juggling, no clash with another test lane);
    ``service_probe.py`` then asks them. When the script ends, also on failure or timeout, the
    kernel ends every process of the namespace and drops its mounts: nothing keeps running.
    """
    proc = subprocess.run(
        ["unshare", "--net", "--pid", "--mount", "--fork", "--kill-child", "sh", "-euc", SERVICES_PRELUDE + script],
        env={**os.environ, **(env or {}), "R": str(root), "PROBE": str(PROBE), "PROBE_PY": sys.executable},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_dns_profile_resolves_a_name(root: Path) -> None:
    """unbound, started as its unit starts it (trust anchor first), answers a query."""
    out = run_services(
        root,
        """
        chroot "$R" /usr/libexec/unbound-helper root_trust_anchor_update
        chroot "$R" unbound-checkconf
        chroot "$R" /usr/sbin/unbound -d -p &
        probe dns localhost. 127.0.0.1
        """,
    )
    assert "probe dns: localhost. A 127.0.0.1" in out


def test_postgresql_profile_accepts_connections(root: Path) -> None:
    """The cluster starts with the policy's settings, accepts TCP on 5432 and answers a query."""
    out = run_services(
        root,
        """
        chroot "$R" pg_ctlcluster 15 main start
        chroot "$R" pg_isready -h 127.0.0.1 -p 5432 -t 30
        chroot "$R" runuser -u postgres -- psql -XtA -c 'SHOW password_encryption' -c 'SELECT 6 * 7'
        chroot "$R" pg_ctlcluster 15 main stop
        """,
    )
    assert "127.0.0.1:5432 - accepting connections" in out
    assert out.splitlines()[-2:] == ["scram-sha-256", "42"], out


def test_monitoring_runs_prometheus_on_its_configuration(root: Path) -> None:
    """The monitoring profile is a Prometheus server: its configuration loads and it answers."""
    rootfs.chroot(root, "promtool", "check", "config", "/etc/prometheus/prometheus.yml")
    config = (root / "etc/prometheus/prometheus.yml").read_text()
    for target in MONITORING_TARGETS:
        assert target in config
    assert "--web.listen-address=0.0.0.0:9090" in (root / "etc/default/prometheus").read_text()
    # As the unit runs it: its environment file's ARGS, as the prometheus user, its own TSDB
    # (a scratch one here, so the check leaves no data in the root).
    out = run_services(
        root,
        """
        scratch var/lib/prometheus/metrics2 prometheus 0755
        . "$R/etc/default/prometheus"
        chroot --userspec="$(ids prometheus)" "$R" /usr/bin/prometheus $ARGS &
        probe http http://127.0.0.1:9090/-/ready 200
        probe http http://127.0.0.1:9090/api/v1/status/config 200 10.77.0.11:9100
        """,
    )
    assert "/api/v1/status/config: 200" in out


def test_metrics_exporter_answers(root: Path) -> None:
    out = run_services(
        root,
        """
        . "$R/etc/default/prometheus-node-exporter"
        chroot --userspec="$(ids prometheus)" "$R" /usr/bin/prometheus-node-exporter $ARGS &
        probe http http://127.0.0.1:9100/metrics 200 node_exporter_build_info
        """,
    )
    assert "/metrics: 200" in out


def test_object_storage_stores_and_returns_an_object(root: Path) -> None:
    """The object_storage profile is a Swift object store: started from the root, it stores an object.

    memcached, the account, container and object servers and the proxy run as their units run
    them (the proxy on its configuration directory), with a scratch device so the check's
    object stays out of the root.
    """
    for ring in ("account", "container", "object"):
        listing = rootfs.chroot(root, "swift-ring-builder", f"/etc/swift/{ring}.builder").stdout
        assert "127.0.0.1" in listing and "d1" in listing, listing
    users = (root / "etc/swift/proxy-server.conf.d/50-samakia-users.conf").read_text()
    key = users.split("user_fabric_admin = ", 1)[1].split()[0]
    assert len(key) >= 32
    out = run_services(
        root,
        """
        scratch srv/objects/d1 swift 0750
        scratch var/cache/swift swift 0700
        chroot "$R" /usr/bin/memcached -u memcache -l 127.0.0.1 -p 11211 &
        for kind in account container object; do
          chroot "$R" "/usr/bin/swift-$kind-server" "/etc/swift/$kind-server.conf" &
        done
        chroot "$R" /usr/bin/swift-proxy-server /etc/swift/proxy-server.conf.d &
        probe swift http://127.0.0.1:8080 fabric:admin
        """,
        env={"SAMAKIA_PROBE_KEY": key},
    )
    assert "stored and read back an object" in out


def test_edge_answers_healthz_and_proxies(root: Path) -> None:
    """nginx, started on the converged configuration, answers /healthz and proxies / (502 here:
    the configured backends do not exist in the check's private network)."""
    out = run_services(
        root,
        """
        chroot "$R" nginx -t
        chroot "$R" nginx
        probe http http://127.0.0.1/healthz 200 ok
        probe http http://127.0.0.1/ 502
        """,
    )
    assert "/healthz: 200" in out and "http://127.0.0.1/: 502" in out


def test_edge_is_the_default_server_proxying_to_the_backends(root: Path) -> None:
    """The edge profile replaces Debian's default site with a reverse proxy and a health check."""
    assert not os.path.lexists(root / "etc/nginx/sites-enabled/default")
    site = (root / "etc/nginx/conf.d/20-samakia-edge.conf").read_text()
    assert "listen 80 default_server;" in site
    assert "location = /healthz" in site and "proxy_pass http://samakia_edge_backends;" in site
    for backend in EDGE_UPSTREAMS:
        assert f"server {backend};" in site
    # nginx itself accepts the whole configuration, and sees the upstream.
    dump = rootfs.chroot(root, "nginx", "-T").stdout
    assert "upstream samakia_edge_backends" in dump


def test_nothing_runs_inside_the_root(root: Path) -> None:
    """No daemon was started from the chroot: no process has it as its root directory."""
    resolved = str(root.resolve())
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            proc_root = os.readlink(f"/proc/{pid}/root")
        except OSError:
            continue
        assert not proc_root.startswith(resolved), f"pid {pid} runs inside the root"
