#!/bin/sh
# The servers the tests start themselves on loopback: PostgreSQL (tests/postgres.py) and
# Mosquitto (the MQTT tests). Installed with apt when missing; nothing is started here.
set -eu
need=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need="$need postgresql"
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || need="$need mosquitto"
[ -z "$need" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
echo "installing the test servers:$need" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086  # $need is a list of package names
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $need >/dev/null
