// Opens N WebSocket sessions (npm `ws`, which answers pings as a browser does) and holds them until SIGTERM.
// Usage: node hold.mjs URL N; prints "open N" once all are open, "closed K" when sessions end early.
import WebSocket from 'ws';

const [url, countText] = process.argv.slice(2);
const count = Number(countText);
let open = 0;
let closed = 0;
const sockets = [];

function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () => { open++; ws.send('hello'); resolve(); });
    ws.on('error', reject);
    ws.on('close', () => { closed++; });
    sockets.push(ws);
  });
}

for (let i = 0; i < count; i += 200) {
  await Promise.all(Array.from({ length: Math.min(200, count - i) }, connect));
}
console.log(`open ${open}`);
setInterval(() => { if (closed > 0) console.log(`closed ${closed}`); }, 1000);
process.on('SIGTERM', () => { for (const ws of sockets) ws.terminate(); process.exit(0); });
