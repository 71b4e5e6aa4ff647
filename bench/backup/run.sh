#!/bin/sh
# bench/backup: incremental backup stream vs reading the whole disk with qemu-img convert.
# Usage: bench/backup/run.sh [disk MiB, default 256]. Run from anywhere; builds offline.
set -eu
cd "$(dirname "$0")/../.."
exec mvn -o -q -B verify -pl conformance-tests -am -Dtest=BackupBench \
  -Dsurefire.failIfNoSpecifiedTests=false -Dcryo.bench.disk.mib="${1:-256}"
