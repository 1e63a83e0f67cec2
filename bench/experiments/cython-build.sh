#!/usr/bin/env bash
# The compiled-hot-path experiment (issue 18): compile the duel's hot modules
# with Cython, in place, so `python -m arena ...` and the bench pick the
# extension modules up (an extension beside a .py file wins the import), then
# A/B them against the pure-Python modules. It was measured and NOT kept:
# bench/RESULTS.md, "2026-12-04 (evening): Colyseus side by side ...".
#
#   bench/experiments/cython-build.sh build   # .venv/bin/pip install cython first
#   python -m arena bench profile --baseline <a pure checkout> --runs 12 --ticks 150
#   python -m arena bench duel --matches 750 --duration 15
#   bench/experiments/cython-build.sh clean   # back to pure Python
#
# annotation_typing=False: Cython 3 otherwise types locals from the source's
# annotations, which changes behaviour. Found here: `_EMOJI_SEEN: dict[str,
# bool]` made `ok = _EMOJI_SEEN.get(e)` a C boolean, so a miss (None) read as
# False and every reaction was refused as a bad emoji.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODULES="arena/net/gateway.py arena/net/codec.py arena/net/session.py arena/net/requests.py
arena/net/ratelimit.py arena/net/ws.py arena/engine/core.py arena/modes/roast/mode.py
arena/modes/roast/requests.py arena/persistence/codec.py"
case "${1:-}" in
  build)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # shellcheck disable=SC2086
    .venv/bin/cythonize -f -i -3 -j 2 -X annotation_typing=False $MODULES >"$tmp/log" 2>&1 \
      || { tail -20 "$tmp/log"; exit 1; }
    rm -rf build
    for m in $MODULES; do rm -f "${m%.py}.c"; done
    find arena -name "*.so" -newer "$0" | sort
    ;;
  clean)
    find arena -name "*.cpython-*.so" -print -delete
    ;;
  *)
    echo "usage: $0 build|clean" >&2
    exit 2
    ;;
esac
