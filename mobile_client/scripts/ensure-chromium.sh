#!/usr/bin/env bash
# Installs Debian's Chromium for the Playwright e2e tests, only when missing.
# Why Debian's: Playwright's own browser download cannot be fetched in CI here;
# the tests launch /usr/bin/chromium through executablePath instead.
set -euo pipefail

# Emoji font too, so reactions render in screenshots instead of tofu boxes.
if command -v chromium >/dev/null 2>&1 && [ -n "$(ls /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf 2>/dev/null)" ]; then
  echo "chromium present: $(command -v chromium)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-color-emoji >/dev/null
echo "chromium installed: $(command -v chromium)"
