// Play and Record of streamed variables: Play sends a dense variable's
// values to the speakers through an AudioWorklet (at the device's rate,
// resampled there); Record keeps them from the press until the next one,
// then downloads them as a 16-bit WAV file at the rate they were recorded
// at. Both tap the stream's buffers as they arrive, whatever the charts
// show.

import type { NativeMessage } from './protocol';
import { WorkletPlayer, type PlayerStats } from './player';
import type { Stream, Tap } from './streams';
import { concat, encodeWav } from './wav';

interface Playing {
  player: WorkletPlayer;
  tap: Tap;
}
interface Recording {
  chunks: Float32Array[];
  rate: number;
  tap: Tap;
}

export class StreamTaps {
  private playing = new Map<string, Playing>();
  private recording = new Map<string, Recording>();
  /** Why something failed, for the page's error line. */
  onError: (msg: string) => void = () => {};
  /** The buttons of a variable should show its new state. */
  onState: (name: string) => void = () => {};

  isPlaying(name: string): boolean {
    return this.playing.has(name);
  }
  playerStats(name: string): PlayerStats | null {
    return this.playing.get(name)?.player.stats ?? null;
  }
  /** Values recorded so far, or null when not recording. */
  recorded(name: string): number | null {
    const r = this.recording.get(name);
    return r ? r.chunks.reduce((n, c) => n + c.length, 0) : null;
  }

  async togglePlay(s: Stream, rate: number): Promise<void> {
    const name = s.v.name;
    const p = this.playing.get(name);
    if (p) {
      this.stopPlay(s);
      return;
    }
    try {
      const player = await WorkletPlayer.start(1, rate);
      const tap: Tap = (m: NativeMessage) => {
        if (!m.sparse) player.push([Float32Array.from(m.values)]);
      };
      s.taps.add(tap);
      this.playing.set(name, { player, tap });
    } catch (e) {
      this.onError(`cannot play ${name}: ${(e as Error).message}`);
    }
    this.onState(name);
  }

  private stopPlay(s: Stream): void {
    const p = this.playing.get(s.v.name);
    if (!p) return;
    p.player.stop();
    s.taps.delete(p.tap);
    this.playing.delete(s.v.name);
    this.onState(s.v.name);
  }

  toggleRecord(s: Stream, rate: number): void {
    const name = s.v.name;
    const r = this.recording.get(name);
    if (!r) {
      const rec: Recording = { chunks: [], rate, tap: (m) => (m.sparse ? undefined : void rec.chunks.push(Float32Array.from(m.values))) };
      s.taps.add(rec.tap);
      this.recording.set(name, rec);
      this.onState(name);
      return;
    }
    s.taps.delete(r.tap);
    this.recording.delete(name);
    this.onState(name);
    download(`${name}.wav`, encodeWav([concat(r.chunks)], r.rate));
  }

  /** The stream goes away (its chart closed, the page disconnected). */
  drop(s: Stream): void {
    this.stopPlay(s);
    const r = this.recording.get(s.v.name);
    if (r) {
      s.taps.delete(r.tap);
      this.recording.delete(s.v.name);
      this.onState(s.v.name);
    }
  }

  /** Before the device's rate changes: recordings are saved (at the rate
   * they were made at) and players stopped; returns the names that were
   * playing, to start again at the new rate with resume(). */
  rateChanging(streams: Iterable<Stream>): string[] {
    const again: string[] = [];
    for (const s of streams) {
      if (this.recording.has(s.v.name)) this.toggleRecord(s, 0);
      if (this.playing.has(s.v.name)) {
        again.push(s.v.name);
        this.stopPlay(s);
      }
    }
    return again;
  }
}

function download(name: string, data: ArrayBuffer): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([data], { type: 'audio/wav' }));
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
