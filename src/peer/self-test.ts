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

/** Peers being closed: a description or candidate still queued for them is dropped. */
const closed = new WeakSet<PeerConnection>();

/**
 * Passes `from`'s description and candidates to `to`. A candidate can come before the description
 * it belongs to, and callbacks can still come after `close()`: either, applied as it came, makes
 * libdatachannel throw inside a native callback, which aborts the process (seen once in CI). So
 * candidates wait for the description, and nothing is applied to a closed peer.
 */
function signal(from: PeerConnection, to: PeerConnection, fail: (error: Error) => void): void {
  let described = false;
  const pending: [candidate: string, mid: string][] = [];
  const apply = (what: () => void) => {
    if (closed.has(to)) return;
    try {
      what();
    } catch (error) {
      fail(new SelfTestError(`signaling between the two peers: ${(error as Error).message}`));
    }
  };
  from.onLocalDescription((sdp, type) =>
    apply(() => {
      to.setRemoteDescription(sdp, type);
      described = true;
      for (const [candidate, mid] of pending.splice(0)) to.addRemoteCandidate(candidate, mid);
    }),
  );
  from.onLocalCandidate((candidate, mid) => {
    if (described) apply(() => to.addRemoteCandidate(candidate, mid));
    else pending.push([candidate, mid]);
  });
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
      signal(offerer, answerer, reject);
      signal(answerer, offerer, reject);
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
    closed.add(offerer).add(answerer);
    offerer.close();
    answerer.close();
  }
}
