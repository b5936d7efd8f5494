#!/usr/bin/env bash
# Build the local control plane (kube-apiserver, kube-controller-manager, kube-scheduler)
# offline from Debian's own Kubernetes source package, and take etcd from Debian's
# etcd-server package. Installs into the cache ($EKSWIN_CACHE, default ~/.cache/ekswin).
#
# Safe to run concurrently (flock), writes its success marker only when every binary
# is in place, and cleans a partial build up on failure. Never downloads a prebuilt
# binary: everything comes from the distribution's package archive.
set -euo pipefail

CACHE="${EKSWIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ekswin}"
BIN="$CACHE/bin"
MARKER="$CACHE/.k8s-built"
# Bump when the recipe changes what gets built: a cache built by an older recipe is rebuilt.
# 2: vendored modern-go/reflect2 replaced by Debian's 1.0.2 (Go >= 1.18 support); the
#    1.0.1 copy in the 1.20 tree crashes kube-apiserver (SIGSEGV in mapiterinit) when it
#    encodes a map, e.g. the patch annotation of a mutating admission webhook.
RECIPE=2
WANT=(kube-apiserver kube-controller-manager kube-scheduler)

say() { printf '[ekswin setup] %s\n' "$*" >&2; }

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
    say "another setup holds $CACHE/.lock; waiting for it"
    flock 9
fi

all_present() {
    [ -f "$MARKER" ] && grep -qx "recipe=$RECIPE" "$MARKER" || return 1
    for b in "${WANT[@]}" etcd; do [ -x "$BIN/$b" ] || return 1; done
}
if all_present; then
    say "control-plane binaries already built in $BIN"
    exit 0
fi

if [ ! -r /etc/debian_version ]; then
    say "not a Debian/Ubuntu machine: cannot build the control plane offline here."
    say "Install envtest assets (setup-envtest) and set KUBEBUILDER_ASSETS, put etcd,"
    say "kube-apiserver, kube-controller-manager, kube-scheduler on PATH or in EKSWIN_K8S_BIN,"
    say "or use the kind backend (ekswin up --backend kind) on a machine with Docker."
    exit 2
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        say "building the control plane needs root (apt-get). Run 'sudo make setup', or provide"
        say "the binaries via EKSWIN_K8S_BIN / KUBEBUILDER_ASSETS / PATH, or use --backend kind."
        exit 2
    fi
fi

export DEBIAN_FRONTEND=noninteractive
need_pkgs=()
command -v go >/dev/null || [ -x /usr/lib/go/bin/go ] || need_pkgs+=(golang-go)
[ -x /usr/bin/etcd ] || need_pkgs+=(etcd-server)
command -v rsync >/dev/null || need_pkgs+=(rsync)
command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
command -v kubectl >/dev/null || need_pkgs+=(kubernetes-client)
[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || need_pkgs+=(golang-github-modern-go-reflect2-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    say "step 1/4: apt-get install ${need_pkgs[*]}"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
else
    say "step 1/4: build tools present"
fi

# deb-src entries mirroring the machine's own deb sources (same mirrors, suites and keys),
# so 'apt-get source' can fetch the distribution's kubernetes source package.
has_k8s_source() { [ -n "$(apt-cache showsrc kubernetes 2>/dev/null)" ]; }
if ! has_k8s_source; then
    say "adding deb-src entries mirroring the configured apt sources"
    tmp="$(mktemp)"
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        case "$f" in *ekswin-src.sources) continue ;; esac
        # deb822 stanzas: keep enabled 'Types: deb' stanzas, retyped as deb-src.
        awk 'BEGIN{RS=""; ORS="\n\n"} /(^|\n)Types:[^\n]*deb([ \n]|$)/ && !/Enabled: *no/ {
                 gsub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >> "$tmp"
    done
    if [ -s "$tmp" ]; then
        $SUDO install -m 0644 "$tmp" /etc/apt/sources.list.d/ekswin-src.sources
    fi
    if [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then
        grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
            | $SUDO tee /etc/apt/sources.list.d/ekswin-src.list >/dev/null
    fi
    rm -f "$tmp"
    $SUDO apt-get update -qq
    if ! has_k8s_source; then
        say "this distribution's archive has no 'kubernetes' source package (Debian bookworm has"
        say "1.20.2). Provide the binaries instead: envtest assets via KUBEBUILDER_ASSETS plus"
        say "kube-controller-manager and kube-scheduler on PATH or in EKSWIN_K8S_BIN, or use the"
        say "kind backend on a machine with Docker."
        exit 2
    fi
fi

WORK="$CACHE/build.partial"
cleanup() { rc=$?; if [ $rc -ne 0 ]; then say "build failed (exit $rc); removing $WORK"; rm -rf "$WORK"; fi; }
trap cleanup EXIT
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
say "step 2/4: downloading Debian's kubernetes source package"
apt-get source --download-only kubernetes >&2
orig="$(ls kubernetes_*.orig.tar.* | head -n1)"
mkdir src
tar -xf "$orig" -C src --strip-components=1
TREE="$WORK/src"
# Go 1.19 needs reflect2 >= 1.0.2; Debian packages it, so swap the vendored copy offline.
rm -rf "$TREE/vendor/github.com/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$TREE/vendor/github.com/modern-go/reflect2"
rm -rf "$TREE"/vendor/github.com/modern-go/reflect2/*_test.go "$TREE/vendor/github.com/modern-go/reflect2/tests" \
    "$TREE/vendor/github.com/modern-go/reflect2/go.mod" "$TREE/vendor/github.com/modern-go/reflect2/go.sum"
mkdir -p "$TREE/.go/src/k8s.io"
ln -s ../../.. "$TREE/.go/src/k8s.io/kubernetes"
export GOPATH="$TREE/.go" CGO_ENABLED=0 GOFLAGS= GOPROXY=off HOME="$WORK/home" GOCACHE="$WORK/gocache"
export PATH="/usr/lib/go/bin:$PATH"
mkdir -p "$HOME"
cd "$TREE/.go/src/k8s.io/kubernetes"
say "step 3/4: building ${WANT[*]} (about 6 minutes on 2 cores)"
build() { make WHAT="cmd/kube-apiserver cmd/kube-scheduler cmd/kube-controller-manager" >&2; }
if ! build; then
    say "first build attempt failed; removing _output and retrying once"
    rm -rf _output
    build
fi
say "step 4/4: installing into $BIN"
mkdir -p "$BIN"
for b in "${WANT[@]}"; do install -m 0755 "_output/bin/$b" "$BIN/$b.new" && mv "$BIN/$b.new" "$BIN/$b"; done
# A copy, not a link: a restored cache (CI) must not depend on the etcd-server package.
install -m 0755 /usr/bin/etcd "$BIN/etcd.new" && mv "$BIN/etcd.new" "$BIN/etcd"
cd "$CACHE"
rm -rf "$WORK"
printf 'recipe=%s\nbuilt=%s\n' "$RECIPE" "$(date -u +%FT%TZ)" > "$MARKER"
say "control plane ready in $BIN"
