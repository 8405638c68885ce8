// Upgrade storm for the admission benchmark: opens WebSockets as fast as it can, up to --count attempts with
// --concurrency in flight, and reports how they ended. A real client (npm `ws`), independent of the gateway's code.
//   node storm.mjs --url ws://127.0.0.1:8080/x --count 20000 --concurrency 100 --source-ips 127.0.0.2-127.0.0.9
import WebSocket from 'ws';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => {
  if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : 'true']);
  return pairs;
}, []));
const url = args.url;
const count = Number(args.count ?? 1000);
const concurrency = Number(args.concurrency ?? 100);
const timeoutMs = Number(args.timeout ?? 10000);
const sources = expand(args['source-ips']);
if (!url) { console.error('--url is required'); process.exit(2); }

function expand(spec) {
  if (!spec) return [undefined];
  const [from, to] = spec.split('-');
  if (!to) return spec.split(',');
  const prefix = from.split('.').slice(0, 3).join('.');
  const first = Number(from.split('.')[3]), last = Number(to.split('.')[3]);
  return Array.from({ length: last - first + 1 }, (_, i) => `${prefix}.${first + i}`);
}

const result = { accepted: 0, rejected: {}, failed: {}, retryAfter: [], acceptMs: [], rejectMs: [] };
let next = 0;

function attempt(i) {
  return new Promise(resolve => {
    const started = process.hrtime.bigint();
    const elapsed = () => Number(process.hrtime.bigint() - started) / 1e6;
    let settled = false;
    const done = () => { if (!settled) { settled = true; resolve(); } };
    const ws = new WebSocket(url, { localAddress: sources[i % sources.length], perMessageDeflate: false, handshakeTimeout: timeoutMs });
    ws.on('open', () => {
      result.accepted++;
      result.acceptMs.push(elapsed());
      // A clean close; the attempt ends when the server's close frame arrives.
      ws.close(1000);
    });
    ws.on('close', done);
    ws.on('unexpected-response', (req, res) => {
      result.rejected[res.statusCode] = (result.rejected[res.statusCode] ?? 0) + 1;
      const retry = res.headers['retry-after'];
      if (retry !== undefined) result.retryAfter.push(Number(retry));
      result.rejectMs.push(elapsed());
      res.resume();
      req.destroy();
      done();
    });
    ws.on('error', (error) => {
      if (settled) return;
      const cause = error.code ?? error.message;
      result.failed[cause] = (result.failed[cause] ?? 0) + 1;
      done();
    });
  });
}

async function worker() {
  while (next < count) await attempt(next++);
}

const wallStart = process.hrtime.bigint();
await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = Number(process.hrtime.bigint() - wallStart) / 1e9;

const pct = (xs, p) => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return +s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))].toFixed(2); };
const rejectedTotal = Object.values(result.rejected).reduce((a, b) => a + b, 0);
const summary = {
  url, attempts: count, concurrency, sources: sources.length, seconds: +seconds.toFixed(3),
  attemptsPerSecond: Math.round(count / seconds),
  accepted: result.accepted, acceptedPerSecond: Math.round(result.accepted / seconds),
  rejected: result.rejected, rejectedPerSecond: Math.round(rejectedTotal / seconds),
  failed: result.failed,
  retryAfter: result.retryAfter.length ? { present: result.retryAfter.length, min: Math.min(...result.retryAfter), max: Math.max(...result.retryAfter), distinct: new Set(result.retryAfter).size } : null,
  acceptMs: { p50: pct(result.acceptMs, 50), p99: pct(result.acceptMs, 99), max: pct(result.acceptMs, 100) },
  rejectMs: { p50: pct(result.rejectMs, 50), p99: pct(result.rejectMs, 99), max: pct(result.rejectMs, 100) },
};
console.log(JSON.stringify(summary));
