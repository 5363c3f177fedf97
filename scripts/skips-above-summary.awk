# Passes a test run's output through unchanged, except that the tests which skipped (the lines in
# the file `f`, written by testkit when SLUICE_TEST_ALLOW_SKIP=1) and their count are printed just
# above nextest's summary, so that the summary stays the last thing the run prints. nextest cannot
# show them itself: to it, a test that skipped is a test that passed, and it hides the output of
# those. Without a summary (cargo test, or a build that failed) they come at the end.
# Usage: cargo nextest run ... 2>&1 | awk -v f=SKIP_LOG -f scripts/skips-above-summary.awk
function skips(line, n) {
  if (done++) return
  n = 0
  # Right-aligned in nextest's 12 columns, as its PASS and Summary are.
  while ((getline line < f) > 0) { print "     " line; n++ }
  close(f)
  print "     Skipped " n " tests: something they need was missing (SLUICE_TEST_ALLOW_SKIP=1;" \
    " nextest counts them as passed)"
}
{
  if ($0 ~ /^ *Summary \[/) skips()
  # The rule nextest prints above its summary stays above it.
  if (held != "") { print held; held = "" }
  if ($0 ~ /^[─-]+$/) held = $0; else print
  fflush()
}
END {
  if (held != "") print held
  skips()
}
