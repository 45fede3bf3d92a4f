// The least a Node process can do in the agent's place: read the camera pipe from stdin and send
// each read as one WebSocket message (zero mask, like the agent), nothing else: no framing, no
// header, no timers. Plain JavaScript, so no loader sits in the process. `node node-forwarder.mjs URL`
import WebSocket from 'ws';

const ws = new WebSocket(process.argv[2], {
  perMessageDeflate: false,
  headers: { authorization: 'Bearer bench-node-floor' },
  generateMask: (mask) => mask.fill(0),
});
ws.on('open', () => process.stdin.on('data', (chunk) => ws.send(chunk, { binary: true, compress: false })));
ws.on('error', (error) => {
  process.stderr.write(`node-forwarder: ${error.message}\n`);
  process.exit(1);
});
