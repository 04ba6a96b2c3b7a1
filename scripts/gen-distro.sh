#!/usr/bin/env bash
# Generates the distribution sources from an ocb manifest ($3, default builder-config.yaml) into the folder given as
# $2 (default: distro).
# The builder also writes a go.mod for the distribution; this repository builds every distribution inside the root
# module (one dependency graph for our components, tests and the binaries), so that go.mod is dropped and the root
# go.mod must require every module the manifest names, at the manifest's version (checked by check-distro.sh).
set -euo pipefail
builder=$1
out=${2:-distro}
manifest=${3:-builder-config.yaml}
root=$(cd "$(dirname "$0")/.." && pwd)
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
sed "s#^\(  output_path:\).*#\1 ${out}#" "$root/$manifest" >"$cfg"
mkdir -p "$out"
(cd "$root" && "$builder" --config "$cfg" --skip-compilation --skip-get-modules >/dev/null 2>"$out/.builder.log") || {
  cat "$out/.builder.log" >&2
  exit 1
}
rm -f "$out/go.mod" "$out/go.sum" "$out/.builder.log"
# The builder's templates are not gofmt-clean; the committed sources are, like every Go file of the repository.
gofmt -w "$out"/*.go
