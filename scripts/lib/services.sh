# Makes sure the local PostgreSQL and RabbitMQ (with its management plugin) are running,
# starting them when they are not. Sourced by scripts/run and scripts/test.

ensure_postgres() {
    if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
        echo "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
    fi
    for _ in $(seq 1 60); do
        pg_isready -h 127.0.0.1 -p 5432 -q && return 0
        sleep 1
    done
    echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
    return 1
}

ensure_rabbitmq() {
    if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
        echo "starting RabbitMQ"
        rabbitmq-server -detached
    fi
    for _ in $(seq 1 90); do
        rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break
        sleep 1
    done
    rabbitmq-diagnostics -q ping >/dev/null 2>&1 || { echo "RabbitMQ did not come up" >&2; return 1; }
    # The management console (15672) shows the wait queues; the topology test loads
    # definitions through its API. Enabling an enabled plugin is a no-op.
    rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null
    for _ in $(seq 1 60); do
        curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "the RabbitMQ management API did not come up on 127.0.0.1:15672" >&2
    return 1
}

ensure_database() {
    local name=$1
    if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
        createdb -h 127.0.0.1 -U postgres "$name"
    fi
}
