#!/bin/bash
# Container health check for pagescope without curl or wget: asks GET /-/healthy through bash's
# /dev/tcp and succeeds on an HTTP 200 answer.
#   PAGESCOPE_HEALTHCHECK_PORT  port pagescope listens on (default 9724)
#   PAGESCOPE_HEALTHCHECK_MODE  http (default) or tcp: with TLS (--web.config.file) plain HTTP gets
#                               no answer, so "tcp" only checks that the port accepts connections.
set -u
port=${PAGESCOPE_HEALTHCHECK_PORT:-9724}
mode=${PAGESCOPE_HEALTHCHECK_MODE:-http}
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
[[ $mode == tcp ]] && exit 0
printf 'GET /-/healthy HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
IFS= read -r -t 4 status <&3 || exit 1
[[ $status == HTTP/1.?" 200"* ]]
