#!/usr/bin/env bash
# rollout.sh OVERLAY — apply an overlay the safe way round:
#   1. what the migration needs (ConfigMap, ServiceAccount, NetworkPolicies) and
#      the migrate Job, labelled rollout.usersvc/phase=pre; the finished Job of
#      the last rollout is deleted first (a Job's pod template is immutable);
#   2. wait for the Job: a failed migration stops here, the old pods keep serving;
#   3. everything else (Deployments, Services, PDBs, autoscalers, monitors).
# Needs kubectl (with kustomize built in) and the Secrets of docs/deploy.md.
set -euo pipefail

overlay=${1:?usage: rollout.sh deploy/k8s/overlays/<dev|production>}
ns=$(kubectl kustomize "$overlay" | sed -n 's/^  namespace: //p' | head -n1)
: "${ns:?no namespace in $overlay}"

kubectl -n "$ns" delete job usersvc-migrate --ignore-not-found --wait=true
kubectl apply -k "$overlay" -l rollout.usersvc/phase=pre
# The Job ends Complete or Failed (at the latest by its activeDeadlineSeconds).
state=""
until [[ $state == *Complete* || $state == *Failed* ]]; do
	sleep 2
	state=$(kubectl -n "$ns" get job usersvc-migrate -o jsonpath='{.status.conditions[?(@.status=="True")].type}')
done
if [[ $state != *Complete* ]]; then
	kubectl -n "$ns" logs job/usersvc-migrate --tail=50 || true
	echo "rollout.sh: the migration did not complete; nothing else was applied" >&2
	exit 1
fi
kubectl apply -k "$overlay" -l 'rollout.usersvc/phase!=pre'
kubectl -n "$ns" rollout status deployment/usersvc-api --timeout=10m
kubectl -n "$ns" rollout status deployment/usersvc-worker --timeout=10m
