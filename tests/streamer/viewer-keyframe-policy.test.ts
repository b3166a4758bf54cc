import { describe, expect, test } from "bun:test";
import { ViewerKeyframePolicy } from "../../src/streamer/viewer-keyframe-policy.ts";

/** A policy over a controllable clock; `sent` counts requests passed on to the host. */
function policyWith(options: { intervalMs?: number; others?: number } = {}) {
  let now = 0;
  const counter = { sent: 0 };
  const policy = new ViewerKeyframePolicy({
    requestFromHost: () => counter.sent++,
    intervalMs: options.intervalMs ?? 3000,
    othersWatching: () => options.others ?? 2,
    now: () => now,
  });
  return { policy, counter, advance: (ms: number) => (now += ms) };
}

describe("ViewerKeyframePolicy", () => {
  test("a viewer that keeps losing its picture reaches the host at most once per interval", () => {
    const { policy, counter, advance } = policyWith({ intervalMs: 3000 });
    policy.add("lossy");
    // 60 losses over 6 s, each answered by a keyframe going out 50 ms later.
    for (let i = 0; i < 60; i++) {
      policy.request("lossy", "loss");
      advance(50);
      policy.keyframeSent();
      advance(50);
    }
    expect(counter.sent).toBe(2);
    expect(policy.state("lossy")).toMatchObject({ asked: 60, granted: 2 });
    policy.close();
  });

  test("a held request goes out at the end of the interval if no keyframe came first", async () => {
    const { policy, counter } = policyWith({ intervalMs: 60 });
    policy.add("v");
    expect(policy.request("v", "loss")).toBe(true);
    policy.keyframeSent();
    expect(policy.request("v", "loss")).toBe(false);
    expect(policy.state("v")?.holding).toBe(true);
    expect(policy.hasGrantedWaiting()).toBe(false); // a held viewer does not keep the host repeats going
    await Bun.sleep(100);
    expect(counter.sent).toBe(2);
    expect(policy.hasGrantedWaiting()).toBe(true);
    policy.close();
  });

  test("a keyframe someone else caused ends a held request: it is never sent", async () => {
    const { policy, counter } = policyWith({ intervalMs: 60 });
    policy.add("v");
    policy.request("v", "loss");
    policy.keyframeSent();
    policy.request("v", "loss");
    policy.keyframeSent(); // e.g. a joiner's IDR
    await Bun.sleep(100);
    expect(counter.sent).toBe(1);
    expect(policy.state("v")).toMatchObject({ asked: 2, granted: 1, deferred: 1, holding: false });
    policy.close();
  });

  test("a lossy viewer does not delay another viewer's join or first loss", () => {
    const { policy, counter } = policyWith({ intervalMs: 3000 });
    policy.add("lossy");
    policy.add("clean");
    policy.add("joiner");
    policy.request("lossy", "loss");
    policy.keyframeSent();
    policy.request("lossy", "loss"); // held
    expect(policy.request("joiner", "join")).toBe(true);
    expect(policy.request("clean", "loss")).toBe(true);
    expect(counter.sent).toBe(3);
    policy.close();
  });

  test("a viewer alone on the stream is not limited: nobody else pays for its keyframes", () => {
    const { policy, counter } = policyWith({ intervalMs: 3000, others: 0 });
    policy.add("alone");
    for (let i = 0; i < 5; i++) {
      policy.request("alone", "loss");
      policy.keyframeSent();
    }
    expect(counter.sent).toBe(5);
    policy.close();
  });

  test("repeat requests while one is on its way add nothing; a removed viewer's held request never fires", async () => {
    const { policy, counter } = policyWith({ intervalMs: 40 });
    policy.add("v");
    policy.request("v", "join");
    policy.request("v", "loss");
    policy.request("v", "loss");
    expect(counter.sent).toBe(1);
    policy.keyframeSent();
    policy.request("v", "loss");
    policy.remove("v");
    await Bun.sleep(80);
    expect(counter.sent).toBe(1);
    policy.close();
  });
});
