// Playback through an AudioWorklet (handlers/player.worklet.ts): planar
// float frames at any rate, resampled, bounded and zero-filled on underrun
// by PcmQueue in the audio thread. Used by the audio player handler and by
// "Play" on a streamed variable.

import workletUrl from './handlers/player.worklet.ts?worker&url';

export interface PlayerStats {
  queued: number;
  underruns: number;
  overflows: number;
}

export class WorkletPlayer {
  stats: PlayerStats = { queued: 0, underruns: 0, overflows: 0 };
  onStats: (s: PlayerStats) => void = () => {};

  private constructor(
    private ctx: AudioContext,
    private node: AudioWorkletNode,
  ) {}

  /** Why playback cannot start here, or null. */
  static unavailable(): string | null {
    if (typeof AudioWorkletNode === 'undefined' || !window.isSecureContext)
      return 'audio playback needs an AudioWorklet: open the page over https or from localhost';
    return null;
  }

  static async start(channels: number, rate: number, maxSeconds = 0.5): Promise<WorkletPlayer> {
    const why = WorkletPlayer.unavailable();
    if (why) throw new Error(why);
    const ctx = new AudioContext({ latencyHint: 'interactive' });
    await ctx.audioWorklet.addModule(workletUrl);
    const node = new AudioWorkletNode(ctx, 'rill-player', { numberOfInputs: 0, outputChannelCount: [Math.min(channels, 2)] });
    const p = new WorkletPlayer(ctx, node);
    node.port.onmessage = (e) => {
      p.stats = e.data;
      p.onStats(p.stats);
    };
    node.port.postMessage({ type: 'config', channels, rate, maxSeconds, prebufferSeconds: 0.05 });
    node.connect(ctx.destination);
    await ctx.resume();
    return p;
  }

  /** Planar frames (one array per channel); the arrays are transferred. */
  push(planes: Float32Array[]): void {
    this.node.port.postMessage({ type: 'frames', planes }, planes.map((p) => p.buffer as ArrayBuffer));
  }

  stop(): void {
    this.node.disconnect();
    void this.ctx.close();
  }
}
