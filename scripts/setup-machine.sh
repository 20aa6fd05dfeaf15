#!/usr/bin/env bash
# Installs the Debian packages the test suite and benchmarks use, when they
# are missing: tshark (oracle), tcpdump, clang/libbpf-dev/bpftool (BPF build),
# gcc (a threaded TLS client the capture test builds), python3-h2 (an h2c
# Upgrade server for the HTTP/2 tests), python3-websockets (a WebSocket server
# and client with permessage-deflate for the WebSocket tests), nghttp2-client and nghttp2-server
# (nghttp and nghttpd: the HTTP/2 table-size and mid-stream trailer tests), golang-go and binutils (a Go HTTPS
# client and server for the Go crypto/tls capture test, objdump its oracle), golang-github-lucas-clemente-quic-go-dev
# (quic-go, which a DNS over QUIC client and server for the DoQ test are built on),
# ngtcp2-client and ngtcp2-server (gtlsclient and gtlsserver: QUIC connections for the QUIC test),
# lld (wasm-ld: the pii locator's build check), mosquitto and mosquitto-clients (an MQTT broker,
# mosquitto_pub and mosquitto_sub for the MQTT tests), memcached, libmemcached-tools and python3-pymemcache
# (a memcached server and text and binary clients for the memcached tests), python3-aiosmtpd and swaks
# (an SMTP server and client for the SMTP tests), dovecot-pop3d and dovecot-imapd (Dovecot: the POP3
# and IMAP server the POP3 tests start privately, driven by Python's poplib), slapd, ldap-utils and
# python3-ldap3 (OpenLDAP: the LDAP server the LDAP tests start privately, its command-line clients and
# Python's ldap3 client), python3-pyftpdlib and python3-openssl (pyftpdlib, the FTP server the FTP tests
# start privately, its AUTH TLS handler on pyOpenSSL; driven by Python's ftplib), nats-server (the NATS
# server the NATS tests start privately, driven by the nats npm client),
# real servers and clients for protocol tests, graphviz, prometheus, chromium,
# zstd (Kafka test batches) and wrk (capture benchmark).
# Idempotent and quiet when everything is present. Needs root.
set -euo pipefail
packages=(
  tshark tcpdump iproute2 curl wget python3-h2 python3-websockets nghttp2-client nghttp2-server ngtcp2-client ngtcp2-server
  clang llvm lld libbpf-dev bpftool gcc golang-go golang-github-lucas-clemente-quic-go-dev binutils
  nginx-light redis-server mariadb-server mariadb-client postgresql dnsmasq dnsutils rabbitmq-server
  graphviz prometheus chromium
  mosquitto mosquitto-clients memcached libmemcached-tools python3-pymemcache python3-aiosmtpd swaks
  dovecot-pop3d dovecot-imapd slapd ldap-utils python3-ldap3 python3-pyftpdlib python3-openssl nats-server
  wrk zstd
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-machine: missing Debian packages (${missing[*]}); run as root" >&2
  exit 1
fi
echo "setup-machine: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts some of these as services on install; the tests start their
# own instances on their own ports and need none of the system ones. Dovecot's
# activation socket first: stopped after it, a connection would start dovecot again.
for svc in redis-server mariadb nginx rabbitmq-server dnsmasq prometheus mosquitto memcached dovecot.socket dovecot slapd nats-server; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  elif command -v service >/dev/null 2>&1; then
    service "$svc" stop >/dev/null 2>&1 || true
  fi
done
