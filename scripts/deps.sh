#!/bin/sh
# Install the Debian packages rill needs that are not installed yet.
# Fast when nothing is missing: one dpkg-query, no apt-get.
set -eu
here=$(dirname "$0")
list="$here/debian-packages.txt"

missing=""
for pkg in $(grep -v '^[[:space:]]*#' "$list" | tr -s ' \n' '  '); do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done

# Node.js and npm build the dashboard (web/): the machine's own if it has
# them, else Debian's.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"

if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "make deps: these Debian packages are missing:$missing" >&2
        echo "make deps: run this as root (or with sudo), then run make again:" >&2
        echo "    apt-get update && apt-get install -y --no-install-recommends$missing" >&2
        exit 1
    fi
    echo "make deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Server packages (openssh-server, for the Logger tests' private sshd;
    # nats-server, for the NATS tests' private cluster) must not start a
    # daemon on this machine: a policy-rc.d that refuses
    # every service start (exit 101) is in place while apt runs, unless the
    # machine already has one (containers usually do).
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# make deps: no service starts while rill installs packages\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing || status=$?
    [ "$own_policy" = 1 ] && rm -f "$policy"
    [ "${status:-0}" = 0 ] || exit "$status"
    case " $missing " in
        *" nats-server "*)
            # Its package enables a system-wide daemon on port 4222 (a
            # systemd unit); rill's tests only start private servers.
            if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
                systemctl disable --now nats-server.service >/dev/null 2>&1 || true
            else
                rm -f /etc/systemd/system/multi-user.target.wants/nats-server.service
            fi
            if command -v ss >/dev/null 2>&1 && ss -ltn | grep -q ':4222 '; then
                echo "make deps: something listens on port 4222 after installing nats-server;" >&2
                echo "make deps: rill's tests never use it, but check: ss -ltnp | grep 4222" >&2
            fi
            ;;
    esac
fi

# Installing openssh-server must not leave an sshd on this machine's port
# 22 (the Logger tests run their own sshd inside a private network
# namespace): checked right after installing it.
case " $missing " in
    *" openssh-server "*)
        if ss -Hltn 'sport = :22' 2>/dev/null | grep -q .; then
            echo "make deps: something listens on port 22 after installing openssh-server;" >&2
            echo "make deps: stop it (systemctl disable --now ssh), then run make again" >&2
            exit 1
        fi ;;
esac

# The dashboard's npm packages, from the committed lockfile, when
# node_modules is missing or older than package-lock.json.
web="$here/../web"
if [ ! -d "$web/node_modules" ] || [ "$web/package-lock.json" -nt "$web/node_modules" ]; then
    if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                  process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1)'; then
        echo "make deps: Node.js $(node --version) is too old for Vite (needs 20.19+ or 22.12+);" >&2
        echo "make deps: install a newer Node.js (Debian 12's nodejs is 18), then run make again" >&2
        exit 1
    fi
    echo "make deps: npm ci in web/"
    (cd "$web" && npm ci --no-audit --no-fund) && touch "$web/node_modules"
fi
