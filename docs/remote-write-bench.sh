#!/usr/bin/env bash
# remote-write-bench.sh — what remote_write costs Vigil's ingestion, and
# how fast it delivers, against a VictoriaMetrics single-node on this
# machine. Run from the repository's root:
#
#   VM_BIN=~/.cache/vigil-test-tools/victoria-metrics-v1.151.0/victoria-metrics \
#   BENCH=../shared/bench docs/remote-write-bench.sh
#
# The workload is the side-by-side harness's (BENCH/loadgen, see
# docs/benchmarks.md): SERIES series (10000) over SPAN (6h) at 15 s, sent
# as remote write 1.0 by 4 senders. Three runs, each on a fresh data dir:
#   plain   Vigil without remote_write
#   queued  remote_write to a VictoriaMetrics that is down: every sample
#           goes to the disk queue; then VictoriaMetrics starts and the
#           backlog drains (the delivery throughput)
#   live    remote_write to a running VictoriaMetrics while ingesting
#           (Vigil, the sender and VictoriaMetrics share the cores)
# The three alternate ROUNDS times (2); the ratios are of the medians.
# With PROFILE_DIR set, each live run also takes a CPU profile of Vigil
# over its first PROFILE_SECONDS (20) into PROFILE_DIR/live-N.pprof
# (go tool pprof -top PROFILE_DIR/live-1.pprof).
# Prints one RWBENCH line per figure. Needs go, curl, jq, du, python3.
set -euo pipefail

VM_BIN=${VM_BIN:?set VM_BIN to a victoria-metrics binary (go install github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@v1.151.0)}
BENCH=${BENCH:?set BENCH to the benchmark harness folder (it holds loadgen/)}
SERIES=${SERIES:-10000}
SPAN=${SPAN:-6h}
STATE=${BENCH_STATE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-bench}
LOADGEN=${LOADGEN:-$STATE/loadgen}
WORK=$(mktemp -d /tmp/vigil-rw-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$STATE"
[[ -x $LOADGEN ]] || (cd "$BENCH/loadgen" && go build -o "$LOADGEN" .)
go build -o "$WORK/vigil" ./cmd/vigil
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
log() { echo "[$(date +%T)] $*" >&2; }
now_s() { date +%s.%N; }
CLK=$(getconf CLK_TCK)
cpu_s() { awk -v c="$CLK" '{printf "%.1f", ($14+$15)/c}' "/proc/$1/stat"; }

VM_PORT=$(free_port)
VM_URL=http://127.0.0.1:$VM_PORT
start_vm() {
  "$VM_BIN" -storageDataPath="$WORK/vm-$1" -httpListenAddr=127.0.0.1:$VM_PORT -retentionPeriod=100y \
    -search.latencyOffset=0s -loggerLevel=WARN >"$WORK/vm-$1.log" 2>&1 &
  VM_PID=$!
  PIDS+=("$VM_PID")
  until curl -fsS -o /dev/null "$VM_URL/health" 2>/dev/null; do sleep 0.2; done
}
stop_vm() { kill "$VM_PID"; wait "$VM_PID" 2>/dev/null || true; }

# start_vigil NAME [CONFIG]: a fresh Vigil; sets VIGIL_URL, VIGIL_PID, VIGIL_DATA.
start_vigil() {
  VIGIL_DATA=$WORK/vigil-$1
  local args=(--listen=127.0.0.1:0 --data-dir="$VIGIL_DATA" --auth=none --retention=100y)
  [[ -n ${2:-} ]] && args+=(--config="$2")
  "$WORK/vigil" "${args[@]}" >"$WORK/vigil-$1.out" 2>"$WORK/vigil-$1.err" &
  VIGIL_PID=$!
  PIDS+=("$VIGIL_PID")
  until VIGIL_URL=$(grep -so 'http://127.0.0.1:[0-9]*' "$WORK/vigil-$1.out" | head -1) && [[ -n $VIGIL_URL ]]; do sleep 0.1; done
  until curl -fsS -o /dev/null "$VIGIL_URL/-/ready" 2>/dev/null; do sleep 0.1; done
}
stop_vigil() { kill "$VIGIL_PID"; wait "$VIGIL_PID" 2>/dev/null || true; }

# ingest NAME: loadgen into Vigil; sets RATE (samples/s), SAMPLES, SECONDS_.
ingest() {
  "$LOADGEN" -url "$VIGIL_URL/api/v1/write" -series "$SERIES" -span "$SPAN" -progress 0 >"$WORK/loadgen-$1.out" 2>"$WORK/loadgen-$1.err"
  local line
  line=$(grep '^LOADGEN ' "$WORK/loadgen-$1.out")
  RATE=$(sed -n 's/.*samples_per_sec=\([0-9]*\).*/\1/p' <<<"$line")
  SAMPLES=$(sed -n 's/.*samples_ok=\([0-9]*\).*/\1/p' <<<"$line")
  SECONDS_=$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' <<<"$line")
  [[ $(sed -n 's/.*samples_failed=\([0-9]*\).*/\1/p' <<<"$line") == 0 ]] || { echo "loadgen: failed samples: $line" >&2; exit 1; }
}

status() { curl -fsS "$VIGIL_URL/api/v1/status/remote_write" | jq -c '.data.remotes[0]'; }
sent() { status | jq '.samplesSent'; }
# wait_sent: until every sample loadgen sent was delivered (Vigil's own
# self-scrape samples count too, a few thousand at most).
wait_sent() { while (( $(sent) < SAMPLES )); do sleep 0.1; done; }
# wait_first_sent: until something was delivered (the sender retries a
# remote that was down with a backoff of up to queue_config's max_backoff).
wait_first_sent() { while (( $(sent) == 0 )); do sleep 0.05; done; }
# vm_count: the samples of the workload VictoriaMetrics holds. Vigil's
# built-in alerting rules fire on the workload and store ALERTS series
# with job="panic-api" (sent too): they are not counted.
vm_count() {
  curl -fsS "$VM_URL/internal/force_flush" >/dev/null
  curl -fsS "$VM_URL/api/v1/query" --data-urlencode 'query=sum(count_over_time({job="panic-api",__name__!~"ALERTS|ALERTS_FOR_STATE"}[100d]))' |
    jq -r '.data.result[0].value[1] // 0'
}

emit() { printf 'RWBENCH %s=%s\n' "$1" "$2"; }

RW_CONFIG=$WORK/rw.yml
cat >"$RW_CONFIG" <<EOF
prometheus:
  remote_write:
    - url: $VM_URL/api/v1/write
      name: vm
      vigil_max_disk_usage: 4GiB
EOF

run_plain() {
  log "plain $1: Vigil alone, $SERIES series x $SPAN"
  start_vigil "plain-$1"
  local c0
  c0=$(cpu_s "$VIGIL_PID")
  ingest "plain-$1"
  emit "plain_ingest_samples_per_sec[$1]" "$RATE"
  emit "plain_vigil_cpu_seconds[$1]" "$(awk -v a="$c0" -v b="$(cpu_s "$VIGIL_PID")" 'BEGIN{printf "%.1f", b-a}')"
  PLAIN+=("$RATE")
  stop_vigil
}

run_queued() {
  log "queued $1: remote_write to VictoriaMetrics while it is down"
  start_vigil "queued-$1" "$RW_CONFIG"
  local c0
  c0=$(cpu_s "$VIGIL_PID")
  ingest "queued-$1"
  emit "queued_ingest_samples_per_sec[$1]" "$RATE"
  emit "queued_vigil_cpu_seconds[$1]" "$(awk -v a="$c0" -v b="$(cpu_s "$VIGIL_PID")" 'BEGIN{printf "%.1f", b-a}')"
  QUEUED+=("$RATE")
  QUEUE_BYTES=$(du -sb "$VIGIL_DATA/remote-write" | cut -f1)
  emit "queue_bytes_per_sample[$1]" "$(awk -v b="$QUEUE_BYTES" -v n="$SAMPLES" 'BEGIN{printf "%.1f", b/n}')"
  start_vm "queued-$1"
  local t0 t1 s0 d0
  wait_first_sent
  t0=$(now_s)
  s0=$(sent)
  d0=$(cpu_s "$VIGIL_PID")
  wait_sent
  t1=$(now_s)
  # What sending costs Vigil alone: nothing else runs in it meanwhile.
  emit "drain_vigil_cpu_seconds_per_million[$1]" "$(awk -v a="$d0" -v b="$(cpu_s "$VIGIL_PID")" -v n="$SAMPLES" -v s="$s0" 'BEGIN{printf "%.2f", (b-a)/((n-s)/1e6)}')"
  emit "drain_samples_per_sec[$1]" "$(awk -v n="$SAMPLES" -v s="$s0" -v a="$t0" -v b="$t1" 'BEGIN{printf "%d", (n-s)/(b-a)}')"
  emit "drain_seconds[$1]" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
  emit "queued_vm_samples[$1]" "$(vm_count)"
  emit "queued_samples_retried[$1]" "$(status | jq '.samplesRetried')"
  stop_vigil
  stop_vm
}

run_live() {
  log "live $1: remote_write to a running VictoriaMetrics while ingesting"
  start_vm "live-$1"
  start_vigil "live-$1" "$RW_CONFIG"
  local t0 t1 c0 v0
  t0=$(now_s)
  c0=$(cpu_s "$VIGIL_PID")
  v0=$(cpu_s "$VM_PID")
  local prof=""
  if [[ -n ${PROFILE_DIR:-} ]]; then
    mkdir -p "$PROFILE_DIR"
    curl -fsS -o "$PROFILE_DIR/live-$1.pprof" "$VIGIL_URL/debug/pprof/profile?seconds=${PROFILE_SECONDS:-20}" &
    prof=$!
  fi
  ingest "live-$1"
  emit "live_ingest_samples_per_sec[$1]" "$RATE"
  emit "live_vigil_cpu_seconds[$1]" "$(awk -v a="$c0" -v b="$(cpu_s "$VIGIL_PID")" 'BEGIN{printf "%.1f", b-a}')"
  emit "live_vm_cpu_seconds[$1]" "$(awk -v a="$v0" -v b="$(cpu_s "$VM_PID")" 'BEGIN{printf "%.1f", b-a}')"
  LIVE+=("$RATE")
  wait_sent
  t1=$(now_s)
  emit "live_vigil_cpu_seconds_to_delivery[$1]" "$(awk -v a="$c0" -v b="$(cpu_s "$VIGIL_PID")" 'BEGIN{printf "%.1f", b-a}')"
  [[ -z $prof ]] || wait "$prof" || log "live $1: no CPU profile"
  emit "live_delivered_after_ingest_seconds[$1]" "$(awk -v a="$t0" -v b="$t1" -v s="$SECONDS_" 'BEGIN{printf "%.1f", (b-a)-s}')"
  emit "live_end_to_end_samples_per_sec[$1]" "$(awk -v n="$SAMPLES" -v a="$t0" -v b="$t1" 'BEGIN{printf "%d", n/(b-a)}')"
  emit "live_vm_samples[$1]" "$(vm_count)"
  emit "live_samples_retried[$1]" "$(status | jq '.samplesRetried')"
  stop_vigil
  stop_vm
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# The three runs alternate, ROUNDS times, so that a change in the load of
# a shared machine falls on all three alike.
PLAIN=() QUEUED=() LIVE=()
for r in $(seq 1 "${ROUNDS:-2}"); do
  run_plain "$r"
  run_queued "$r"
  run_live "$r"
done
emit samples "$SAMPLES"
P=$(median "${PLAIN[@]}") Q=$(median "${QUEUED[@]}") L=$(median "${LIVE[@]}")
emit queued_vs_plain "$(awk -v a="$Q" -v b="$P" 'BEGIN{printf "%.2f", a/b}')"
emit live_vs_plain "$(awk -v a="$L" -v b="$P" 'BEGIN{printf "%.2f", a/b}')"
