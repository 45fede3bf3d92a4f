#!/usr/bin/env bash
# Installs picam-agent on a Raspberry Pi: checks Node and the camera tools, creates the picam-agent
# user, installs the single-file agent, enrolls it with the relay and starts the systemd service.
#
#   sudo ./install-agent.sh --relay https://cams.example.com --token -     (then paste the token)
#   sudo ./install-agent.sh --relay https://cams.example.com --token-file /root/picam-token
#
# Options:
#   --relay URL         the relay, as shown by the admin page's enroll command
#   --token -           read the one-time enrollment token from standard input (piped, or typed at
#                       a prompt). Optional when a config with a credential exists: upgrades keep it
#   --token-file PATH   read the token from a file (keep it mode 0600; delete it afterwards)
#   --token TOKEN       the token itself: less safe (other local users can read it from the process
#                       list while this runs, and it stays in shell history)
#                       The token reaches picam-agent on its standard input, never its arguments.
#   --agent-file PATH   the bundled agent (default: picam-agent.mjs next to this script, else
#                       ../edge-agent/dist/picam-agent.mjs from a checkout after `npm run build`)
#   --unit-file PATH    the systemd unit (default: picam-agent.service or systemd/picam-agent.service
#                       next to this script)
#   --prefix DIR        install under DIR instead of / (tests, images): files only; no user, no chown,
#                       no systemctl. Enrollment still runs (config in DIR/etc/picam-agent/config.json).
#   --no-start          install and enable, but do not start the service now
#   --dry-run           print what would be done, change nothing (the token is not printed)
#   -h, --help          this text
#
# Idempotent: running it again upgrades the agent file and the unit and keeps the credential.
set -euo pipefail

readonly AGENT_USER=picam-agent
readonly MIN_NODE_MAJOR=20

relay=''
token=''
token_file=''
agent_file=''
unit_file=''
prefix=''
dry_run=0
start_now=1

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { printf 'install-agent: %s\n' "$*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --relay) [ $# -ge 2 ] || die "--relay needs a URL"; relay=$2; shift 2 ;;
    --relay=*) relay=${1#*=}; shift ;;
    --token) [ $# -ge 2 ] || die "--token needs a value"; token=$2; shift 2 ;;
    --token=*) token=${1#*=}; shift ;;
    --token-file) [ $# -ge 2 ] || die "--token-file needs a path"; token_file=$2; shift 2 ;;
    --token-file=*) token_file=${1#*=}; shift ;;
    --agent-file) [ $# -ge 2 ] || die "--agent-file needs a path"; agent_file=$2; shift 2 ;;
    --agent-file=*) agent_file=${1#*=}; shift ;;
    --unit-file) [ $# -ge 2 ] || die "--unit-file needs a path"; unit_file=$2; shift 2 ;;
    --unit-file=*) unit_file=${1#*=}; shift ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --no-start) start_now=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

# Target paths (under --prefix when given; the unit itself always names the real paths).
if [ -n "$prefix" ]; then
  if [ "$dry_run" = 0 ]; then mkdir -p -- "$prefix" || die "cannot create --prefix $prefix"; fi
  if [ -d "$prefix" ]; then prefix=$(cd "$prefix" && pwd); fi
fi
readonly opt_dir="$prefix/opt/picam-agent"
readonly agent_path="$opt_dir/picam-agent.mjs"
readonly config_dir="$prefix/etc/picam-agent"
readonly config_path="$config_dir/config.json"
readonly unit_path="$prefix/etc/systemd/system/picam-agent.service"
readonly wrapper_path="$prefix/usr/local/bin/picam-agent"

# run CMD...: execute, or under --dry-run print it.
run() {
  if [ "$dry_run" = 1 ]; then
    say "would run: $*"
  else
    say "+ $*"
    "$@"
  fi
}

# run_with_token CMD...: like run, with the enrollment token on CMD's standard input (printf is a
# shell builtin: the token never appears in any process's arguments).
run_with_token() {
  if [ "$dry_run" = 1 ]; then
    say "would run: $* (token on standard input)"
  else
    say "+ $* (token on standard input)"
    printf '%s\n' "$token" | "$@"
  fi
}

# system CMD...: like run, but only for a real install (not under --prefix).
system() {
  if [ -n "$prefix" ]; then
    say "skipped (--prefix): $*"
  else
    run "$@"
  fi
}

# ---- checks (read-only, also under --dry-run) ----------------------------------------------------

if [ -z "$prefix" ] && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "run as root (sudo), or use --dry-run / --prefix"
fi

case "$relay" in
  http://* | https://*) ;;
  '') die "--relay URL is required (e.g. --relay https://cams.example.com)" ;;
  *) die "--relay must start with https:// (or http:// for a relay on the local network): $relay" ;;
esac
case "$relay" in http://*) say "warning: $relay is plain HTTP: the device credential will cross the network unencrypted" >&2 ;; esac

# The token from stdin or a file (kept in a shell variable only: never an argument of a command).
if [ -n "$token_file" ]; then
  [ -z "$token" ] || die "give --token or --token-file, not both"
  [ -r "$token_file" ] || die "--token-file $token_file: cannot read it"
  IFS= read -r token <"$token_file" || [ -n "$token" ] || die "--token-file $token_file is empty"
elif [ "$token" = - ]; then
  if [ -t 0 ]; then printf 'Enrollment token: ' >&2; fi
  token=''
  IFS= read -r token || [ -n "$token" ] || die "no enrollment token on standard input"
  [ -n "$token" ] || die "no enrollment token on standard input"
fi
token=${token%$'\r'}

have_credential=0
if [ -f "$config_path" ] && grep -q '"credential"' "$config_path" 2>/dev/null; then have_credential=1; fi
if [ -z "$token" ] && [ "$have_credential" = 0 ]; then
  die "--token - (stdin) or --token-file PATH is required (no enrolled config at $config_path yet)"
fi

node_bin=$(command -v node || true)
[ -n "$node_bin" ] || die "Node.js >= $MIN_NODE_MAJOR is required and 'node' is not on PATH (https://nodejs.org, or: apt install nodejs from NodeSource)"
node_bin=$(readlink -f "$node_bin")
node_version=$("$node_bin" -p 'process.versions.node' 2>/dev/null) || die "cannot run $node_bin"
node_major=${node_version%%.*}
if ! [ "$node_major" -ge "$MIN_NODE_MAJOR" ] 2>/dev/null; then
  die "Node.js >= $MIN_NODE_MAJOR is required, found $node_version at $node_bin"
fi
say "node: $node_bin ($node_version)"

camera_bin=$(command -v rpicam-vid || command -v libcamera-vid || true)
[ -n "$camera_bin" ] || die "neither rpicam-vid nor libcamera-vid is on PATH: install them (sudo apt install rpicam-apps, or libcamera-apps on older images)"
say "camera: $camera_bin"

if [ -z "$agent_file" ]; then
  for candidate in "$script_dir/picam-agent.mjs" "$script_dir/../edge-agent/dist/picam-agent.mjs"; do
    if [ -f "$candidate" ]; then agent_file=$candidate; break; fi
  done
  [ -n "$agent_file" ] || die "no picam-agent.mjs next to this script: pass --agent-file PATH (build it with: npm run build -w @picam/edge-agent)"
fi
[ -f "$agent_file" ] || die "--agent-file $agent_file: no such file"
agent_file=$(readlink -f "$agent_file")
say "agent: $agent_file"

if [ -z "$unit_file" ]; then
  for candidate in "$script_dir/picam-agent.service" "$script_dir/systemd/picam-agent.service"; do
    if [ -f "$candidate" ]; then unit_file=$candidate; break; fi
  done
  [ -n "$unit_file" ] || die "no picam-agent.service next to this script: pass --unit-file PATH"
fi
[ -f "$unit_file" ] || die "--unit-file $unit_file: no such file"

# ---- install ---------------------------------------------------------------------------------------

# 1. the service user, in the groups that own the camera (video) and microphone (audio) devices
if id -u "$AGENT_USER" >/dev/null 2>&1; then
  say "user $AGENT_USER exists"
else
  system useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$AGENT_USER"
fi
groups=()
for group in video audio render; do
  if getent group "$group" >/dev/null 2>&1; then groups+=("$group"); fi
done
if [ "${#groups[@]}" -gt 0 ]; then
  system usermod --append --groups "$(IFS=,; printf '%s' "${groups[*]}")" "$AGENT_USER"
fi

# 2. the agent: one file that needs nothing but Node, plus a `picam-agent` command for people
run install -d -m 0755 "$opt_dir" "$(dirname "$wrapper_path")"
run install -m 0644 "$agent_file" "$agent_path"
if [ "$dry_run" = 1 ]; then
  say "would write: $wrapper_path (exec $node_bin /opt/picam-agent/picam-agent.mjs \"\$@\")"
else
  say "+ write $wrapper_path"
  printf '#!/bin/sh\nexec %s %s "$@"\n' "$node_bin" /opt/picam-agent/picam-agent.mjs >"$wrapper_path.tmp"
  chmod 0755 "$wrapper_path.tmp"
  mv -f "$wrapper_path.tmp" "$wrapper_path"
fi

# 3. the config directory (the agent rewrites its config there) and enrollment
run install -d -m 0700 "$config_dir"
if [ -n "$token" ]; then
  run_with_token "$node_bin" "$agent_path" enroll --relay "$relay" --token - --config "$config_path"
else
  say "keeping the existing device credential in $config_path"
fi
system chown -R "$AGENT_USER:$AGENT_USER" "$config_dir"
run chmod 0600 "$config_path"

# 4. the service (ExecStart names the node found above when it is not /usr/bin/node)
run install -d -m 0755 "$(dirname "$unit_path")"
if [ "$dry_run" = 1 ]; then
  say "would write: $unit_path (from $unit_file, node $node_bin)"
else
  say "+ write $unit_path"
  sed "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin #" "$unit_file" >"$unit_path.tmp"
  chmod 0644 "$unit_path.tmp"
  mv -f "$unit_path.tmp" "$unit_path"
fi
system systemctl daemon-reload
system systemctl enable picam-agent.service
# restart, not start: an upgrade must replace a running agent
if [ "$start_now" = 1 ]; then system systemctl restart picam-agent.service; fi

if [ "$dry_run" = 1 ]; then
  say "dry run: nothing was changed"
else
  say "done. Logs: journalctl -u picam-agent -f   Diagnose: picam-agent check --config /etc/picam-agent/config.json"
fi
