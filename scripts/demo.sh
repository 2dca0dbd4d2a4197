#!/usr/bin/env bash
# `make demo`: Baton's main job end to end on this machine, in under three minutes.
#
# Starts three simulated clusters (KubeSim), a Prometheus scraping staging, and a config
# repository for the guestbook (examples/guestbook: manifests only) served by `git daemon`; runs
# `baton run` with this project's own Environments/ and Pipelines/, copied into a configuration
# folder of the coordinator's, apart from that repository; then walks three releases through dev → staging →
# production, with approvals, a release stopped by its gate, and a rollback. Every command is
# printed before it runs. Everything lives in ./demo (removed by the next run) and keeps running
# afterwards; `make demo-stop` stops it.
set -euo pipefail

ROOT=$(pwd)
WORK=$ROOT/demo
BIN=${BATON_BIN:?set BATON_BIN to the folder holding the baton binary}
export PATH="$BIN:$PATH"
export KUBECONFIG=$WORK/kubeconfig
# Git identities of the demo's people, and no system or global git configuration.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME="Dana Developer" GIT_AUTHOR_EMAIL=dana@example.com
export GIT_COMMITTER_NAME="Dana Developer" GIT_COMMITTER_EMAIL=dana@example.com
STARTED=$(date +%s)

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
# Prints a command, then runs it.
run() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }
# Same, for a command that exits 1 on purpose (baton diff with changes, a refused approval).
run_may_fail() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@" || printf '(exit %s)\n' "$?"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
remember() { echo "$1" >> "$WORK/pids"; }
# Prints a command, starts it in the background and remembers its process for make demo-stop
# (started directly, so that the process remembered is the command itself).
start_bg() { local log=$1; shift; printf '\033[36m$ %s > %s &\033[0m\n' "$*" "$log"; "$@" > "$log" 2>&1 & remember $!; }

# What baton run printed since the last look, indented.
SHOWN=0
show_run_log() {
  local total
  total=$(wc -l < "$WORK/run.log")
  if [ "$total" -gt "$SHOWN" ]; then
    sed -n "$((SHOWN + 1)),${total}p" "$WORK/run.log" | sed 's/^/  baton run │ /'
    SHOWN=$total
  fi
}

# The phase of the revision on its way into ENV ("" when none), from baton status.
phase() {
  baton status guestbook --output json 2>/dev/null | python3 -c '
import json, sys
env = sys.argv[1]
for stage in json.load(sys.stdin)["stages"]:
    if stage["environment"] == env:
        candidate = stage.get("candidate") or {}
        print(candidate.get("phase", "") + " " + candidate.get("revision", "") + " " + (stage.get("revision") or ""))' "$1"
}

# wait_for WHAT SECONDS TEST...: polls TEST every second, showing baton run's lines meanwhile
# and saying what it waits for every ten seconds of silence.
wait_for() {
  local what=$1 limit=$2; shift 2
  local start=$SECONDS quiet=$SECONDS
  printf '… waiting for %s\n' "$what"
  until "$@"; do
    if [ -n "${RUN_PID:-}" ] && ! kill -0 "$RUN_PID" 2>/dev/null; then
      show_run_log
      echo "make demo: baton run stopped (its log is above and in $WORK/run.log)" >&2
      exit 1
    fi
    local before=$SHOWN
    show_run_log
    if [ "$SHOWN" -ne "$before" ]; then quiet=$SECONDS; fi
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "make demo: gave up waiting for $what after ${limit}s; baton run's log is $WORK/run.log" >&2
      exit 1
    fi
    if [ $((SECONDS - quiet)) -ge 10 ]; then
      printf '… still waiting for %s (%ss)\n' "$what" $((SECONDS - start))
      quiet=$SECONDS
    fi
    sleep 1
  done
  show_run_log
  printf '✓ %s (%ss)\n' "$what" $((SECONDS - start))
}

is_phase() { [ "$(phase "$1" | cut -d' ' -f1)" = "$2" ] && [ "$(phase "$1" | cut -d' ' -f2)" = "$3" ]; }
runs() { [ "$(phase "$1" | cut -d' ' -f3)" = "$2" ]; }

release() { # release VERSION MESSAGE: sets the image tag and pushes a commit; prints its id
  sed -i "s|image: guestbook:.*|image: guestbook:$1|" "$WORK/config/apps/guestbook/base/deployment.yaml"
  git -C "$WORK/config" commit -q -am "$2" >&2
  git -C "$WORK/config" push -q origin main >&2
  git -C "$WORK/config" rev-parse HEAD
}

# ---------------------------------------------------------------------------------------------
if [ -f "$WORK/pids" ]; then
  echo "make demo: stopping what the previous demo left running"
  xargs kill < "$WORK/pids" 2>/dev/null || true
  sleep 1
fi
rm -rf "$WORK"
mkdir -p "$WORK"

bold "1. Three local Kubernetes clusters (KubeSim) and a kubeconfig for them"
printf '\033[36m$ baton sim up --kubeconfig %s &\033[0m\n' "$KUBECONFIG"
baton sim up --kubeconfig "$KUBECONFIG" > "$WORK/sim.log" 2>&1 &
remember $!
for _ in $(seq 100); do grep -q "Press Ctrl-C" "$WORK/sim.log" 2>/dev/null && break; sleep 0.1; done
grep '^cluster ' "$WORK/sim.log"
STAGING_URL=$(sed -n 's/^cluster staging: \(https:[^ ]*\) .*/\1/p' "$WORK/sim.log")
# The staging cluster's CA, for Prometheus and for the HTTP gate.
python3 - "$KUBECONFIG" "$WORK/staging-ca.pem" <<'PY'
import base64, re, sys
text = open(sys.argv[1]).read()
block = text[text.index("- name: baton-staging"):]
data = re.search(r"certificate-authority-data: (\S+)", block).group(1)
open(sys.argv[2], "wb").write(base64.b64decode(data))
PY

PROMETHEUS_PORT=$(free_port)
cat > "$WORK/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: staging
    scheme: https
    tls_config: {ca_file: "$WORK/staging-ca.pem"}
    static_configs: [{targets: ["${STAGING_URL#https://}"]}]
EOF
start_bg "$WORK/prometheus.log" prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
  --web.listen-address=127.0.0.1:$PROMETHEUS_PORT --log.level=error
echo "Prometheus on http://127.0.0.1:$PROMETHEUS_PORT scrapes the staging cluster's /metrics every second."

bold "2. The config repository (the guestbook's manifests, a Kustomize overlay per environment) and the coordinator's configuration apart from it"
GIT_PORT=$(free_port)
mkdir -p "$WORK/served"
git init -q --bare -b main "$WORK/served/config.git"
start_bg "$WORK/git-daemon.log" "$(git --exec-path)/git-daemon" --reuseaddr --listen=127.0.0.1 --port="$GIT_PORT" \
  --base-path="$WORK/served" --export-all --enable=receive-pack "$WORK/served"
git clone -q "$WORK/served/config.git" "$WORK/config" 2>/dev/null
cp -R "$ROOT/examples/guestbook/." "$WORK/config/"
# The policy (who approves, which gates) is the coordinator's folder: a commit to the config
# repository cannot change it.
mkdir -p "$WORK/policy"
cp -R "$ROOT/Environments" "$ROOT/Pipelines" "$WORK/policy/"
sed -i -e "s|git://127.0.0.1:9418/|git://127.0.0.1:$GIT_PORT/|" -e "s|https://127.0.0.1:6443/|$STAGING_URL/|" \
  -e "s|http://127.0.0.1:9090|http://127.0.0.1:$PROMETHEUS_PORT|" "$WORK/policy/Pipelines/guestbook.yaml"
# Each person gets an SSH key, and production's approvers are declared with theirs: an approval
# then counts only when signed by an approver's key (the example file, without keys, says
# identity: unverified; here it is verified).
mkdir -p "$WORK/keys"
for person in alice bob carol dana; do ssh-keygen -q -t ed25519 -N "" -C "$person@example.com" -f "$WORK/keys/$person"; done
APPROVERS=$(for person in alice bob carol; do printf '        - {email: %s@example.com, keys: ["%s"]}\\n' "$person" "$(cut -d' ' -f1,2 "$WORK/keys/$person.pub")"; done)
sed -i -e "s|^      approvers: \[alice@example.com, bob@example.com, carol@example.com\]|      approvers:\n${APPROVERS%\\n}|" \
  -e '/^# The demo.s people approve as BATON_ACTOR says/,/^identity: unverified/d' "$WORK/policy/Pipelines/guestbook.yaml"
echo "SSH keys for alice, bob, carol and dana in $WORK/keys; production's approvers are declared with theirs (in $WORK/policy):"
sed -n '/approval:/,/allowCommitAuthors/p' "$WORK/policy/Pipelines/guestbook.yaml"
git -C "$WORK/config" remote set-url origin "git://127.0.0.1:$GIT_PORT/config.git"
git -C "$WORK/config" add -A
git -C "$WORK/config" commit -q -m "guestbook 1.0.0"
git -C "$WORK/config" push -q origin main
V1=$(git -C "$WORK/config" rev-parse HEAD)
cd "$WORK/policy"
run git -C ../config log --oneline
run ls ../config/apps/guestbook/base ../config/apps/guestbook/overlays
run ls Environments Pipelines
run baton validate

bold "3. baton run: the coordinator and a reconciler per environment"
printf '\033[36m$ baton run > %s &\033[0m\n' "$WORK/run.log"
baton run > "$WORK/run.log" 2>&1 &
RUN_PID=$!
remember $RUN_PID

bold "4. Release 1.0.0 (by dana@example.com): dev and staging by itself, then production waits for two approvers"
wait_for "1.0.0 to wait for approval in production" 120 is_phase production awaiting-approval "$V1"
run baton status guestbook
run_may_fail baton diff production --revision "${V1:0:8}"
echo "Claiming to be alice is not enough: an approval is a statement signed with an approver's key."
run_may_fail env SSH_AUTH_SOCK= BATON_ACTOR=alice@example.com baton approve guestbook production
echo "Dana wrote the release and is no approver; signing with her own key while claiming to be alice is refused:"
run_may_fail env BATON_ACTOR=alice@example.com baton approve guestbook production --key "$WORK/keys/dana"
run baton approve guestbook production --key "$WORK/keys/alice" --comment "staging looks good"
run baton approve guestbook production --key "$WORK/keys/bob"
wait_for "1.0.0 to be verified in production" 60 is_phase production verified "$V1"
run kubectl --context baton-production -n guestbook get deployments,services,configmaps

bold "   Release 1.1.0 takes the same road"
V2=$(release 1.1.0 "guestbook 1.1.0")
echo "committed and pushed ${V2:0:8} \"guestbook 1.1.0\""
wait_for "1.1.0 to wait for approval in production" 120 is_phase production awaiting-approval "$V2"
run baton approve guestbook production --key "$WORK/keys/carol"
run baton approve guestbook production --key "$WORK/keys/alice"
wait_for "1.1.0 to be verified in production" 60 is_phase production verified "$V2"

bold "5. Release 1.2.0-errors: Healthy to Kubernetes, but one answer in five is a 500"
V3=$(release 1.2.0-errors "guestbook 1.2.0")
echo "committed and pushed ${V3:0:8} \"guestbook 1.2.0\" (image guestbook:1.2.0-errors)"
wait_for "staging's gates to judge 1.2.0" 120 is_phase staging failed "$V3"
run baton status guestbook
echo "Production still runs ${V2:0:8}: the release never left staging."

bold "6. Production rolls back to 1.0.0; 1.1.0 is held so that nothing promotes it again by itself"
run baton rollback production --to "${V1:0:8}" --reason "1.1.0 logs customer e-mail addresses" --key "$WORK/keys/bob"
wait_for "production to run 1.0.0 again" 60 is_phase production verified "$V1"
run baton status guestbook
run kubectl --context baton-production -n guestbook get deployment guestbook -o jsonpath='{.spec.template.spec.containers[0].image}{"\n"}'

bold "7. The record: history, who changed the Deployment in production, and the audit chain"
run baton history guestbook
run baton audit who-changed deployment/guestbook --env production
run baton audit verify
echo "The environment refs are branches of the config repository: git log shows what staging ran."
run git -C ../config fetch -q origin
run git -C ../config log --format='%h %ad %s' --date=format:%H:%M:%S origin/env/staging

bold "8. Yours to try: everything keeps running ($(( $(date +%s) - STARTED ))s so far)"
cat <<EOF
In another terminal (the coordinator's configuration is $WORK/policy, the config repository $WORK/config):
  cd $WORK/policy
  export PATH=$BIN:\$PATH KUBECONFIG=$KUBECONFIG
  tail -f $WORK/run.log                                   # baton run's transitions
  baton status guestbook                                  # why each revision is where it is
  baton gates check guestbook staging                     # try staging's gates now
  baton release guestbook ${V2:0:8} --key $WORK/keys/carol   # lift the hold on 1.1.0 (signed by an approver)
  sed -i 's/guestbook:1.*/guestbook:1.3.0/' ../config/apps/guestbook/base/deployment.yaml \\
    && git -C ../config commit -qam "guestbook 1.3.0" && git -C ../config push -q origin main   # a new release
  kubectl --context baton-staging -n guestbook get all
Stop everything with:  make demo-stop    (make demo starts afresh)
EOF
