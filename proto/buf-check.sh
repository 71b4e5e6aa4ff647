#!/usr/bin/env bash
# Lints the cryo.v1 .proto files, or checks them for breaking changes against a git revision.
#
#   proto/buf-check.sh lint                 # buf lint (Google API style, buf.yaml)
#   proto/buf-check.sh breaking [REV]       # buf breaking against REV (default HEAD~1)
#
# buf comes from npm (@bufbuild/buf, pinned by package-lock.json) and is installed into
# proto/node_modules on first use, so a fresh machine or CI needs only node and npm.
# The older revision is read with 'git archive', which works in worktrees and needs no network.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
cd -- "$here"

buf=$here/node_modules/.bin/buf
if [[ ! -x "$buf" ]]; then
  # Not `npm ci`: npm 11 wants every platform's optional buf binary in the lock file.
  npm install --no-audit --no-fund --no-save --loglevel=error >&2
fi

case "${1:-}" in
  lint)
    "$buf" lint
    echo "buf lint: clean"
    ;;
  breaking)
    rev=${2:-HEAD~1}
    if ! git rev-parse --verify --quiet "${rev}^{commit}" >/dev/null; then
      echo "buf breaking: no revision '$rev' (first commit or shallow clone); nothing to compare"
      exit 0
    fi
    top=$(git rev-parse --show-toplevel)
    prefix=$(git rev-parse --show-prefix)   # proto/ relative to the repository root
    old=$(mktemp -d)
    trap 'rm -rf -- "$old"' EXIT
    git -C "$top" archive "$rev" -- "${prefix%/}" | tar -x -C "$old"
    if [[ ! -d "$old/${prefix}src/main/proto" ]]; then
      echo "buf breaking: $rev has no ${prefix}src/main/proto; nothing to compare"
      exit 0
    fi
    # Revisions from before buf.yaml existed have the same layout: describe it the same way.
    if [[ ! -f "$old/${prefix}buf.yaml" ]]; then
      cp buf.yaml "$old/${prefix}buf.yaml"
    fi
    "$buf" breaking . --against "$old/${prefix%/}"
    echo "buf breaking: no breaking change against $rev"
    ;;
  *)
    echo "usage: $0 lint | breaking [REV]" >&2
    exit 2
    ;;
esac
