// Conformant WebSocket echo backend for the Autobahn run (npm `ws`, permessage-deflate on): every message goes back
// as it came, text as text and binary as binary. `node echo-server.mjs [port]` prints "listening PORT".
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0), perMessageDeflate: true });
wss.on('connection', ws => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // a protocol error closes the connection (ws answers it); nothing to log
});
wss.on('listening', () => console.log(`listening ${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
