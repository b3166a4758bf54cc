/**
 * Without Debian's Chromium the browser tests say what to install, instead of failing as
 * "(unnamed)" with playwright's spawn error.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../support/cli.ts";
import { ChromiumMissingError, launchChromium } from "./support.ts";

const dir = tempDir("mlstream-no-chromium-");
afterAll(() => dir.cleanup());

describe("launchChromium without Chromium", () => {
  test("a missing browser names the package and the install command", async () => {
    const missing = join(dir.path, "chromium");
    const error = await launchChromium([], missing).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChromiumMissingError);
    expect((error as Error).message).toBe(`the browser tests need Debian's Chromium at ${missing} (not found): install it with 'npm run setup-test-deps' or 'apt-get install chromium'`);
  });

  test("a browser that cannot be started (not executable) gets the same advice", async () => {
    const broken = join(dir.path, "not-executable");
    writeFileSync(broken, "not a program", { mode: 0o644 });
    const error = await launchChromium([], broken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChromiumMissingError);
    expect((error as Error).message).toContain("apt-get install chromium");
  });
});
