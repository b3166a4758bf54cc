/**
 * What the benchmark installs in the pages (run by page.evaluate; no imports, page globals only).
 *
 * WebSocket page: the player's `wsMedia.onFrameDecoded` hook — the gateway's capture time from
 * the message header and the VideoDecoder's output time.
 * WebRTC page: per decoded frame its RTP timestamp and the time it left the decoder, from a
 * MediaStreamTrackProcessor on the received track when the browser exposes the RTP timestamp on
 * VideoFrame.metadata() (the closest match to the VideoDecoder output), and from
 * requestVideoFrameCallback (rtpTimestamp, receiveTime, presentationTime — the frame handed to
 * the compositor after decoding — and expectedDisplayTime).
 */

export interface WsSample {
  frameNumber: number;
  keyframe: boolean;
  captureTimeMs: number;
  receivedAtMs: number;
  decodedAtMs: number;
}

export interface RvfcSample {
  rtp: number;
  receiveMs: number | undefined;
  presentationMs: number;
  expectedDisplayMs: number;
  processingMs: number | undefined;
  presentedFrames: number;
}

export interface TrackSample {
  rtp: number;
  decodedAtMs: number;
  receiveMs: number | undefined;
}

export interface BenchWindow {
  __bench?: { ws: WsSample[]; rvfc: RvfcSample[]; track: TrackSample[]; trackProcessor: string; on: boolean };
}

/** Installs the WebSocket hook (the player's wsMedia may appear later: polled). */
export function installWsProbe(): void {
  const w = window as unknown as BenchWindow & { mlstreamPlayer?: { wsMedia?: { onFrameDecoded: unknown } } };
  w.__bench ??= { ws: [], rvfc: [], track: [], trackProcessor: "", on: false };
  const bench = w.__bench;
  const hook = () => {
    const media = w.mlstreamPlayer?.wsMedia;
    if (!media) return void setTimeout(hook, 20);
    media.onFrameDecoded = (frame: WsSample) => {
      if (bench.on) bench.ws.push(frame);
    };
  };
  hook();
}

/** Installs the WebRTC probes on the player's <video> and its received video track. */
export function installRtcProbe(): void {
  const w = window as unknown as BenchWindow & { mlstreamPlayer?: { video: HTMLVideoElement } };
  w.__bench ??= { ws: [], rvfc: [], track: [], trackProcessor: "", on: false };
  const bench = w.__bench;
  const video = w.mlstreamPlayer!.video;
  const origin = performance.timeOrigin;
  const onFrame = (_now: number, md: VideoFrameCallbackMetadata & { rtpTimestamp?: number; receiveTime?: number; processingDuration?: number }) => {
    if (bench.on && md.rtpTimestamp !== undefined) {
      bench.rvfc.push({
        rtp: md.rtpTimestamp,
        receiveMs: md.receiveTime === undefined ? undefined : origin + md.receiveTime,
        presentationMs: origin + md.presentationTime,
        expectedDisplayMs: origin + md.expectedDisplayTime,
        processingMs: md.processingDuration === undefined ? undefined : md.processingDuration * 1000,
        presentedFrames: md.presentedFrames,
      });
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);

  const Processor = (window as unknown as { MediaStreamTrackProcessor?: new (init: { track: MediaStreamTrack }) => { readable: ReadableStream<VideoFrame> } }).MediaStreamTrackProcessor;
  const track = (video.srcObject as MediaStream | null)?.getVideoTracks()[0];
  if (!Processor || !track) {
    bench.trackProcessor = Processor ? "no track" : "no MediaStreamTrackProcessor";
    return;
  }
  // A clone: the processor consumes its own track, the <video> keeps playing the original.
  const reader = new Processor({ track: track.clone() }).readable.getReader();
  bench.trackProcessor = "reading";
  void (async () => {
    for (;;) {
      const { value: frame, done } = await reader.read();
      if (done || !frame) return;
      const at = origin + performance.now();
      try {
        const md = (frame as VideoFrame & { metadata?: () => { rtpTimestamp?: number; receiveTime?: number } }).metadata?.() ?? {};
        if (md.rtpTimestamp === undefined) bench.trackProcessor = "no rtpTimestamp in VideoFrame.metadata()";
        else if (bench.on) bench.track.push({ rtp: md.rtpTimestamp, decodedAtMs: at, receiveMs: md.receiveTime === undefined ? undefined : origin + md.receiveTime });
      } finally {
        frame.close();
      }
    }
  })();
}

/** Counters of the WebRTC receiver (getStats) and of the WebSocket transport. */
export async function pageCounters(): Promise<{ rtc?: { framesReceived: number; framesDecoded: number; framesDropped: number; packetsLost: number; nackCount: number; pliCount: number }; ws?: { framesReceived: number; framesDecoded: number; framesDropped: number; framesNotDrawn: number } }> {
  const player = (window as unknown as { mlstreamPlayer?: { peerConnection?: RTCPeerConnection; wsCounters?: { framesReceived: number; framesDecoded: number; framesDropped: number; framesNotDrawn: number } } }).mlstreamPlayer;
  const out: Awaited<ReturnType<typeof pageCounters>> = {};
  const ws = player?.wsCounters;
  if (ws) out.ws = { framesReceived: ws.framesReceived, framesDecoded: ws.framesDecoded, framesDropped: ws.framesDropped, framesNotDrawn: ws.framesNotDrawn };
  const pc = player?.peerConnection;
  if (pc) {
    (await pc.getStats()).forEach((r: { type: string; kind?: string; framesReceived?: number; framesDecoded?: number; framesDropped?: number; packetsLost?: number; nackCount?: number; pliCount?: number }) => {
      if (r.type === "inbound-rtp" && r.kind === "video") {
        out.rtc = { framesReceived: r.framesReceived ?? 0, framesDecoded: r.framesDecoded ?? 0, framesDropped: r.framesDropped ?? 0, packetsLost: r.packetsLost ?? 0, nackCount: r.nackCount ?? 0, pliCount: r.pliCount ?? 0 };
      }
    });
  }
  return out;
}

/** `Date.now()` minus `performance.timeOrigin + performance.now()`: how far the page's clock is from the wall clock. */
export function clockSkewMs(): number {
  return Date.now() - (performance.timeOrigin + performance.now());
}
