#!/usr/bin/env bash
# Fails (and lists the files) when a C++ source is not formatted as .clang-format says.
set -euo pipefail
cf=${1:-clang-format}
cd "$(dirname "$0")/.."
bad=0
count=0
while IFS= read -r -d '' f; do
  count=$((count + 1))
  if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "not clang-formatted: $f (run 'make format')"
    bad=1
  fi
done < <(find src tests bench \( -name '*.h' -o -name '*.cc' \) -print0 2>/dev/null | sort -z)
echo "checked $count files"
exit $bad
