#!/usr/bin/env bash
# Cold start of the README's first command (`deno task start`) on a fresh machine, measured:
# each run copies this checkout's files (tracked and untracked-but-not-ignored, so no
# node_modules/ or dist/) into a new temporary directory, gives it an empty DENO_DIR, starts
# `deno task start --port 0` and waits for the "listening" line. It prints, per run, the time
# to that line, how many npm package versions were fetched into DENO_DIR, whether a
# node_modules/ directory was created and whether Deno printed its "Ignored build scripts"
# warning; then the medians.
#
#   tools/cold_start.sh [RUNS]          (default 3; DENO=... picks the deno command)
#
# Needs the npm registry. Every run downloads its packages again (nothing is shared).
set -uo pipefail
runs=${1:-3}
deno_cmd=${DENO:-deno}
src=$(cd "$(dirname "$0")/.." && pwd)

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

times=()
pkgs=()
for run in $(seq 1 "$runs"); do
  tmp=$(mktemp -d /tmp/switchboard-cold-XXXXXX)
  mkdir -p "$tmp/repo"
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 tar -cf - --ignore-failed-read 2>/dev/null) | tar -xf - -C "$tmp/repo"
  out="$tmp/out.log"
  t0=$(date +%s%N)
  (cd "$tmp/repo" && DENO_DIR="$tmp/deno_dir" NO_COLOR=1 exec setsid $deno_cmd task start --port 0) \
    >"$out" 2>&1 &
  pid=$!
  listening=no
  for _ in $(seq 1 6000); do
    if grep -q ' listening on ' "$out"; then listening=yes; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  t1=$(date +%s%N)
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  ms=$(((t1 - t0) / 1000000))
  cached=$(find "$tmp/deno_dir/npm" -name package.json -path '*registry.npmjs.org/*' \
    \( -regex '.*/registry.npmjs.org/[^@/][^/]*/[^/]*/package.json' -o \
    -regex '.*/registry.npmjs.org/@[^/]*/[^/]*/[^/]*/package.json' \) 2>/dev/null | wc -l)
  node_modules=no
  [ -d "$tmp/repo/node_modules" ] && node_modules=yes
  warned=no
  grep -q 'Ignored build scripts' "$out" && warned=yes
  echo "run $run: listening=$listening after ${ms} ms; npm packages in DENO_DIR: $cached;" \
    "node_modules/ created: $node_modules; build-script warning: $warned"
  if [ "$listening" != yes ]; then sed -n '1,40p' "$out"; fi
  [ -n "${KEEP:-}" ] && echo "  kept $tmp" || rm -rf "$tmp"
  times+=("$ms")
  pkgs+=("$cached")
done
echo "median of $runs: $(printf '%s\n' "${times[@]}" | median) ms to listening," \
  "$(printf '%s\n' "${pkgs[@]}" | median) npm packages fetched"
