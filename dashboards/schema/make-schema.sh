#!/usr/bin/env bash
# Regenerate dashboard.schema.json from the @grafana/schema npm package (see README.md next to this file).
# Usage: dashboards/schema/make-schema.sh [GRAFANA_SCHEMA_VERSION]   (needs node + npm; writes nothing else)
set -euo pipefail
version="${1:-13.2.3}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund "@grafana/schema@${version}" ts-json-schema-generator@2.4.0 typescript@5 >/dev/null
npx ts-json-schema-generator \
  --path node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts \
  --type Dashboard --expose export --no-type-check -o raw.json
python3 - raw.json "$here/dashboard.schema.json" "$version" <<'PY'
import json, sys
src, dst, version = sys.argv[1:]
schema = json.load(open(src))
# AnnotationTarget is typed after the built-in "grafana" datasource only ("TODO.. this should just be a
# normal query target" in the types): an annotation of any other datasource stores that datasource's query
# there, so it stays an object but is left open, with none of the grafana-only keys required.
target = schema["definitions"]["AnnotationTarget"]
target["additionalProperties"] = True
target.pop("required", None)
schema["$comment"] = (
    f"Generated from @grafana/schema {version} (dist/types/raw/dashboard/x/types.gen.d.ts, type Dashboard) "
    "by dashboards/schema/make-schema.sh; AnnotationTarget opened for datasource queries."
)
with open(dst, "w") as f:
    json.dump(schema, f, indent=1, sort_keys=True)
    f.write("\n")
PY
echo "wrote $here/dashboard.schema.json from @grafana/schema ${version}"
