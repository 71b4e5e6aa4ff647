# Shared by scripts/serve and scripts/test: install what this machine lacks.
# Sourced, not run. Debian/Ubuntu hosts; everything else comes from Maven Central.

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "cryo: installing ${missing[*]}" >&2
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get -o DPkg::Lock::Timeout=600 update -q >&2
    apt_updated=1
  fi
  # Another apt (unattended-upgrades on a fresh machine) may hold the dpkg lock: wait for it.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends \
    "${missing[@]}" >&2
}

# QEMU and its image tool, a JDK 17 and Maven.
install_runtime() {
  apt_install qemu-system-x86 qemu-utils
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jdk-headless
  command -v mvn >/dev/null 2>&1 || apt_install maven
  command -v setpriv >/dev/null 2>&1 || apt_install util-linux
  ensure_qemu_user
}

# The unprivileged user a server running as root starts QEMU as (--qemu-user, default
# cryo-qemu), like libvirt's qemu user: a system account with its own group, no home, no login.
# A server that is not root cannot switch users and runs QEMU as itself: nothing to create.
ensure_qemu_user() {
  local user=${CRYO_QEMU_USER:-cryo-qemu}
  [ "$(id -u)" -eq 0 ] || return 0
  getent passwd "$user" >/dev/null && return 0
  echo "cryo: creating the system user $user that QEMU runs as" >&2
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$user"
}
