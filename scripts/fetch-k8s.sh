#!/usr/bin/env bash
# Download a current Kubernetes control plane for the local backend (CI, or a machine
# where `make setup` cannot build one): the envtest assets (etcd, kube-apiserver) and
# the official kube-controller-manager and kube-scheduler of the same release, into DIR.
# Then: EKSWIN_K8S_BIN=DIR make test (or any ekswin command).
#
#   scripts/fetch-k8s.sh VERSION DIR      e.g. scripts/fetch-k8s.sh 1.31.0 /tmp/k8s
#
# Needs curl and network access (GitHub Actions has both); the official binaries are
# checked against their published SHA-256.
set -euo pipefail
VERSION="${1:?usage: fetch-k8s.sh VERSION DIR (VERSION like 1.31.0)}"
DIR="${2:?usage: fetch-k8s.sh VERSION DIR}"
VERSION="${VERSION#v}"
case "$(uname -m)" in
    x86_64) ARCH=amd64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) echo "fetch-k8s: unsupported machine $(uname -m)" >&2; exit 2 ;;
esac
OS="$(uname -s | tr '[:upper:]' '[:lower:]')"
mkdir -p "$DIR"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

envtest="envtest-v${VERSION}-${OS}-${ARCH}.tar.gz"
curl -fsSL --retry 3 -o "$tmp/$envtest" \
    "https://github.com/kubernetes-sigs/controller-tools/releases/download/envtest-v${VERSION}/${envtest}"
tar -xzf "$tmp/$envtest" -C "$tmp"
for b in etcd kube-apiserver; do
    install -m 0755 "$(find "$tmp" -type f -name "$b" | head -n1)" "$DIR/$b"
done

for b in kube-controller-manager kube-scheduler; do
    url="https://dl.k8s.io/release/v${VERSION}/bin/${OS}/${ARCH}/${b}"
    curl -fsSL --retry 3 -o "$tmp/$b" "$url"
    echo "$(curl -fsSL --retry 3 "${url}.sha256")  $tmp/$b" | sha256sum --check --quiet
    install -m 0755 "$tmp/$b" "$DIR/$b"
done
"$DIR/kube-apiserver" --version >&2
