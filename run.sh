#!/usr/bin/env bash
# One entry point for a fresh machine: sets up .venv/ (reused when current), then runs a job.
#   bash run.sh app     the app on the embedded default, offline: http://127.0.0.1:7860
#   bash run.sh demo    sample sheets of the toy-faces dataset and the embedded default generator -> out/
#   bash run.sh test    the whole test suite (installs Debian's chromium for the browser test if missing)
#   bash run.sh setup   only the virtual environment
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"          # offline by default: never wait on Hub retries
export HF_HUB_DISABLE_TELEMETRY=1
PY=.venv/bin/python

setup() {
  local stamp=.venv/.requirements.sha256 want
  want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -x "$PY" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return; fi
  local base=python3.11
  command -v "$base" >/dev/null || base=python3
  [ -x "$PY" ] || "$base" -m venv .venv
  # one pip command for everything, so the resolver sees every constraint at once (gradio caps pillow):
  # requirements.txt installs this project in editable mode with its test extras (pyproject.toml)
  "$PY" -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
}

browser() {
  # the browser test drives Debian's chromium (Playwright's own browser download does not work offline)
  [ -x /usr/bin/chromium ] && return
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  if command -v apt-get >/dev/null; then
    echo "installing chromium (apt) for the browser test" >&2
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  else
    echo "no apt-get: the browser test will be skipped (install chromium at /usr/bin/chromium)" >&2
  fi
}

case "${1:-}" in
  setup) setup ;;
  demo)
    setup
    mkdir -p out
    "$PY" -m linkgan dataset --seeds 0-31 --size 64 --masks --out out/dataset.png
    echo "wrote out/dataset.png"
    "$PY" -m linkgan sample --seeds 0-15 --psi 0.7 --out out/samples.png
    echo "wrote out/samples.png" ;;
  app)
    setup
    shift
    exec "$PY" app.py "$@" ;;
  test)
    setup
    browser
    shift
    "$PY" -m pytest -q tests "$@" ;;
  *) echo "usage: bash run.sh {app|demo|test|setup} [args]" >&2; exit 2 ;;
esac
