# shellcheck shell=bash
# Shared by tests/rds-emulator/setup and tests/rds-emulator/teardown. Not executable on its own.

STATE_DIR=/var/lib/rds-emulator
LOG_DIR=/var/log/rds-emulator
PAM_SCRIPT_DIR=$STATE_DIR/pam
VERIFIER=$STATE_DIR/verifier.py
RUN_DIR=/run/rds-emulator
VERIFIER_SOCKET=$RUN_DIR/verifier.sock
VERIFIER_PIDFILE=$RUN_DIR/verifier.pid
PG_VERSION=15
PG_CLUSTER=main
PG_CONF_DIR=/etc/postgresql/$PG_VERSION/$PG_CLUSTER
PG_HBA=$PG_CONF_DIR/pg_hba.conf
PG_CONF_SNIPPET=$PG_CONF_DIR/conf.d/95-rds-emulator.conf
MYSQL_CONF_SNIPPET=/etc/mysql/mariadb.conf.d/90-rds-emulator.cnf
MYSQL_MAIN_CNF=/etc/mysql/my.cnf
MYSQL_PLUGIN_DIR=/usr/lib/mysql/plugin
PAM_SERVICE_PG=rds-iam-postgres
PAM_SERVICE_MYSQL=rds-iam-mysql
PAM_SERVICE_DSQL=rds-iam-dsql
BLOCK_BEGIN="# BEGIN rds-emulator (managed by tests/rds-emulator/setup; removed by teardown)"
BLOCK_END="# END rds-emulator"
IAM_USERS=(iam_user iam_other iam_short)
CONTROL_USER=control_user
DATABASE=rdsiam
HOSTS_FILE=/etc/hosts

# The Aurora DSQL look-alike: a PostgreSQL cluster of its own (sharing the Unix socket
# directory with the main one), TLS only, roles checked with DSQL tokens.
DSQL_CLUSTER=dsql
DSQL_SERVER_PORT=5433
DSQL_CONF_DIR=/etc/postgresql/$PG_VERSION/$DSQL_CLUSTER
DSQL_ENDPOINT=abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws
DSQL_REGION=us-east-1
DSQL_ADMIN_ROLE=admin
DSQL_ROLE=app_role
DSQL_DATABASE=postgres

# RDS-style endpoint names of each server, all resolving to 127.0.0.1 (a marked block
# in /etc/hosts) and all in the server certificate. The verifier accepts a token signed
# for any name of the server it guards (as an Aurora instance accepts its instance,
# cluster, reader and proxy endpoints), with the region of that name.
ENDPOINT_ID=c0ffee123456
PG_ENDPOINT_NAME=rdsiam-pg
MYSQL_ENDPOINT_NAME=rdsiam-mysql
GOVCLOUD_REGION=us-gov-west-1
CHINA_REGION=cn-north-1

# rds_endpoints NAME: "KIND HOST REGION" lines, KIND as in the env file's
# RDS_TESTBED_<ENGINE>_<KIND>ENDPOINT keys (INSTANCE has no KIND_ there).
rds_endpoints() {
    local n=$1 id=$ENDPOINT_ID
    echo "INSTANCE $n.$id.us-east-1.rds.amazonaws.com us-east-1"
    echo "CLUSTER $n.cluster-$id.us-east-1.rds.amazonaws.com us-east-1"
    echo "READER $n.cluster-ro-$id.us-east-1.rds.amazonaws.com us-east-1"
    echo "PROXY $n-proxy.proxy-$id.us-east-1.rds.amazonaws.com us-east-1"
    echo "GOVCLOUD $n.$id.$GOVCLOUD_REGION.rds.amazonaws.com $GOVCLOUD_REGION"
    echo "CHINA $n.$id.$CHINA_REGION.rds.amazonaws.com.cn $CHINA_REGION"
}

# endpoint_hosts NAME: the host names alone.
endpoint_hosts() { rds_endpoints "$1" | cut -d' ' -f2; }

# all_endpoint_hosts: every endpoint name of the bed, one a line.
all_endpoint_hosts() {
    endpoint_hosts "$PG_ENDPOINT_NAME"
    endpoint_hosts "$MYSQL_ENDPOINT_NAME"
    echo "$DSQL_ENDPOINT"
}

# hosts_block: the /etc/hosts block, every endpoint name of the bed on 127.0.0.1.
hosts_block() {
    local h
    echo "$BLOCK_BEGIN"
    echo "# AWS-style names of the local test servers (tests/rds-emulator/README.md)."
    for h in $(all_endpoint_hosts); do
        printf '127.0.0.1 %s\n' "$h"
    done
    echo "$BLOCK_END"
}

# put_file is often the last command of a pipeline: run that in this shell so
# CHANGES and LAST_CHANGED survive it.
shopt -s lastpipe

CHANGES=0
LAST_CHANGED=0

say() { printf 'rds-emulator: %s\n' "$*" >&2; }
die() {
    printf 'rds-emulator: error: %s\n' "$*" >&2
    exit 1
}
changed() {
    CHANGES=$((CHANGES + 1))
    LAST_CHANGED=1
    say "changed: $*"
}

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            say "not root: re-running with sudo"
            exec sudo -- "$0" "$@"
        fi
        die "must run as root"
    fi
}

# put_file DEST MODE OWNER GROUP  (content on stdin)
# Writes DEST only if its content or mode/owner differ. Sets LAST_CHANGED.
put_file() {
    local dest=$1 mode=$2 owner=$3 group=$4 new tmp
    LAST_CHANGED=0
    # Compare outside the destination directory: an unchanged file must not even
    # touch its directory's mtime.
    new=$(mktemp)
    cat >"$new"
    if [ -f "$dest" ] && cmp -s "$new" "$dest"; then
        rm -f "$new"
        fix_perms "$dest" "$mode" "$owner" "$group"
        return 0
    fi
    tmp=$(mktemp "$(dirname "$dest")/.rds-emulator.XXXXXX")
    cat "$new" >"$tmp"
    rm -f "$new"
    chmod "$mode" "$tmp"
    chown "$owner:$group" "$tmp"
    mv -f "$tmp" "$dest"
    changed "wrote $dest"
}

# put_file_in_place DEST (content on stdin): like put_file for a file that must keep
# its inode (/etc/hosts is a bind mount in containers: it cannot be replaced by mv).
put_file_in_place() {
    local dest=$1 new
    LAST_CHANGED=0
    new=$(mktemp)
    cat >"$new"
    if [ -f "$dest" ] && cmp -s "$new" "$dest"; then
        rm -f "$new"
        return 0
    fi
    cat "$new" >"$dest"
    rm -f "$new"
    changed "wrote $dest"
}

# fix_perms PATH MODE OWNER GROUP: only touches PATH when something differs.
fix_perms() {
    local path=$1 mode=$2 owner=$3 group=$4 want have
    want="$(printf '%o' "$((8#$mode))") $owner $group"
    have=$(stat -c '%a %U %G' "$path")
    if [ "$have" != "$want" ]; then
        chown "$owner:$group" "$path"
        chmod "$mode" "$path"
        changed "permissions of $path ($have -> $want)"
    fi
}

# ensure_dir PATH MODE OWNER GROUP
ensure_dir() {
    local path=$1
    if [ ! -d "$path" ]; then
        mkdir -p "$path"
        changed "created $path"
    fi
    fix_perms "$@"
}

# strip_block FILE: prints FILE without the rds-emulator block.
strip_block() {
    awk -v b="$BLOCK_BEGIN" -v e="$BLOCK_END" '
        $0 == b { skip = 1; next }
        skip && $0 == e { skip = 0; next }
        !skip { print }
    ' "$1"
}

# wait_until DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_until() {
    local what=$1 seconds=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "timed out after ${seconds}s waiting for $what"
        fi
        sleep 0.1
    done
}

# ---- PostgreSQL ----------------------------------------------------------
# These act on cluster $PG_VERSION/$PG_CLUSTER; for the DSQL one, call them as
# `PG_CLUSTER=$DSQL_CLUSTER pg_sql ...`.

pg_cluster_exists() {
    pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx "$PG_VERSION/$PG_CLUSTER"
}

pg_running() {
    local rc=0
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 0 ]
}

# pg_sql [psql args...]: runs psql as the postgres superuser over the unix socket.
pg_sql() {
    runuser -u postgres -- psql --cluster "$PG_VERSION/$PG_CLUSTER" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

pg_start() {
    say "starting PostgreSQL $PG_VERSION/$PG_CLUSTER"
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start
    wait_until "PostgreSQL to accept connections" 60 pg_sql -d postgres -c 'select 1'
}

# pg_reload: reload and wait until the postmaster has re-read its files.
pg_reload() {
    local before
    before=$(pg_sql -d postgres -c 'select pg_conf_load_time()')
    pg_sql -d postgres -c 'select pg_reload_conf()' >/dev/null
    pg_conf_reloaded() {
        local now
        now=$(pg_sql -d postgres -c 'select pg_conf_load_time()') || return 1
        [ "$now" != "$before" ]
    }
    wait_until "PostgreSQL to reload its configuration" 30 pg_conf_reloaded
    say "PostgreSQL configuration reloaded"
}

# ---- MariaDB -------------------------------------------------------------

my_sql() {
    mariadb --protocol=socket -u root -N -B "$@"
}

my_running() {
    mariadb-admin --protocol=socket -u root ping >/dev/null 2>&1
}

my_start() {
    say "starting MariaDB"
    install -d -m 0755 -o mysql -g mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    local deadline=$((SECONDS + 60))
    until my_running; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 /var/log/mysql/error.log 2>/dev/null >&2 || true
            die "MariaDB did not start (see above / its error log)"
        fi
        sleep 0.1
    done
}

my_stop() {
    say "stopping MariaDB"
    mariadb-admin --protocol=socket -u root shutdown
    local deadline=$((SECONDS + 60))
    while pgrep -x mariadbd >/dev/null || pgrep -x mysqld >/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "MariaDB did not stop within 60s"
        fi
        sleep 0.1
    done
}

my_restart() {
    my_stop
    my_start
}

# ---- the verifier daemon (verifier.py --serve) ------------------------------

# verifier_pong: prints what the running daemon reports ("DIGEST PID"), or fails.
verifier_pong() {
    /usr/bin/python3 -I -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall(b"ping")
s.shutdown(socket.SHUT_WR)
reply = s.recv(200).decode()
assert reply.startswith("pong "), reply
print(" ".join(reply.split()[1:]))
' "$VERIFIER_SOCKET" 2>/dev/null
}

# verifier_ping: prints the digest the running daemon reports, or fails.
verifier_ping() {
    local pong
    pong=$(verifier_pong) || return 1
    echo "${pong%% *}"
}

# verifier_is_ours PID: PID is a live verifier daemon (not another program, not a zombie).
verifier_is_ours() {
    [[ $1 =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'verifier.py --serve'
}

# verifier_exits_within PID TENTHS: polls until PID is no longer a verifier daemon.
verifier_exits_within() {
    local i
    for ((i = 0; i < $2; i++)); do
        verifier_is_ours "$1" || return 0
        sleep 0.1
    done
    ! verifier_is_ours "$1"
}

# verifier_stop: stops the daemon named by the pid file, or else the one answering on
# the socket (only if it is ours): SIGTERM, then SIGKILL if it has not exited within
# 5 s. Removes the pid file and the socket in any case.
verifier_stop() {
    local pid
    pid=$(cat "$VERIFIER_PIDFILE" 2>/dev/null) || pid=
    verifier_is_ours "$pid" || pid=$(verifier_pong | cut -s -d' ' -f2) || pid=
    if verifier_is_ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! verifier_exits_within "$pid" 50; then
            say "the verifier daemon (pid $pid) did not exit on SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            verifier_exits_within "$pid" 50 || say "the verifier daemon (pid $pid) survived SIGKILL"
        fi
    fi
    rm -f "$VERIFIER_PIDFILE" "$VERIFIER_SOCKET"
}
