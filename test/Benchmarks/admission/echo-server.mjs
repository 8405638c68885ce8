// WebSocket echo backend for the admission benchmark (npm `ws`); prints "listening PORT".
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0), perMessageDeflate: false, backlog: 4096 });
wss.on('connection', ws => ws.on('message', (data, binary) => ws.send(data, { binary })));
wss.on('listening', () => console.log(`listening ${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
