#!/usr/bin/env bash
# A matchmaker's two steps, as a sketch: claim a Ready Tickwire server for a match from the
# Fleet, then mint each invited player a seat token for it. A real matchmaker does the same
# through the Agones allocator service (gRPC or REST, mTLS) and its own signing service.
# Walkthrough: docs/deploy.md.
#
#   usage: matchmaker.sh MATCH_ID USER...      (needs kubectl, jq, tickwire-server)
#   env:   KEY_FILE   the seat-token key file the fleet's servers trust (the Secret
#                     tickwire-seat-keys), default ./keys.toml
#          TTL        how long a token may wait to be used, default 60s
set -euo pipefail
match_id=${1:?usage: matchmaker.sh MATCH_ID USER...}
shift
[ $# -gt 0 ] || { echo "name at least one player" >&2; exit 2; }
key_file=${KEY_FILE:-./keys.toml}
ttl=${TTL:-60s}

# 1. Allocate: Agones picks a Ready server of the fleet, marks it Allocated, and sets the
#    match's annotations on it (the server logs the match id and applies tickwire.dev/set.*).
allocation=$(kubectl create -o json -f - <<YAML
apiVersion: allocation.agones.dev/v1
kind: GameServerAllocation
spec:
  selectors:
    - matchLabels:
        agones.dev/fleet: tickwire
  metadata:
    annotations:
      tickwire.dev/match: "$match_id"
YAML
)
state=$(jq -r '.status.state' <<<"$allocation")
if [ "$state" != "Allocated" ]; then
  echo "no server free for $match_id ($state): the FleetAutoscaler's buffer is used up" >&2
  exit 1
fi
address=$(jq -r '.status.address' <<<"$allocation")
port=$(jq -r '.status.ports[] | select(.name == "game") | .port' <<<"$allocation")
server=$(jq -r '.status.gameServerName' <<<"$allocation")

# 2. One seat token per player, for this match's room only: each admits one join, so a
#    leaked link cannot seat a stranger.
echo "match $match_id on $server at $address:$port"
for user in "$@"; do
  token=$(tickwire-server token --key-file "$key_file" --user "$user" --room room-0 --ttl "$ttl")
  echo "$user $address:$port $token"
done
