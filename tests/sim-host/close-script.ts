/**
 * Run as a child process by media-close.test.ts: a whole streaming session against the sim, then
 * close() of everything. The process must then exit by itself — any socket or timer left open
 * would keep it alive. Prints "streamed <frames>" on success.
 */
import { ControlStream } from "../../src/moonlight/control/control-stream.ts";
import { setLogLevel } from "../../src/core/log.ts";
import { PingingSocket, launchAndHandshake, startSim, waitFor } from "./media-harness.ts";

setLogLevel("error");
const fixture = await startSim({ media: { livePattern: process.argv.includes("--live") } });
const launched = await launchAndHandshake(fixture);
const video = await PingingSocket.open();
const audio = await PingingSocket.open();
video.startPinging(launched.rtsp.video.port, launched.rtsp.video.pingPayload);
audio.startPinging(launched.rtsp.audio.port, launched.rtsp.audio.pingPayload);
const control = await ControlStream.connect({
  address: "127.0.0.1",
  port: launched.rtsp.control.port,
  connectData: launched.rtsp.control.connectData ?? 0,
  key: launched.keys.rikey,
  ivScheme: launched.rtsp.controlIvScheme,
  disconnectLingerMs: 200,
});
await waitFor(() => video.received.length > 20 && audio.received.length > 20, 10_000, "media");
control.sendInput({ kind: "mouseMoveRelative", deltaX: 1, deltaY: 1 });
await waitFor(() => fixture.host.inputLog.length > 0, 3000, "input");
// The host closes first (termination to the client), then the client side.
await fixture.close();
await fixture.close();
await control.close();
video.close();
audio.close();
console.log(`streamed ${fixture.host.media!.stats.video.framesSent}`);
