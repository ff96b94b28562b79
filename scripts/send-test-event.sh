#!/usr/bin/env bash
# Signs a Clerk event the way Svix does and POSTs it: a stand-in for Clerk while you develop.
#   CLERK_WEBHOOK_SIGNING_SECRET=whsec_... scripts/send-test-event.sh [URL] [EVENT.json]
set -euo pipefail
url=${1:-http://127.0.0.1:8000/webhooks/clerk}
file=${2:-"$(dirname "$0")/../tests/fixtures/clerk/user.created.json"}
secret=${CLERK_WEBHOOK_SIGNING_SECRET:?set CLERK_WEBHOOK_SIGNING_SECRET to the endpoint secret}
secret=${secret%% *}   # the first one, if several are configured

id="msg_test_$(date +%s%N)"
ts=$(date +%s)
key_hex=$(printf '%s' "${secret#whsec_}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
signature=$({ printf '%s.%s.' "$id" "$ts"; cat "$file"; } |
  openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary | base64)

curl -sS -i -X POST "$url" \
  -H 'content-type: application/json' \
  -H "svix-id: $id" -H "svix-timestamp: $ts" -H "svix-signature: v1,$signature" \
  --data-binary @"$file"
echo
