#!/bin/sh
# A Mender state script installed under every state name (Download_Enter_50_hw, ...): each
# state boundary ota passes is a cut point named after the state, e.g. ArtifactCommit_Enter.
. /usr/lib/hw/lib.sh
state=$(basename "$0" | sed 's/_[0-9][0-9]_hw$//')
hw_say "state $state"
hw_cut "$state"
exit 0
