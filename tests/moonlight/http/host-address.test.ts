import { describe, expect, test } from "bun:test";
import { InvalidHostAddressError } from "../../../src/moonlight/errors.ts";
import { formatHostAddress, parseHostAddress } from "../../../src/moonlight/http/host-address.ts";

describe("host addresses", () => {
  test("names and IPv4 with or without a port", () => {
    expect(parseHostAddress("gaming-pc")).toEqual({ host: "gaming-pc" });
    expect(parseHostAddress("192.168.1.5:47989")).toEqual({ host: "192.168.1.5", port: 47989 });
  });

  test("IPv6 needs brackets to carry a port; bare IPv6 has none", () => {
    expect(parseHostAddress("[::1]:48989")).toEqual({ host: "::1", port: 48989 });
    expect(parseHostAddress("[fe80::1]")).toEqual({ host: "fe80::1" });
    expect(parseHostAddress("::1")).toEqual({ host: "::1" });
    expect(formatHostAddress({ host: "::1", port: 47989 })).toBe("[::1]:47989");
  });

  test("nonsense is rejected with InvalidHostAddressError", () => {
    for (const bad of ["", "host:", "host:99999", "host:abc", "[::1", "[nope]:1", "a:b:c", "http://x"]) {
      expect(() => parseHostAddress(bad)).toThrow(InvalidHostAddressError);
    }
  });
});
