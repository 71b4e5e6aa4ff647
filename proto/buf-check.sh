#!/usr/bin/env bash
# Lints the cryo.v1 .proto files, or checks them for breaking changes against the released API.
#
#   proto/buf-check.sh lint                 # buf lint (Google API style, buf.yaml)
#   proto/buf-check.sh breaking             # buf breaking against released/cryo-v1.binpb
#   proto/buf-check.sh breaking REV         # ... against a git revision instead (a dev aid)
#   proto/buf-check.sh release              # rewrite released/cryo-v1.binpb from these files
#
# The released API is a committed buf image (a FileDescriptorSet with the imports it needs), so
# the check needs no git history, no tag and no network: a shallow CI clone compares against
# exactly what clients were given. A missing baseline or revision is a failure, never a pass.
# Run 'release' only when cutting a release: it moves the baseline to the current files.
#
# buf comes from npm (@bufbuild/buf, pinned by package-lock.json) and is installed into
# proto/node_modules on first use, so a fresh machine or CI needs only node and npm.
# A revision is read with 'git archive', which works in worktrees and needs no network.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
cd -- "$here"
released=released/cryo-v1.binpb

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
    if [[ $# -lt 2 ]]; then
      if [[ ! -s "$released" ]]; then
        echo "buf breaking: no released API at proto/$released; restore it from git" \
          "(it is the baseline every change is checked against)" >&2
        exit 1
      fi
      "$buf" breaking . --against "$released"
      echo "buf breaking: no breaking change against the released API ($released)"
      exit 0
    fi
    rev=$2
    if ! git rev-parse --verify --quiet "${rev}^{commit}" >/dev/null; then
      echo "buf breaking: no revision '$rev' here (a shallow clone?); fetch it, or run" \
        "without REV to compare against the released API" >&2
      exit 1
    fi
    top=$(git rev-parse --show-toplevel)
    prefix=$(git rev-parse --show-prefix)   # proto/ relative to the repository root
    old=$(mktemp -d)
    trap 'rm -rf -- "$old"' EXIT
    git -C "$top" archive "$rev" -- "${prefix%/}" | tar -x -C "$old"
    if [[ ! -d "$old/${prefix}src/main/proto" ]]; then
      echo "buf breaking: $rev has no ${prefix}src/main/proto to compare against" >&2
      exit 1
    fi
    # Revisions from before buf.yaml existed have the same layout: describe it the same way.
    if [[ ! -f "$old/${prefix}buf.yaml" ]]; then
      cp buf.yaml "$old/${prefix}buf.yaml"
    fi
    "$buf" breaking . --against "$old/${prefix%/}"
    echo "buf breaking: no breaking change against $rev"
    ;;
  release)
    # Imports stay in the image: buf cannot read an image whose imports (google/protobuf/*)
    # are missing. Source info is left out; it only adds line numbers nobody compares.
    mkdir -p "$(dirname "$released")"
    "$buf" build --exclude-source-info -o "$released"
    echo "buf release: wrote proto/$released ($(wc -c <"$released") bytes); commit it"
    ;;
  *)
    echo "usage: $0 lint | breaking [REV] | release" >&2
    exit 2
    ;;
esac
