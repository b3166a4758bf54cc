import { expect, test } from "bun:test";
import { log, logger, setLogLevel } from "../../src/core/log.ts";

test("setLogLevel reaches tagged loggers made before and after it", () => {
  const early = logger("early-test");
  setLogLevel("debug");
  const late = logger("late-test");
  expect(early.level).toBe(log.level);
  expect(late.level).toBe(log.level);
  setLogLevel("warn");
  expect(early.level).toBe(1);
  expect(logger("early-test")).toBe(early);
  setLogLevel("info");
});
