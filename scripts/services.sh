#!/usr/bin/env bash
# Start the local services the tests talk to (PostgreSQL, Mosquitto, NATS) if they are not running.
# Used by .ci/run; on a developer machine without them, their tests skip with the reason.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    for _ in $(seq 1 30); do up "$1" && return 0; sleep 1; done
    echo "service on port $1 did not come up" >&2
    return 1
}

if ! up 5432 && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start && wait_port 5432
fi
if ! up 1883 && command -v mosquitto >/dev/null; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf && wait_port 1883
fi
if ! up 4222 && [ -x /usr/sbin/nats-server ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log && wait_port 4222
fi
exit 0
