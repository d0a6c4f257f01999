# Shared by the CLI tests: check NAME EXPECTED_RC PATTERN -- COMMAND... runs COMMAND and checks
# its exit code and that its output (stdout and stderr) matches PATTERN (grep -E); finish prints
# the count and fails the script when any check failed.
failures=0
check() {
  local name=$1 want_rc=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -ne $want_rc ]] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: rc=$rc (want $want_rc), output:"
    echo "$out" | head -20
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}
finish() {
  echo "$failures failed"
  [[ $failures -eq 0 ]]
}
