import { describe, expect, test } from "bun:test";
import { HttpError } from "../../src/server/http-error.ts";
import { jsonDepth, MAX_JSON_DEPTH, readJsonBody } from "../../src/server/json-body.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const post = (body: BodyInit) => new Request("http://localhost/", { method: "POST", body });

describe("JSON bodies", () => {
  test("depth counts nesting outside strings only, and stops early past the limit", () => {
    expect(jsonDepth(bytes('{"a":[1,{"b":2}]}'))).toBe(3);
    expect(jsonDepth(bytes('{"a":"[[[[{{{{\\"[["}'))).toBe(1);
    expect(jsonDepth(bytes("1"))).toBe(0);
    expect(jsonDepth(bytes("[".repeat(1000)), 16)).toBe(17);
  });

  test("a body within the limits parses; too deep, too big, and malformed ones get their own errors", async () => {
    expect(await readJsonBody(post('{"width":1280}'), 1024)).toEqual({ width: 1280 });
    expect(await readJsonBody(post(""), 1024)).toBeUndefined();
    const refusal = async (body: string, max: number) => {
      try {
        await readJsonBody(post(body), max);
      } catch (error) {
        return error instanceof HttpError ? `${error.status} ${error.code}` : String(error);
      }
      return "parsed";
    };
    expect(await refusal(`${"[".repeat(MAX_JSON_DEPTH + 1)}${"]".repeat(MAX_JSON_DEPTH + 1)}`, 1024)).toBe("400 body_too_deep");
    expect(await refusal(`${"[".repeat(MAX_JSON_DEPTH)}${"]".repeat(MAX_JSON_DEPTH)}`, 1024)).toBe("parsed");
    expect(await refusal(`"${"x".repeat(2000)}"`, 1024)).toBe("413 body_too_large");
    expect(await refusal('{"a":', 1024)).toBe("400 bad_body");
  });

  test("a chunked body is counted as it arrives and refused once past the limit", async () => {
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1024;
        controller.enqueue(new Uint8Array(1024).fill(0x5b));
        if (sent > 10_000_000) controller.close();
      },
    });
    await expect(readJsonBody(post(stream), 64 * 1024)).rejects.toThrow("over the limit");
    expect(sent).toBeLessThan(200 * 1024);
  });
});
