# Shared by the AWS CLI scripts (cli.sh, scanning.sh): strict mode, a scratch
# directory, and the helpers every step uses. Source it; it runs nothing.
set -euo pipefail
shopt -s inherit_errexit 2>/dev/null || true # bash >= 4.4: failures inside $(...) stop the script too

: "${BERTH_ENDPOINT:?BERTH_ENDPOINT must be set, e.g. http://127.0.0.1:4566}"
export AWS_PAGER=""

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '== %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}
# expect_eq GOT WANT WHAT
expect_eq() {
	if [[ "$1" != "$2" ]]; then
		fail "$3: got [$1], want [$2]"
	fi
}
ecr() { aws ecr --endpoint-url "$BERTH_ENDPOINT" --output text "$@"; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { wc -c <"$1" | tr -d ' '; }
