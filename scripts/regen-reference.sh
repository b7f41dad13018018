#!/usr/bin/env bash
# Regenerate reports/reference/ (issue 16): the real-thread flush-queue bench (serial and parallel flushes),
# the simulated-time results (s390-zvm, virtio, the depot under bare-metal) and the 1-2 vCPU cross-check of
# simulator against real threads (parallel and serial), and write reports/reference/README.md with every
# command as it ran, its wall time, the machine, and the load average before and after each step.
#
# Real-thread numbers mean something only on an idle machine: the script prints the load average first and
# refuses to write the committed directory when the 1-minute load average is above 0.5 per core, unless
# --force. Everything is written to a scratch directory first and moved into place at the end, so an
# interrupted run leaves the old results untouched.
#
# First (full runs) it calibrates: `bench --calibrate` rewrites profiles/this-machine.json on this machine, so
# the cross-check's simulated side prices what the real side measures (commit the new profile with the
# results).
#
# Usage: scripts/regen-reference.sh [--quick] [--out DIR] [--force] [--no-cross-check] [--no-calibrate]
#   --quick            a small version (short real runs, one repeat, few simulated ops and CPUs): checks that
#                      everything runs; its numbers are not reference numbers. Default --out
#                      for --quick is /tmp/iommu-stress-reference-quick, never reports/reference.
#   --out DIR          where to write (default reports/reference)
#   --force            write even on a loaded machine
#   --no-cross-check   leave the cross-check out
#   --no-calibrate     keep profiles/this-machine.json as it is (--quick never calibrates)
# Full run: 725 s measured on an idle 2-vCPU VM with the cross-check's earlier 1 s / 3,000-op defaults,
# ~15 min with today's (2026-12-07): the real-thread fq sweeps, 180 s of runs each, the cross-checks,
# ~3.5 min each, the simulations, under a minute each; --quick: ~5 min at load 20 (222 s at load 14).
# Calibrating takes 26-30 s at load average 1-2, 70-105 s at 5-15 (it runs the single queue's workloads
# past a full ring and times the model on two busy threads).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
force=0
cross=1
calib=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --force) force=1 ;;
    --no-cross-check) cross=0 ;;
    --no-calibrate) calib=0 ;;
    --out)
      [ $# -ge 2 ] || { echo "regen-reference: --out needs a directory" >&2; exit 2; }
      out="$2"
      shift
      ;;
    -h | --help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    *) echo "regen-reference: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$out" ]; then
  if [ $quick = 1 ]; then out=/tmp/iommu-stress-reference-quick; else out=reports/reference; fi
fi

load() { cut -d' ' -f1 /proc/loadavg; }
cores=$(node -e 'console.log(require("node:os").availableParallelism())')
if [ $quick = 0 ] && [ $force = 0 ] && [ "$out" = reports/reference ]; then
  if awk -v l="$(load)" -v c="$cores" 'BEGIN { exit !(l > 0.5 * c) }'; then
    echo "regen-reference: load average $(load) on $cores cores: real-thread numbers would be noise." >&2
    echo "Run it on an idle machine, or pass --force." >&2
    exit 2
  fi
fi

npx tsc -b
scratch=$(mktemp -d "${TMPDIR:-/tmp}/regen-reference.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
steps="$scratch/steps.md"
: >"$steps"
t_all=$(date +%s)

# step NAME DESCRIPTION COMMAND...: run the command (its reports into $scratch/NAME), record it.
step() {
  local name="$1" what="$2"
  shift 2
  local l0 t0 t1
  l0=$(load)
  t0=$(date +%s)
  echo "== $name: $*" >&2
  "$@"
  t1=$(date +%s)
  {
    echo "- \`$name/\` — $what:"
    echo "  \`$*\`"
    echo "  ($((t1 - t0)) s wall; load average $l0 before, $(load) after)"
  } >>"$steps"
}

bench=(node dist/src/cli.js bench)
if [ $quick = 0 ] && [ $calib = 1 ]; then
  l0=$(load)
  t0=$(date +%s)
  echo "== calibrate: ${bench[*]} --calibrate" >&2
  "${bench[@]}" --calibrate >/dev/null
  echo "- \`profiles/this-machine.json\` — the cost profile of this machine: \`${bench[*]} --calibrate\`" >>"$steps"
  echo "  ($(($(date +%s) - t0)) s wall; load average $l0 before, $(load) after)" >>"$steps"
fi
if [ $quick = 1 ]; then
  real=(--workers 1,2 --flush-cost 0,100000 --time 200ms --repeats 1)
  zvm=(--cpus 4,16 --flush-cost 65000 --ops 300)
  virtio=(--cpus 1,4 --ops 300)
  depot=(--cpus 32 --ops 200)
  burst=(--cpus 32 --ops 256)
  pasid=(--cpus 1,4 --ops 20)
  xc=(--time 200ms --repeats 1 --sim-ops 300 --flush-cost 0,100000)
else
  real=(--workers 1,2 --flush-cost 0,1000,10000,100000,1000000 --time 2s --repeats 3)
  zvm=(--cpus 16,32,64 --flush-cost 65000,450000,1000000 --ops 2000)
  virtio=(--cpus 1,4,16,64 --ops 5000)
  depot=(--cpus 64,256 --ops 3000)
  burst=(--cpus 64,256 --ops 4096)
  pasid=(--cpus 1,4,16 --ops 100)
  xc=()
fi

for f in serial parallel; do
  step "fq-$f" "per-CPU vs single flush queue vs strict, real threads, flushes $f" \
    "${bench[@]}" --fq percpu,single,strict "${real[@]}" --flush "$f" --report-dir "$scratch/fq-$f"
done
step sim-s390-zvm "per-CPU vs single flush queue, simulated, s390-zvm profile (serialised flushes; 65 µs is the \
profile's flush, derived from the published 'about half' ratio in profiles/README.md, 450 µs and 1 ms beyond it)" \
  "${bench[@]}" --sim --suite fq --profile s390-zvm --fq percpu,single "${zvm[@]}" --report-dir "$scratch/sim-s390-zvm"
step sim-virtio "per-CPU vs single flush queue, simulated, virtio profile (parallel 20 µs flushes)" \
  "${bench[@]}" --sim --suite fq --profile virtio --fq percpu,single "${virtio[@]}" --report-dir "$scratch/sim-virtio"
step sim-depot "list vs fixed 32-magazine depot, 16 IRQ vCPUs freeing, simulated, bare-metal profile" \
  "${bench[@]}" --sim --suite iova --profile bare-metal "${depot[@]}" --report-dir "$scratch/sim-depot"
step sim-depot-burst "the same with the published report's shape: bursts of 128 x 4 KiB mappings per allocating \
vCPU, freed in bursts by the 16 IRQ vCPUs" \
  "${bench[@]}" --sim --suite iova --shape burst --depth 128 --profile bare-metal "${burst[@]}" \
  --report-dir "$scratch/sim-depot-burst"
step sim-pasid "system PASID, option 1 vs option 2, simulated, bare-metal profile" \
  "${bench[@]}" --sim --suite pasid --profile bare-metal "${pasid[@]}" --report-dir "$scratch/sim-pasid"
if [ $cross = 1 ]; then
  for f in parallel serial; do
    mkdir -p "$scratch/cross-check-$f"
    step "cross-check-$f" "the simulator (this-machine profile) against real threads at 1 and 2 CPUs, flushes $f" \
      sh -c "node scripts/cross-check.mjs --flush $f ${xc[*]:-} > $scratch/cross-check-$f/table.txt"
    cat "$scratch/cross-check-$f/table.txt" >&2
  done
fi

machine=$(node -e 'const o = require("node:os");
  console.log(`${o.cpus()[0]?.model ?? "unknown CPU"}, ${o.availableParallelism()} cores, Node ${process.version}`)')
quickNote=""
runs='3 runs with their min–max'
if [ $quick = 1 ]; then
  quickNote=' --quick'
  runs='1 run (--quick: not reference numbers)'
fi
{
  cat <<EOF
# Reference results

Regenerated by \`scripts/regen-reference.sh$quickNote\` on $(date -u +%Y-%m-%dT%H:%MZ), $machine,
in $(($(date +%s) - t_all)) s. Each folder has \`summary.md\` (the command and the machine), \`report.json\` (every
number) and \`bench.html\` (the charts); the cross-check folders have the table as printed.

Real-thread numbers are medians of $runs, on this machine: read them with the load
average beside each command (a loaded machine's real-thread numbers are noise). The simulated results
(\`--sim\`) are deterministic: the same command gives the same numbers on any machine; every time in them
is simulated time under the named cost profile (profiles/*.json, whose sha256 each report prints). The
cross-check's simulated side uses \`profiles/this-machine.json\`, written by \`bench --calibrate\` on this
machine (calibrate again before comparing on another).

The commands, as they ran (the scripts write into a scratch directory first, hence the
\`--report-dir\`):

EOF
  sed "s#$scratch/#<scratch>/#g" "$steps"
} >"$scratch/README.md"

mkdir -p "$out"
for d in fq-serial fq-parallel sim-s390-zvm sim-virtio sim-depot cross-check-parallel cross-check-serial; do
  rm -rf "${out:?}/$d"
  [ -d "$scratch/$d" ] && mv "$scratch/$d" "$out/$d"
done
sed -i "s#$scratch/#<scratch>/#g" "$out"/*/summary.md "$out"/*/report.json "$out"/*/bench.html 2>/dev/null || true
mv "$scratch/README.md" "$out/README.md"
echo "regen-reference: written to $out in $(($(date +%s) - t_all)) s" >&2
