#!/usr/bin/env bash
# What a message create costs on PostgreSQL, part by part (see bench/README.md):
#
#   bench/pg-write-anatomy.sh [--bin PATH] [--seconds 10] [--rounds 2]
#
# Starts a throwaway PostgreSQL cluster on 127.0.0.1, lets threadhold create its
# schema there, seeds 100,000 threads, then runs pgbench (64 clients, each
# writing to its own thread) on the create statement of
# crates/store/src/postgres/messages.rs (`insert_message!`) and on variants
# without one of its parts. It prints statements/s and messages/s per variant.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${CARGO_TARGET_DIR:-$(dirname "$here")/target}/release/threadhold"
seconds=10
rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$pg_bin/pgbench" ] || { echo "pgbench not found under /usr/lib/postgresql/*/bin" >&2; exit 1; }
[ -x "$bin" ] || { echo "no threadhold binary at $bin (cargo build --release -p threadhold, or --bin)" >&2; exit 1; }

work="$(mktemp -d /tmp/threadhold-pg-anatomy.XXXXXX)"
chmod 755 "$work"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  as_pg=(runuser -u postgres --)
fi
port=$((20000 + RANDOM % 20000))
cleanup() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/db" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/db" -A trust -U postgres >/dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/db" -l "$work/log" -w \
  -o "-h 127.0.0.1 -p $port -k $work -c max_connections=100" start >/dev/null
url="postgres://postgres@127.0.0.1:$port/postgres"
psql=("$pg_bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres postgres)

mkdir -p "$work/data"
"$bin" keys create --name anatomy --data "$work/data" --database-url "$url" >/dev/null
"${psql[@]}" <<'SQL'
INSERT INTO threads (id, project_id, workspace_id, last_message_at, created_at, updated_at)
SELECT 't' || g, 'default', 'w' || (g % 100), 1700000000000 + g, 1700000000000 + g, 1700000000000 + g
FROM generate_series(1, 100000) g;
INSERT INTO threads (id, project_id, workspace_id, last_message_at, created_at, updated_at)
SELECT 'wt' || g, 'default', 'w', 1700000000000, 1700000000000, 1700000000000 FROM generate_series(0, 63) g;
VACUUM ANALYZE;
SQL

text="A benchmark message of about one hundred bytes, the size of a short chat turn."
now="(extract(epoch from clock_timestamp()) * 1000)::bigint"
lock="thread AS (SELECT id FROM threads WHERE id = 'wt' || :client_id AND project_id = 'default' AND workspace_id = 'w' FOR UPDATE)"
# $1: messages per statement.
insert() {
  echo "inserted AS (INSERT INTO messages (id, thread_id, parent_id, height, format, content, external_id, created_at, updated_at, search_indexed) SELECT gen_random_uuid()::text, 'wt' || :client_id, NULL, 0, 'aui/v0', '{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"$text\"}]}', NULL, $now, $now, TRUE FROM thread, generate_series(1, $1) RETURNING id, created_at)"
}
search=", searchable AS (INSERT INTO message_search (message_id, text, thread_id, created_at) SELECT id, '$text', 'wt' || :client_id, created_at FROM inserted)"
count=", counted AS (INSERT INTO activity_log (project_id, day, messages) SELECT 'default', 20000, count(*) FROM inserted)"
bump=", bumped AS (UPDATE threads SET last_message_at = GREATEST(last_message_at, (SELECT max(created_at) FROM inserted)), updated_at = (SELECT max(created_at) FROM inserted), title = COALESCE(title, 'x') WHERE id = 'wt' || :client_id AND EXISTS (SELECT 1 FROM inserted))"
# The same without last_message_at, which three indexes hold: a HOT update.
hot_bump=", bumped AS (UPDATE threads SET updated_at = (SELECT max(created_at) FROM inserted), title = COALESCE(title, 'x') WHERE id = 'wt' || :client_id AND EXISTS (SELECT 1 FROM inserted))"
answer=" SELECT EXISTS (SELECT 1 FROM thread), EXISTS (SELECT 1 FROM inserted);"

variant() { # name, messages per statement, parts
  local name="$1" per="$2"
  shift 2
  echo "WITH $lock, $(insert "$per")$*$answer" >"$work/$name.sql"
  echo "$name $per" >>"$work/variants"
}
variant "as-served" 1 "$search" "$count" "$bump"
variant "no-bump" 1 "$search" "$count"
variant "hot-bump" 1 "$search" "$count" "$hot_bump"
variant "no-search-entry" 1 "$count" "$bump"
variant "no-activity-count" 1 "$search" "$bump"
variant "insert-only" 1
variant "8-per-statement" 8 "$search" "$count" "$bump"

printf '%-18s %8s %12s %12s\n' variant round statements/s messages/s
for round in $(seq 1 "$rounds"); do
  while read -r name per; do
    tps="$("$pg_bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M prepared -c 64 -j 2 -T "$seconds" \
      -f "$work/$name.sql" postgres 2>&1 | awk '/^tps/ {print $3}')"
    awk -v name="$name" -v round="$round" -v tps="$tps" -v per="$per" \
      'BEGIN { printf "%-18s %8s %12.0f %12.0f\n", name, round, tps, tps * per }'
  done <"$work/variants"
done
