// The audio player's AudioWorkletProcessor: frames arrive on the port as
// planar Float32Arrays (transferred), and are played through a PcmQueue.
// Stats go back to the page about every 250 ms.
import { PcmQueue } from './pcm';

declare const sampleRate: number;
declare function registerProcessor(name: string, ctor: unknown): void;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}

class RillPlayer extends AudioWorkletProcessor {
  private q: PcmQueue | null = null;
  private blocks = 0;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent) => {
      const m = e.data;
      if (m.type === 'config') this.q = new PcmQueue(m.channels, m.rate, sampleRate, m.maxSeconds, m.prebufferSeconds);
      else if (m.type === 'frames' && this.q) this.q.push(m.planes);
    };
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0];
    if (this.q) this.q.pull(out);
    else for (const c of out) c.fill(0);
    if (++this.blocks % 94 === 0 && this.q)
      this.port.postMessage({ queued: this.q.queued, underruns: this.q.underruns, overflows: this.q.overflows });
    return true;
  }
}

registerProcessor('rill-player', RillPlayer);
