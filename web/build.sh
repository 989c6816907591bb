#!/usr/bin/env bash
# Rebuilds web/static/vendor from the npm packages pinned in web/package-lock.json.
# The copied files are committed, so `go run .` needs no npm; CI runs this script and checks
# that it changes nothing (git diff --exit-code web/).
set -euo pipefail
cd "$(dirname "$0")"

npm ci --no-audit --no-fund --ignore-scripts >/dev/null

out=static/vendor
rm -rf "$out"
mkdir -p "$out"
cp node_modules/react/umd/react.production.min.js "$out/react.production.min.js"
cp node_modules/react-dom/umd/react-dom.production.min.js "$out/react-dom.production.min.js"
cp node_modules/graphiql/dist/index.umd.js "$out/graphiql.umd.js"
cp node_modules/graphiql/dist/style.css "$out/graphiql.css"
cp node_modules/graphql-ws/umd/graphql-ws.min.js "$out/graphql-ws.min.js"

# The UMD files end with a sourceMappingURL comment naming maps that are not served.
sed -i '/^\/\/# sourceMappingURL=/d' "$out"/*.js
sed -i 's#/\*\# sourceMappingURL=[^*]*\*/##' "$out"/*.css

# Their licences travel with them.
{
  for pkg in react react-dom graphiql graphql-ws @graphiql/react @graphiql/toolkit graphql; do
    version=$(node -p "require('./node_modules/$pkg/package.json').version")
    echo "==== $pkg $version"
    cat node_modules/"$pkg"/LICENSE* 2>/dev/null || echo "(see the package's license field: $(node -p "require('./node_modules/$pkg/package.json').license"))"
    echo
  done
} >"$out/LICENSES.txt"

echo "web/static/vendor rebuilt from web/package-lock.json:"
ls -l "$out"
