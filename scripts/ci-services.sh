#!/usr/bin/env bash
# CI only: make sure what the suite requires is here and running — PostgreSQL, Redis,
# Debian's Chromium (driven by Playwright, never downloaded by it) and unixODBC with its
# PostgreSQL driver.
set -euo pipefail

need_packages=()
command -v chromium >/dev/null 2>&1 || need_packages+=(chromium)
[ -e /usr/lib/x86_64-linux-gnu/libodbc.so.2 ] || [ -e /usr/lib/aarch64-linux-gnu/libodbc.so.2 ] \
  || need_packages+=(unixodbc)
# Custom tables of ODBC data sources: the PostgreSQL driver ("PostgreSQL Unicode").
command -v odbcinst >/dev/null 2>&1 && odbcinst -q -d 2>/dev/null | grep -qx '\[PostgreSQL Unicode\]' \
  || need_packages+=(unixodbc odbc-postgresql)
command -v pg_ctlcluster >/dev/null 2>&1 || need_packages+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_packages+=(redis-server)
if [ ${#need_packages[@]} -gt 0 ]; then
  echo "== apt-get install ${need_packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "== starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -n | tail -1)
  pg_ctlcluster "$version" main start
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "== starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
