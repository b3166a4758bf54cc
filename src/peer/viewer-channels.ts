/**
 * Data channels a viewer opens itself (beside our `input` / `input-unreliable`): a client that
 * speaks another project's channel protocol (a Helix browser, docs/helix.md §1.2) plugs in here.
 * src/peer knows only this interface; the composition root (src/streamer/worker.ts) injects the
 * implementation, so the peer layer depends on no compatibility module.
 */
import type { InputPacket } from "../moonlight/input/input.ts";

/** Turns one message of a viewer-opened channel into GameStream input packets; throws when malformed. */
export type ChannelTranslator = (bytes: Uint8Array) => InputPacket[];

/** One viewer's view of its own channels (it may keep per-viewer state, e.g. which pads arrived). */
export interface ViewerChannels {
  /** The translator for a channel label, or undefined to close a channel nobody understands. */
  translator(label: string): ChannelTranslator | undefined;
  /** Errors a translator throws for malformed input (counted, not logged). */
  isMalformed(error: unknown): boolean;
  /** The message telling this viewer's own pad to rumble, and the channel label it goes on; undefined when the protocol has none. */
  rumble?(controllerNumber: number, lowFrequency: number, highFrequency: number): { label: string; bytes: Uint8Array } | undefined;
}

/** Makes the channel handler of one new viewer. */
export type ViewerChannelsFactory = () => ViewerChannels;
