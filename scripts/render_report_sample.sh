#!/usr/bin/env bash
# Render the township report the export test produces: XLSX → PDF (LibreOffice) → PNG (pdftoppm),
# to look at it the way a township would print it. Needs: apt-get install libreoffice-calc-nogui
# poppler-utils fonts-noto-cjk. Output in var/report-sample/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/var/report-sample"
mkdir -p "$OUT"
REPORT_SAMPLE_DIR="$OUT" "$ROOT/scripts/dev.sh" test tests/test_reports.py -k exports -q
soffice --headless --convert-to pdf --outdir "$OUT" "$OUT/township-report.xlsx" >/dev/null
pdftoppm -png -r 80 "$OUT/township-report.pdf" "$OUT/page"
ls -1 "$OUT"
