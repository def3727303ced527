# Sourced by scripts/*: puts the pinned Deno on PATH and makes sure redis-server exists.
# Installs only what is missing; a second run does no installs and needs no network.
TT_DENO_VERSION=2.9.6
TT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TT_TOOLS="${TT_TOOLS_DIR:-$TT_ROOT/.tools}"

tt_say() { printf 'tt-setup: %s\n' "$*" >&2; }

tt_ensure_deno() {
  local bin="$TT_TOOLS/node_modules/.bin" pkg="$TT_TOOLS/node_modules/deno/package.json"
  # The pinned Deno in .tools/ (checked without starting a process), else the one on PATH.
  if [ -x "$bin/deno" ] && [ -f "$pkg" ] &&
    [[ "$(<"$pkg")" == *"\"version\": \"$TT_DENO_VERSION\""* ]]; then
    export PATH="$bin:$PATH"
    return 0
  fi
  if command -v deno >/dev/null 2>&1 &&
    [ "$(deno --version 2>/dev/null | head -1 | cut -d' ' -f2)" = "$TT_DENO_VERSION" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    tt_say "Deno $TT_DENO_VERSION is needed and npm is missing to install it: install Node.js/npm (apt-get install npm) or Deno $TT_DENO_VERSION"
    exit 1
  fi
  tt_say "installing Deno $TT_DENO_VERSION into $TT_TOOLS (once)"
  npm install --prefix "$TT_TOOLS" --no-audit --no-fund --loglevel=error "deno@$TT_DENO_VERSION" >&2 || {
    tt_say "npm could not install deno@$TT_DENO_VERSION"
    exit 1
  }
  export PATH="$bin:$PATH"
}

# Installs Debian packages with apt-get when run as root: 0 installed, 1 apt-get failed, 2 no
# apt-get here (or not root). `why` ends the "installing" line ("" for none).
tt_apt_get() {
  local why=$1
  shift
  [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 || return 2
  tt_say "installing $* with apt-get (once${why:+, $why})"
  # dpkg refuses to run unless the sbin directories are on PATH (ldconfig, start-stop-daemon).
  local path="/usr/local/sbin:/usr/sbin:/sbin:$PATH"
  { PATH="$path" apt-get update -q &&
    PATH="$path" DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; } >&2 || return 1
}

tt_ensure_redis() {
  command -v redis-server >/dev/null 2>&1 && return 0
  local rc=0
  tt_apt_get "" redis-server || rc=$? # not a plain call: the scripts run with set -e
  case $rc in
    0) ;;
    1) tt_say "apt-get could not install redis-server"; exit 1 ;;
    *) tt_say "redis-server is missing: install it (sudo apt-get install redis-server), or set REDIS_URL to an existing Redis"; exit 1 ;;
  esac
}

# The agent sandbox: bubblewrap, plus socat and ripgrep for its network filter and file scan.
# Optional: without them tt runs agents unsandboxed ([agent] sandbox = "auto") and the sandbox
# tests skip, saying why; so a failed install warns instead of stopping.
tt_ensure_bwrap() {
  local missing=() tool
  for tool in bwrap:bubblewrap socat:socat rg:ripgrep; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local rc=0
  tt_apt_get "for the agent sandbox" "${missing[@]}" || rc=$?
  case $rc in
    0) ;;
    1) tt_say "apt-get could not install ${missing[*]}: agents will run without the sandbox" ;;
    *) tt_say "the agent sandbox needs ${missing[*]} (sudo apt-get install ${missing[*]}); without them agents run unsandboxed" ;;
  esac
  return 0
}

# A package only some tests need (they skip, saying why, without it): `tt_ensure_for_tests
# <command> <package> <which tests>`. A failed install warns instead of stopping.
tt_ensure_for_tests() {
  local cmd=$1 pkg=$2 tests=$3
  [ -x "$cmd" ] || command -v "$cmd" >/dev/null 2>&1 && return 0
  local rc=0
  tt_apt_get "for $tests" "$pkg" || rc=$?
  case $rc in
    0) ;;
    1) tt_say "apt-get could not install $pkg: $tests will skip" ;;
    *) tt_say "$tests need $pkg (sudo apt-get install $pkg); without it they skip" ;;
  esac
  return 0
}

# Debian's chromium, for the dashboard's browser tests (playwright-core drives it; Playwright's own
# browser download cannot work here).
tt_ensure_chromium() {
  tt_ensure_for_tests "${TT_CHROMIUM:-/usr/bin/chromium}" chromium "the dashboard's browser tests"
}

# openssl, for the TLS topology tests (tests/scale/tls_test.ts makes a throwaway CA and
# certificates with it).
tt_ensure_openssl() {
  tt_ensure_for_tests openssl openssl "the TLS tests"
}

# The npm packages pinned in deno.lock, fetched once per lockfile (a stamp in $TT_TOOLS holds the
# lockfile's checksum, so a run with everything cached costs one cksum, no Deno process). tt
# loads some packages only when a command needs them, and an agent's round may run the full tt
# inside the agent sandbox, where the network is closed: everything must be cached beforehand.
tt_ensure_npm() {
  local stamp="$TT_TOOLS/npm-deps.stamp" sum
  sum=$(cksum <"$TT_ROOT/deno.lock" 2>/dev/null) || return 0
  [ -f "$stamp" ] && [ "$(<"$stamp")" = "$sum" ] && return 0
  if (cd "$TT_ROOT" && deno install --frozen -q >/dev/null 2>&1); then
    mkdir -p "$TT_TOOLS" && printf '%s' "$sum" >"$stamp"
  else
    tt_say "could not fetch the npm packages in deno.lock (is the npm registry reachable?)"
  fi
}

# The npm packages pinned in deno.lock, plus the esbuild that `deno bundle` downloads from npm on
# first use (into DENO_DIR/dl), so that bundling and tests work offline afterwards.
# A few tens of milliseconds when everything is cached.
tt_ensure_deps() {
  if ! (cd "$TT_ROOT" && deno install --frozen -q >/dev/null 2>&1); then
    tt_say "deno install --frozen failed (is deno.lock up to date, is the npm registry reachable?):"
    (cd "$TT_ROOT" && deno install --frozen) >&2
    return 1
  fi
  local denodir
  denodir=$(deno info --json 2>/dev/null | sed -nE 's/^ *"denoDir": *"(.*)",?$/\1/p')
  if [ -n "$denodir" ] && compgen -G "$denodir/dl/esbuild-*" >/dev/null; then
    return 0
  fi
  tt_say "fetching esbuild (used by deno bundle) from npm (once)"
  local tmp
  tmp=$(mktemp -d)
  echo 'export {};' >"$tmp/empty.js"
  if ! deno bundle -q --no-config --platform deno -o "$tmp/out.js" "$tmp/empty.js" >&2; then
    rm -rf "$tmp"
    tt_say "could not fetch esbuild for deno bundle"
    return 1
  fi
  rm -rf "$tmp"
}

# Pinned agent CLIs from npm, for the tests that check each preset's flags against the CLI's own
# --help and for the real-codex end-to-end test. Into $TT_CLIS_DIR (default $TT_TOOLS/clis), once;
# puts their bin directory on PATH. A CLI npm cannot install is skipped (its tests skip, saying so).
TT_CLI_PINS=(
  "@anthropic-ai/claude-code@2.1.328"
  "@openai/codex@0.169.0"
  "@google/gemini-cli@0.61.0"
  "opencode-ai@1.18.33"
  "@github/copilot@1.0.102"
  "@augmentcode/auggie@0.36.0"
)
tt_ensure_clis() {
  local dir="${TT_CLIS_DIR:-$TT_TOOLS/clis}" pin name missing=()
  for pin in "${TT_CLI_PINS[@]}"; do
    name="${pin%@*}"
    [[ "$(cat "$dir/node_modules/$name/package.json" 2>/dev/null)" == *"\"version\": \"${pin##*@}\""* ]] ||
      missing+=("$pin")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if command -v npm >/dev/null 2>&1; then
      tt_say "installing agent CLIs into $dir (once): ${missing[*]}"
      mkdir -p "$dir"
      for pin in "${missing[@]}"; do
        npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "$pin" >&2 ||
          tt_say "npm could not install $pin: its preset tests will skip"
      done
    else
      tt_say "npm is missing: agent CLI preset tests will skip"
    fi
  fi
  export TT_CLIS_BIN="$dir/node_modules/.bin"
}

export DENO_NO_UPDATE_CHECK=1
