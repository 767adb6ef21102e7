#!/usr/bin/env bash
# Proves that deploy/container/Dockerfile copies every input the build needs, without a
# container engine: the sources of its COPY lines (those without --from) are copied, from a
# clean export of the repository at HEAD plus the working tree's changes, into an empty
# folder, and `cargo build --locked --offline` runs there. A file the build needs but the
# Dockerfile does not copy makes it fail. The built binary must then have the connectors
# embedded (build.rs) and accept the server file the image bakes in.
#
#   deploy/container/check-copy-set.sh            # from anywhere in the repository
#
# CARGO_TARGET_DIR is shared with the usual build when set, so only the workspace's own
# crates are compiled again (their path differs); the dependencies are reused.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dockerfile="$repo/deploy/container/Dockerfile"
work=$(mktemp -d "${TMPDIR:-/tmp}/crmdav-copy-set.XXXXXX")
trap 'rm -rf "$work"' EXIT
ctx="$work/context"
mkdir -p "$ctx"

# Every COPY source, in order: skip flags (--chown, --chmod, --from=...), drop the target.
sources=()
while read -r line; do
  read -r -a words <<<"$line"
  args=()
  for w in "${words[@]:1}"; do
    case "$w" in
      --from=*) args=(); continue 2 ;;
      --*) ;;
      *) args+=("$w") ;;
    esac
  done
  (( ${#args[@]} >= 2 )) || { echo "cannot read: $line" >&2; exit 1; }
  sources+=("${args[@]:0:${#args[@]}-1}")
done < <(grep -E '^COPY[[:space:]]' "$dockerfile")

for src in "${sources[@]}"; do
  if [ ! -e "$repo/$src" ]; then
    echo "Dockerfile copies $src, which is not in the repository" >&2
    exit 1
  fi
  mkdir -p "$ctx/$(dirname "$src")"
  # Tracked and new files only (what a clean clone would send, .dockerignore aside).
  (cd "$repo" && git ls-files -co --exclude-standard -- "$src") |
    while read -r f; do
      [ -e "$repo/$f" ] || continue
      mkdir -p "$ctx/$(dirname "$f")"
      cp -p "$repo/$f" "$ctx/$f"
    done
done
echo "copy set: ${sources[*]}"
echo "clean folder: $(cd "$ctx" && find . -type f | wc -l) files"

# The image builds the optimised `dist` profile (Cargo.toml) and installs that binary.
profile=$(sed -nE 's/.*cargo build --profile ([a-z]+) .*/\1/p' "$dockerfile")
[ -n "$profile" ] || { echo "the Dockerfile's cargo build names no --profile" >&2; exit 1; }
grep -q "^\[profile\.$profile\]" "$repo/Cargo.toml" ||
  { echo "Cargo.toml has no [profile.$profile]" >&2; exit 1; }
grep -q "target/$profile/crmdav" "$dockerfile" ||
  { echo "the Dockerfile does not install target/$profile/crmdav" >&2; exit 1; }

# The build step of the Dockerfile (debug here: the same inputs, less CPU).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$work/target}"
(cd "$ctx" && cargo build --locked --offline)
bin="$CARGO_TARGET_DIR/debug/crmdav"

# build.rs embedded the SaaS connectors and mappings: the examples check without the folders.
"$bin" check --config "$repo/deploy/examples/saas/crmdav.toml" >/dev/null
# The server file and tenant the image bakes in load as they will at /etc/crmdav.
mkdir -p "$work/etc/tenants"
cp "$ctx/deploy/container/crmdav.toml" "$work/etc/crmdav.toml"
cp "$ctx/deploy/demo/tenants/demo.toml" "$work/etc/tenants/demo.toml"
"$bin" check --config "$work/etc/crmdav.toml" >/dev/null
echo "copy set OK: the Dockerfile's inputs build crmdav with its connectors embedded"
