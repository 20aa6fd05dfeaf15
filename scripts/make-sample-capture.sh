#!/usr/bin/env bash
# Regenerates test/fixtures/sample-http.pcapng: real HTTP/1.1 traffic between
# curl and a small node server on loopback, captured with tcpdump. The values
# in it (names, e-mail, card number) are test data, not anyone's.
# Needs root (tcpdump), curl and node.
set -euo pipefail
cd "$(dirname "$0")/.."
out=test/fixtures/sample-http.pcapng
port=18080
tmp=$(mktemp -d)
trap 'kill $srv $dump 2>/dev/null || true; rm -rf "$tmp"' EXIT

node -e '
const http = require("http"), zlib = require("zlib");
http.createServer((req, res) => {
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    if (req.url.startsWith("/api/users/42")) {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ id: 42, name: "Ada Lovelace", email: "ada@example.com", phone: "+44 20 7946 0018" }));
    } else if (req.url === "/api/orders" && req.method === "POST") {
      res.statusCode = 201;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ ok: true, received: JSON.parse(body).items.length }));
    } else if (req.url === "/report") {
      res.setHeader("content-type", "text/plain");
      res.setHeader("content-encoding", "gzip");
      res.end(zlib.gzipSync("quarterly report\n".repeat(50)));
    } else if (req.url === "/stream") {
      res.setHeader("content-type", "text/plain");
      res.write("part one, ");
      setTimeout(() => res.end("part two"), 20);
    } else {
      res.statusCode = 404;
      res.end("not found");
    }
  });
}).listen('"$port"', "127.0.0.1");
' &
srv=$!
tcpdump -i lo -U -s 0 --time-stamp-precision=nano -w "$tmp/cap.pcapng" "tcp port $port" 2>/dev/null &
dump=$!
sleep 1.5
base=http://127.0.0.1:$port
curl -s -o /dev/null "$base/api/users/42?fields=name,email" -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl'
curl -s -o /dev/null -X POST "$base/api/orders" -H 'content-type: application/json' \
  -d '{"customer":{"email":"grace@example.org","card":"4111 1111 1111 1111"},"items":[{"sku":"A-1","qty":2}]}'
curl -s --compressed -o /dev/null "$base/report" -o /dev/null "$base/stream" -o /dev/null "$base/missing"
sleep 1
kill -INT $dump; wait $dump 2>/dev/null || true
cp "$tmp/cap.pcapng" "$out"
echo "wrote $out ($(stat -c %s "$out") bytes)"
