/** The HTTP/1.1 bench's requests and answers (browser-like heads, JSON bodies), shared with the TLS bench that carries them encrypted. */
import { rand } from './tcp-workload.js';

const paths = ['/api/v1/users', '/api/v1/orders', '/api/v1/products/search', '/static/app.js', '/api/v1/cart/items', '/health'];
export function requestFor(i: number): Buffer {
  const p = paths[i % paths.length];
  const withBody = i % 3 === 0;
  const body = withBody ? JSON.stringify({ id: i, customer: { name: `User ${i}`, email: `user${i}@example.com` }, items: Array.from({ length: 1 + (i % 5) }, (_, k) => ({ sku: `SKU-${k}-${i}`, qty: k + 1 })) }) : '';
  const head =
    `${withBody ? 'POST' : 'GET'} ${p}?page=${i % 17}&sort=desc HTTP/1.1\r\n` +
    `Host: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n` +
    `Accept: application/json, text/plain, */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: identity\r\n` +
    `Cookie: session=${(i * 2654435761) >>> 0}; theme=dark\r\nConnection: keep-alive\r\n` +
    (withBody ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '') +
    '\r\n';
  return Buffer.from(head + body);
}
export function responseFor(i: number): Buffer {
  const n = 2 + rand(60);
  const body = JSON.stringify({ page: i % 17, items: Array.from({ length: n }, (_, k) => ({ id: k, name: `Item ${k}`, price: (k * 3.7).toFixed(2), tags: ['a', 'b'] })) });
  const head =
    `HTTP/1.1 200 OK\r\nDate: Tue, 15 Nov 2026 08:12:31 GMT\r\nServer: nginx/1.22.1\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\nCache-Control: no-store\r\nX-Request-Id: ${i}\r\n\r\n`;
  return Buffer.from(head + body);
}
