// A user program for the browser benchmark: connects to rill serve in native
// mode, creates spectrogram handlers and, once told "go" on stdin, sends one
// binary column per handler at RATE columns per second, as a program doing
// FFTs would (docs/HANDLERS.md); the server relays them to the page.
//   node --experimental-websocket spectrogram_feeder.mjs WS_URL N HEIGHT WIDTH RATE
// Prints "ready" once the handlers are created, "sent N" when stdin closes.
const [url, nStr, hStr, wStr, rStr] = process.argv.slice(2);
const N = Number(nStr), HEIGHT = Number(hStr), WIDTH = Number(wStr), RATE = Number(rStr);

const ws = new WebSocket(`${url}/gui_control`);
ws.binaryType = 'arraybuffer';
let timer = 0;
let sent = 0;
ws.onerror = (e) => {
  console.error(`feeder: ${e.message || 'websocket error'}`);
  process.exit(1);
};
ws.onclose = () => {
  clearInterval(timer);
};
ws.onopen = () => ws.send(JSON.stringify({ rill: 'hello', version: 1 }));
ws.onmessage = (e) => {
  if (typeof e.data !== 'string') return;
  const m = JSON.parse(e.data);
  if (m.rill === 'hello') {
    for (let k = 1; k <= N; k++)
      ws.send(
        JSON.stringify({
          event: 'handler',
          id: k,
          name: `Spectrum ${k}`,
          type: 'spectrogram',
          parameters: { width: WIDTH, height: HEIGHT, min: -100, max: 0, delta_freq: 48000 / 512 },
        }),
      );
    console.log('ready');
  } else if (m.error || m.event === 'error') console.error(`feeder: server says ${e.data}`);
};

// 200 precomputed columns: a tone sweeping up with a harmonic, over noise (dB).
const PAT = 200;
const pat = new Float32Array(PAT * HEIGHT);
for (let c = 0; c < PAT; c++) {
  const peak = 5 + ((c * 1.3) % (HEIGHT - 10));
  for (let k = 0; k < HEIGHT; k++)
    pat[c * HEIGHT + k] = -90 + 80 * Math.exp(-(((k - peak) / 2) ** 2)) + 50 * Math.exp(-(((k - 2 * peak) / 3) ** 2)) + 8 * Math.random();
}

function go() {
  const start = performance.now();
  let col = 0;
  timer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    for (; col < due; col++)
      for (let id = 1; id <= N; id++) {
        const buf = new ArrayBuffer(32 + HEIGHT * 4);
        const dv = new DataView(buf);
        dv.setUint8(0, 1); // version
        dv.setUint8(1, 16); // kind: handler data
        dv.setUint8(2, 'f'.charCodeAt(0));
        dv.setUint32(4, id, true);
        dv.setBigUint64(8, BigInt(col), true);
        dv.setUint32(24, HEIGHT, true);
        new Float32Array(buf, 32, HEIGHT).set(pat.subarray((col % PAT) * HEIGHT, (col % PAT + 1) * HEIGHT));
        ws.send(buf);
        sent++;
      }
  }, 4);
}

process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  if (d.includes('go')) go();
});
process.stdin.on('end', () => {
  clearInterval(timer);
  console.log(`sent ${sent}`);
  ws.close();
  setTimeout(() => process.exit(0), 200);
});
