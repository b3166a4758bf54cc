/**
 * The viewer heartbeat (docs/signaling.md "Liveness", docs/ws-media.md): every viewer says
 * something at least every HEARTBEAT_INTERVAL_MS, so that a viewer that went silent (frozen
 * process, dead network path, suspended laptop) is noticed in seconds instead of when a socket
 * finally times out — until then it would keep its keys down on the host.
 *
 * - WebRTC: a text message on the `input` data channel (input itself is always binary, so any
 *   text message there is a heartbeat; its content is ignored). It travels the path the viewer's
 *   input travels, which is what matters: a viewer whose signaling socket lives but whose data
 *   channel is dead cannot release its keys either.
 * - WebSocket transport: the binary PING of docs/ws-media.md (the RTT ping doubles as heartbeat).
 *
 * Any input counts as well. A viewer not heard from for VIEWER_SILENCE_MS is marked stale and its
 * held keys, buttons and controllers are released; it is not removed, and it is live again as soon
 * as it is heard from.
 */

export const HEARTBEAT_INTERVAL_MS = 500;
/** What the viewers send as a data-channel heartbeat (any text would do). */
export const HEARTBEAT_MESSAGE = "hb";
/**
 * Four missed heartbeats. A background browser tab's timers fire at most once a second, so this
 * leaves a second of slack there; with the liveness check's period the held input is released
 * within about 2.3 s of the last word.
 */
export const VIEWER_SILENCE_MS = 2000;
