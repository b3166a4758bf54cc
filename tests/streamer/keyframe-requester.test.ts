import { describe, expect, test } from "bun:test";
import { KeyframeRequester } from "../../src/streamer/keyframe-requester.ts";

describe("KeyframeRequester", () => {
  test("a burst of requests from many viewers reaches the host as one, then one deferred", async () => {
    let sent = 0;
    const requester = new KeyframeRequester({ send: () => sent++, isWaiting: () => false, minIntervalMs: 100, retryMs: 10_000 });
    for (let i = 0; i < 40; i++) requester.request();
    expect(sent).toBe(1);
    await Bun.sleep(20);
    requester.request(); // inside the window: deferred to its end
    requester.request();
    expect(sent).toBe(1);
    await Bun.sleep(120);
    expect(sent).toBe(2);
    expect(requester.asked).toBe(42);
    requester.close();
  });

  test("it is retried every retry period while a viewer still waits, and stops once served", async () => {
    let sent = 0;
    let waiting = true;
    const requester = new KeyframeRequester({ send: () => sent++, isWaiting: () => waiting, minIntervalMs: 10, retryMs: 50 });
    requester.request();
    await Bun.sleep(180);
    expect(sent).toBeGreaterThanOrEqual(3);
    waiting = false;
    requester.keyframeArrived();
    const after = sent;
    await Bun.sleep(150);
    expect(sent).toBe(after);
    requester.close();
  });

  test("close() cancels what is pending", async () => {
    let sent = 0;
    const requester = new KeyframeRequester({ send: () => sent++, isWaiting: () => true, minIntervalMs: 50, retryMs: 50 });
    requester.request();
    requester.request();
    requester.close();
    await Bun.sleep(120);
    expect(sent).toBe(1);
  });
  test("while a viewer waits, the stats say for how long, how often we asked and why; nothing once served", async () => {
    let waiting = true;
    const requester = new KeyframeRequester({ send: () => {}, isWaiting: () => waiting });
    expect(requester.waitState()).toBeUndefined();
    requester.request();
    expect(requester.waitState()).toMatchObject({ requests_sent: 1, reason: "asked the host for a keyframe; waiting for it" });
    // The default re-ask comes within 0.2 s, not after a second: an unanswered request is not waited out.
    await Bun.sleep(400);
    const state = requester.waitState()!;
    expect(state.requests_sent).toBeGreaterThanOrEqual(2);
    expect(state.waiting_ms).toBeGreaterThanOrEqual(350);
    expect(state.reason).toContain("did not answer");
    waiting = false;
    requester.keyframeArrived();
    expect(requester.waitState()).toBeUndefined();
    requester.close();
  });
});
