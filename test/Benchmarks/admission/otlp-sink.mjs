// An OTLP/HTTP sink for the admission benchmark with tracing on: answers every POST /v1/traces with 200 and an empty
// ExportTraceServiceResponse, counts requests and bytes (printed on SIGTERM); prints "listening PORT".
import { createServer } from 'node:http';

let requests = 0;
let bytes = 0;
const server = createServer((req, res) => {
  req.on('data', chunk => { bytes += chunk.length; });
  req.on('end', () => {
    requests += 1;
    res.writeHead(req.method === 'POST' && req.url === '/v1/traces' ? 200 : 404, { 'content-type': 'application/x-protobuf' });
    res.end();
  });
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => { console.log(`received ${requests} export requests, ${bytes} bytes`); process.exit(0); });
