#!/usr/bin/env bash
# Render the monthly report of a real township (枫桥镇, with cases, a RED/ORANGE list and a long
# narrative) the way its office prints it: XLSX → PDF (LibreOffice) → PNG pages (pdftoppm), by
# running the print test (tests/test_report_print.py), which keeps its files here:
#   var/report-sample/township-report.{xlsx,pdf} and page-NN.png
# `scripts/dev.sh test` installs what it needs when missing (libreoffice-calc-nogui,
# poppler-utils, fonts-noto-cjk; as root).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/var/report-sample"
rm -rf "$OUT"
mkdir -p "$OUT"
REPORT_SAMPLE_DIR="$OUT" "$ROOT/scripts/dev.sh" test tests/test_report_print.py -q -p no:cacheprovider
ls -1 "$OUT"
