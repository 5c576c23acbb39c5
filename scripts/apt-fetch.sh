#!/usr/bin/env bash
# Downloads from Debian mirrors that outlast a mirror's bad moment.
#
#   scripts/apt-fetch.sh LABEL DIR PACKAGE
#
# prints DIR/<package>_<version>_<arch>.deb: the candidate of the current apt configuration
# (APT_CONFIG names a private one), fetched once with `apt-get download` into a temporary
# directory inside DIR, checked against the index's Size and SHA256, and renamed into DIR only
# when whole. Concurrent callers wait on one lock per package and then find the file.
#
# Sourced, it offers apt_retry for any apt command (scripts/install-deps.sh, the DFU guest's
# index). Both retry a transient failure (a size or hash mismatch, "Mirror sync in progress",
# a connection error, a 5xx or 404, a busy apt lock, a package missing from a stale index) with
# a doubling pause, refreshing the index (`apt-get update`, as root) before the next try
# (`--error-on=any`: apt itself would call an update whose index files failed a success). The
# last line on stderr of a failure says what failed and why, for example
#   hw cache: cannot download linux-image-6.1.0-28-amd64 after 5 tries: Failed to fetch ...
# OTA_APT_TRIES (5) and OTA_APT_BACKOFF (the first pause, 5 s; 5+10+20+40 s in all) bound the
# retries; OTA_APT_REFRESH=0 never refreshes the index.

# Phrases of apt's (and apt_fetch's own) errors that a later try can cure.
APT_TRANSIENT='unexpected size|Hash Sum mismatch|Mirror sync|differs from the index'
APT_TRANSIENT+='|Temporary failure|Could not resolve|Could not connect|Unable to connect'
APT_TRANSIENT+='|Connection (refused|reset|timed out|failed|closed)|timed out|No route to host'
APT_TRANSIENT+='|Network is unreachable|Undetermined Error'
APT_TRANSIENT+='|[^0-9](5[0-9][0-9]|404|408|429) +[A-Z]|Could not get lock|Unable to acquire'
# A package the index lacks: one refresh may bring it, more will not.
APT_MISSING='Unable to locate package|No packages found|has no installation candidate'
APT_TRANSIENT+="|$APT_MISSING"

# One line saying why the apt command whose output is in LOG failed: the first error line that
# names a transient cause, else the first error, else the last line.
apt_reason() {
  local log=$1 line
  line=$(grep -E '^E: ' "$log" | grep -Eim1 "$APT_TRANSIENT") ||
    line=$(grep -E '^(W: |Err:|  )' "$log" | grep -Eim1 "$APT_TRANSIENT") ||
    line=$(grep -Em1 '^E: ' "$log") ||
    line=$(grep -v '^[[:space:]]*$' "$log" | tail -n1) ||
    line="no output"
  line=$(sed -E 's/^(E|W): //; s/^[[:space:]]+//; s/[[:space:]]+/ /g' <<<"$line")
  echo "${line:0:400}"
}

# Runs the apt-using command CMD..., retrying transient failures; WHAT names it in messages
# ("download foo"). Quiet unless APT_RETRY_SHOW=1 (then CMD's output goes to stdout too).
apt_retry() {
  local -
  set +e -o pipefail
  local label=$1 what=$2
  shift 2
  local tries=${OTA_APT_TRIES:-5} pause=${OTA_APT_BACKOFF:-5} try=1 rc log reason
  log=$(mktemp "${TMPDIR:-/tmp}/apt-retry.XXXXXX")
  while true; do
    if [ "${APT_RETRY_SHOW:-0}" = 1 ]; then
      "$@" 2>&1 | tee "$log"
    else
      "$@" >"$log" 2>&1
    fi
    rc=$?
    if [ "$rc" -eq 0 ]; then
      rm -f "$log"
      return 0
    fi
    reason=$(apt_reason "$log")
    if ! grep -Eiq "$APT_TRANSIENT" <<<"$reason"; then
      echo "$label: cannot $what: $reason" >&2
      break
    fi
    if [ "$try" -ge 2 ] && grep -Eiq "$APT_MISSING" <<<"$reason"; then
      echo "$label: cannot $what, not even after refreshing the index: $reason" >&2
      break
    fi
    if [ "$try" -ge "$tries" ]; then
      echo "$label: cannot $what after $try tries: $reason" >&2
      break
    fi
    echo "$label: $what failed (try $try of $tries), again in $pause s: $reason" >&2
    sleep "$pause"
    if [ "${OTA_APT_REFRESH:-1}" != 0 ] && [ "$(id -u)" -eq 0 ]; then
      apt-get -q update --error-on=any >"$log" 2>&1 ||
        echo "$label: refreshing the index failed as well: $(apt_reason "$log")" >&2
    fi
    try=$((try + 1))
    pause=$((pause * 2))
  done
  rm -f "$log"
  return 1
}

# One try of apt_fetch: PACKAGE's candidate into TMP, checked, then renamed into DIR.
apt_fetch_once() {
  local dir=$1 package=$2 tmp=$3 show size sha debs file got
  rm -rf "${tmp:?}"/* "$tmp"/.[!.]* 2>/dev/null
  show=$(apt-cache show --no-all-versions "$package" 2>&1) || {
    echo "$show"
    return 1
  }
  size=$(awk '/^Size:/ { print $2; exit }' <<<"$show")
  sha=$(awk '/^SHA256:/ { print $2; exit }' <<<"$show")
  if [ -z "$size" ] || [ -z "$sha" ]; then
    echo "E: $package has no Size and SHA256 in the index (not downloadable)"
    return 1
  fi
  (cd "$tmp" && apt-get -q download "$package") || return 1
  debs=("$tmp"/*.deb)
  file=${debs[0]}
  if [ "${#debs[@]}" -ne 1 ] || [ ! -f "$file" ]; then
    echo "E: apt-get download $package left no .deb"
    return 1
  fi
  got=$(stat -c %s "$file")
  if [ "$got" != "$size" ]; then
    echo "E: ${file##*/} is $got bytes, which differs from the index's $size"
    return 1
  fi
  got=$(sha256sum "$file" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    echo "E: ${file##*/} has SHA256 $got, which differs from the index's $sha"
    return 1
  fi
  mv -f "$file" "$dir/" || return 1
}

# The cached .deb of PACKAGE in DIR, if any (only whole files are ever renamed in).
apt_cached() {
  local found
  found=$(find "$1" -maxdepth 1 -type f -name "$2_*.deb" -printf '%T@ %p\n' 2>/dev/null |
    sort -rn | head -n1 | cut -d' ' -f2-)
  [ -n "$found" ] && echo "$found"
}

apt_fetch() {
  local label=$1 dir=$2 package=$3 lock
  apt_cached "$dir" "$package" && return 0
  mkdir -p "$dir" || return 1
  exec {lock}>"$dir/$package.lock"
  flock "$lock"
  apt_cached "$dir" "$package" && return 0
  # a temporary directory left here belongs to a try that died: only the lock holder fetches
  rm -rf "$dir/.tmp-$package".*
  APT_FETCH_TMP=$(mktemp -d "$dir/.tmp-$package.XXXXXX") || return 1
  trap 'rm -rf "$APT_FETCH_TMP"' EXIT
  trap 'exit 130' INT TERM
  apt_retry "$label" "download $package" apt_fetch_once "$dir" "$package" "$APT_FETCH_TMP" ||
    return 1
  apt_cached "$dir" "$package"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  [ $# -eq 3 ] || {
    echo "usage: apt-fetch.sh LABEL DIR PACKAGE" >&2
    exit 2
  }
  apt_fetch "$@"
fi
