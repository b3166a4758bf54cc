/**
 * WebRTC self-test: two local PeerConnections bound to loopback negotiate, open a data channel
 * and exchange one message. Proves the native addon loads and ICE/DTLS/SCTP work on this machine
 * (used by `mlstream doctor`).
 */
import nodeDataChannel, { PeerConnection } from "node-datachannel";

export interface SelfTestResult {
  libraryVersion: string;
  /** Milliseconds from creating the peers to receiving the echoed message. */
  roundTripMs: number;
  candidate: string;
}

export class SelfTestError extends Error {
  override name = "SelfTestError";
}

export async function runDataChannelSelfTest(timeoutMs = 10_000): Promise<SelfTestResult> {
  const started = performance.now();
  // Bound to loopback: the self-test must never send a packet off this machine.
  const config = { iceServers: [], bindAddress: "127.0.0.1" };
  const offerer = new PeerConnection("doctor-offerer", config);
  const answerer = new PeerConnection("doctor-answerer", config);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<SelfTestResult>((resolve, reject) => {
      timer = setTimeout(() => reject(new SelfTestError(`no data-channel echo within ${timeoutMs} ms (offerer state ${offerer.state()})`)), timeoutMs);
      offerer.onLocalDescription((sdp, type) => answerer.setRemoteDescription(sdp, type));
      offerer.onLocalCandidate((candidate, mid) => answerer.addRemoteCandidate(candidate, mid));
      answerer.onLocalDescription((sdp, type) => offerer.setRemoteDescription(sdp, type));
      answerer.onLocalCandidate((candidate, mid) => offerer.addRemoteCandidate(candidate, mid));
      answerer.onDataChannel((channel) => {
        channel.onMessage((message) => channel.sendMessage(`echo:${String(message)}`));
      });
      const channel = offerer.createDataChannel("doctor");
      channel.onOpen(() => channel.sendMessage("ping"));
      channel.onMessage((message) => {
        if (String(message) !== "echo:ping") return reject(new SelfTestError(`unexpected echo ${JSON.stringify(String(message))}`));
        const pair = offerer.getSelectedCandidatePair();
        resolve({
          libraryVersion: nodeDataChannel.getLibraryVersion(),
          roundTripMs: performance.now() - started,
          candidate: pair ? `${pair.local.address}:${pair.local.port} ⇄ ${pair.remote.address}:${pair.remote.port}` : "unknown",
        });
      });
    });
  } finally {
    clearTimeout(timer);
    offerer.close();
    answerer.close();
  }
}
