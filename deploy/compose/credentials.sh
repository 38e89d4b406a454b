#!/bin/sh
# First one-shot step of docker-compose.yml, run in the Mosquitto image before anything else.
#
# It checks every secret of .env and refuses to go on (exit 1, one line naming the variable)
# when one is unset, shorter than 16 characters or not usable inside a URL. Then it
#   - sets the passwords of the broker users it knows from .env in $AUTH_DIR/passwd: the
#     backend (`ingest`) and each simulated agent (agent-<instrument>); other users already in
#     the file (agents of instruments registered later) keep theirs;
#   - renders each agent's config, $TEMPLATES/agent-*.toml -> $AGENTS_DIR/, putting the
#     password variable its mqtt_url names (${MQTT_PASSWORD_<INSTRUMENT>}) into it.
# The ACL and users for the other registered instruments come next, from the database, by
# `pilotshare mqtt-credentials` (the mqtt-credentials step), which keeps these passwords.
set -eu

TEMPLATES=${TEMPLATES:-/templates}
AUTH_DIR=${AUTH_DIR:-/mosquitto/auth}
AGENTS_DIR=${AGENTS_DIR:-/agents}
AGENT_UID=${AGENT_UID:-10001}          # the pilotshare image's user
BROKER_UID=${BROKER_UID:-1883}         # the Mosquitto image's user

die() {
    echo "credentials: $*" >&2
    exit 1
}

# secret NAME: the value of $NAME, refused unless set, >= 16 characters and URL-safe.
secret() {
    eval "value=\${$1:-}"
    [ -n "$value" ] || die "$1 is not set: add it to .env (see docs/deploy.md)"
    case "$value" in
        *[!A-Za-z0-9._~-]*) die "$1 may hold only A-Z a-z 0-9 . _ ~ - (it goes into URLs); generate one with: openssl rand -hex 24" ;;
    esac
    [ "${#value}" -ge 16 ] || die "$1 is shorter than 16 characters"
    printf '%s' "$value"
}

# toml_string FILE KEY: the value of `KEY = "…"` in FILE (our own flat agent files only).
toml_string() {
    sed -n "s/^$2[[:space:]]*=[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$1" | head -n 1
}

# Every secret is read into a variable first: a failure inside "$(…)" used as an argument
# would not stop the script.
postgres=$(secret POSTGRES_PASSWORD)   # checked here too, so a bad one stops everything early
: "$postgres"
ingest=$(secret MQTT_PASSWORD_INGEST)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/agents"
users="ingest"
for template in "$TEMPLATES"/agent-*.toml; do
    [ -e "$template" ] || continue
    name=$(basename "$template")
    instrument=$(toml_string "$template" instrument)
    url=$(toml_string "$template" mqtt_url)
    [ -n "$instrument" ] || die "$name: no instrument"
    var=$(printf '%s' "$url" | sed -n 's/.*\${\([A-Z0-9_]*\)}.*/\1/p')
    [ -n "$var" ] || die "$name: mqtt_url names no \${MQTT_PASSWORD_…} variable"
    user=$(printf '%s' "$url" | sed -n 's|^mqtts*://\([^:@/]*\):.*|\1|p')
    [ "$user" = "agent-$instrument" ] || die "$name: the MQTT user must be agent-$instrument"
    password=$(secret "$var")
    printf '%s %s\n' "$user" "$password" >> "$work/users"
    sed "s|\${$var}|$password|" "$template" > "$work/agents/$name"
    users="$users $user"
done
[ -s "$work/users" ] || die "no agent-*.toml in $TEMPLATES"

mkdir -p "$AUTH_DIR" "$AGENTS_DIR"
passwd="$AUTH_DIR/passwd"
[ -f "$passwd" ] && cp "$passwd" "$work/passwd" || : > "$work/passwd"
mosquitto_passwd -b "$work/passwd" ingest "$ingest" || die "mosquitto_passwd failed for ingest"
while read -r user password; do
    mosquitto_passwd -b "$work/passwd" "$user" "$password" || die "mosquitto_passwd failed for $user"
done < "$work/users"
install -m 0600 "$work/passwd" "$passwd"
# The next step (pilotshare mqtt-credentials) runs as the broker's user and writes here too.
chown "$BROKER_UID:$BROKER_UID" "$AUTH_DIR" "$passwd" 2>/dev/null || true
[ -f "$AUTH_DIR/acl" ] && chown "$BROKER_UID:$BROKER_UID" "$AUTH_DIR/acl" 2>/dev/null || true
for rendered in "$work"/agents/*.toml; do
    target="$AGENTS_DIR/$(basename "$rendered")"
    install -m 0400 "$rendered" "$target"
    chown "$AGENT_UID:$AGENT_UID" "$target" 2>/dev/null || true
done
echo "credentials: passwords set for$(printf ' %s' $users); agent configs in $AGENTS_DIR" >&2
