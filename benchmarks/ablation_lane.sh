#!/bin/bash
# One lane of the ablation table (docs/ablations.md): run pending jobs of
# benchmarks/ablations.py one after another, at the lowest CPU priority, 1 torch thread.
# Two lanes share the queue:  nohup benchmarks/ablation_lane.sh > benchmarks/runs/lane-1.log &
# Usage: ablation_lane.sh [PID]  -- first wait for process PID to end.
cd "$(dirname "$0")/.." || exit 1
export OMP_NUM_THREADS=1
if [ -n "$1" ]; then
  while kill -0 "$1" 2>/dev/null; do sleep 30; done
fi
failures=0
while true; do
  nice -n 19 .venv/bin/python benchmarks/ablations.py next
  rc=$?
  if [ $rc -eq 3 ]; then break; fi  # nothing left to start
  if [ $rc -ne 0 ]; then            # the script itself failed (a job's failure returns 0)
    failures=$((failures + 1))
    echo "$(date -u +%H:%M:%S) ablations.py next failed (rc $rc), $failures in a row"
    if [ $failures -ge 3 ]; then break; fi
    sleep 60
  else
    failures=0
  fi
done
echo "lane finished $(date -u +%H:%M:%S)"
