#!/usr/bin/env bash
# GPU check: build the test and benchmark binaries here (they need no Rust where they run),
# run them on a machine with an NVIDIA GPU, and print a pass/fail table and timings.
#
#   bash scripts/gpu-check.sh build          # here: cargo builds, stripped copies in .gpu/
#   bash scripts/gpu-check.sh run [FILTER]   # on the GPU machine, in a copy of the repo with .gpu/
#   (BENCH_FILTER=regex limits the benches; SKIP_BENCH=1 skips them)
#
# `build` needs nvcc (bash scripts/install-nvcc.sh), or the binaries hold no CUDA kernels.
# The binaries find test fixtures at the path of the checkout they were built in; `run` links
# that path to the current checkout when it differs.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
case "$mode" in
build)
  mkdir -p .gpu
  rm -f .gpu/*
  excl="$(git rev-parse --git-path info/exclude)"; mkdir -p "$(dirname "$excl")"
  grep -qx '/.gpu/' "$excl" 2>/dev/null || echo '/.gpu/' >> "$excl"
  cargo test --release --lib --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["kind"]==["lib"]:
        print(m["executable"])' > .gpu/lib-tests.path
  cp "$(cat .gpu/lib-tests.path)" .gpu/voxflow-tests
  cargo bench --no-run --bench gpu_ops --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["executable"])' > .gpu/bench.path || true
  if [ -s .gpu/bench.path ]; then cp "$(cat .gpu/bench.path)" .gpu/gpu-ops-bench; fi
  strip .gpu/voxflow-tests .gpu/gpu-ops-bench 2>/dev/null || true
  pwd > .gpu/built-in
  ls -la .gpu
  ;;
run)
  filter="${2:-}"
  built_in="$(cat .gpu/built-in)"
  if [ "$built_in" != "$PWD" ] && [ ! -e "$built_in" ]; then
    mkdir -p "$(dirname "$built_in")" && ln -s "$PWD" "$built_in"
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  set +e
  # One test at a time: the steady-state allocator check must not share the device.
  .gpu/voxflow-tests --test-threads=1 $filter > .gpu-tests.log 2>&1
  rc=$?
  set -e
  echo "== tests (exit $rc)"
  grep -E '^test .* \.\.\. ' .gpu-tests.log | awk '{print $NF"\t"$2}' | sort | uniq -c | awk '$2!="ok"' || true
  echo "passed: $(grep -c ' \.\.\. ok$' .gpu-tests.log)  failed: $(grep -c ' \.\.\. FAILED$' .gpu-tests.log)"
  grep -E '^test result|skipping cuda' .gpu-tests.log | sort | uniq -c
  if grep -q FAILED .gpu-tests.log; then
    sed -n '/^failures:/,$p' .gpu-tests.log | head -80
  fi
  if [ -x .gpu/gpu-ops-bench ] && [ -z "${SKIP_BENCH:-}" ]; then
    echo "== benches"
    VOXFLOW_BENCH_DEVICE=cuda:0 .gpu/gpu-ops-bench --bench ${BENCH_FILTER:-} 2>&1 | grep -E 'time:|thrpt:|^[a-z_0-9/]+ ' || true
  fi
  exit $rc
  ;;
*)
  echo "usage: $0 build | run [TEST_FILTER]" >&2
  exit 2
  ;;
esac
