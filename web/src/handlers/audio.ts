// Audio player handler: user programs send PCM (binary int16 or float32
// frames, interleaved; or small JSON lists) and the page plays it through an
// AudioWorklet (PcmQueue: resampled to the output rate, bounded, silence on
// underrun). Play / Stop is the user's: browsers start audio only after a
// click, and Stop stays stopped until Play.

import type { HandlerFrame } from '../protocol';
import { deinterleave } from './pcm';
import { WorkletPlayer } from '../player';
import { HandlerModel, HandlerView, isNumArray, numParam, warn } from './types';

export class AudioModel implements HandlerModel {
  version = 0;
  warnings: string[] = [];
  readonly rate: number;
  readonly channels: number;
  readonly maxSeconds: number;
  framesReceived = 0;
  /** Called with planar frames as they arrive (the player, when playing). */
  sink: ((planes: Float32Array[]) => void) | null = null;
  /** Peak of the last frames, per channel (shown in the tab). */
  peaks: Float64Array;

  constructor(params: Record<string, unknown>, defaultRate: number) {
    this.rate = numParam(params, 'rate', defaultRate || 48000);
    this.channels = Math.max(1, Math.min(32, Math.floor(numParam(params, 'channels', 1))));
    this.maxSeconds = numParam(params, 'maxLatency', 0.5);
    this.peaks = new Float64Array(this.channels);
  }

  private take(interleaved: ArrayLike<number>, channels: number): void {
    if (channels !== this.channels) {
      warn(this, `audio data with ${channels} channels for a ${this.channels}-channel player`);
      return;
    }
    if (interleaved.length % channels !== 0) {
      warn(this, `${interleaved.length} samples are not whole frames of ${channels} channels`);
      return;
    }
    const planes = deinterleave(interleaved, channels);
    this.framesReceived += planes[0].length;
    planes.forEach((p, c) => {
      let m = 0;
      for (let k = 0; k < p.length; k++) m = Math.max(m, Math.abs(p[k]));
      this.peaks[c] = m;
    });
    this.sink?.(planes);
    this.version++;
  }

  /** {"add": [interleaved samples in -1..1]} or the list itself. */
  data(d: unknown): void {
    const l = isNumArray(d) ? d : d && typeof d === 'object' && isNumArray((d as any).add) ? (d as any).add : null;
    if (l === null) {
      warn(this, 'audio data must be a list of interleaved samples (-1 .. 1)');
      return;
    }
    this.take(l.map((v: number | null) => v ?? 0), this.channels);
  }

  /** Binary: int16 ('h', scaled to -1..1) or float32, interleaved; arg =
   * channels (0: the handler's). */
  frame(f: HandlerFrame): void {
    this.take(f.values, f.arg || this.channels);
  }
}

export class AudioView implements HandlerView {
  private player: WorkletPlayer | null = null;
  private starting = false;
  private info: HTMLElement;
  private button: HTMLButtonElement;
  private drawn = -1;

  constructor(
    private el: HTMLElement,
    private model: AudioModel,
  ) {
    const box = document.createElement('div');
    box.className = 'player';
    this.button = document.createElement('button');
    this.button.textContent = 'Play';
    this.button.onclick = () => (this.player ? this.stop() : void this.play());
    this.info = document.createElement('span');
    this.info.className = 'player-info';
    box.append(this.button, this.info);
    el.appendChild(box);
    this.draw();
  }

  get playing(): boolean {
    return this.player !== null;
  }

  async play(): Promise<void> {
    if (this.player || this.starting) return;
    const why = WorkletPlayer.unavailable();
    if (why) {
      warn(this.model, why);
      this.model.version++;
      return;
    }
    this.starting = true;
    try {
      const p = await WorkletPlayer.start(this.model.channels, this.model.rate, this.model.maxSeconds);
      p.onStats = () => this.model.version++;
      this.player = p;
      this.model.sink = (planes) => p.push(planes);
      this.button.textContent = 'Stop';
    } catch (e) {
      warn(this.model, `cannot play: ${(e as Error).message}`);
    } finally {
      this.starting = false;
      this.model.version++;
    }
  }

  stop(): void {
    this.model.sink = null;
    this.player?.stop();
    this.player = null;
    this.button.textContent = 'Play';
    this.model.version++;
  }

  draw(): void {
    if (this.drawn === this.model.version) return;
    this.drawn = this.model.version;
    const m = this.model;
    const s = this.player?.stats;
    const peaks = Array.from(m.peaks, (p) => p.toFixed(2)).join(' ');
    this.info.textContent =
      `${m.channels} ch, ${m.rate} Hz; ${m.framesReceived} frames received; peak ${peaks}` +
      (s ? `; queued ${((s.queued / m.rate) * 1000).toFixed(0)} ms, ${s.underruns} underruns, ${s.overflows} overflows` : '');
  }

  destroy(): void {
    this.stop();
    this.el.textContent = '';
  }

  snapshot(): unknown {
    return {
      playing: this.playing,
      framesReceived: this.model.framesReceived,
      peaks: Array.from(this.model.peaks),
      stats: this.player?.stats ?? { queued: 0, underruns: 0, overflows: 0 },
    };
  }
}
