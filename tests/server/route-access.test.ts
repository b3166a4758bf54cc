import { describe, expect, test } from "bun:test";
import { RouteTable, routedMethod } from "../../src/server/route-access.ts";

const ROUTES = [
  { method: "GET", path: "/mlstream/" },
  { method: "GET", path: "/mlstream/healthz" },
  { method: "GET", path: "/mlstream/view/:id" },
  { method: "GET", path: "/mlstream/api/hosts" },
  { method: "GET", path: "/mlstream/api/hosts/:id" },
  { method: "WS", path: "/mlstream/api/streamers/:id/peer" },
  { method: "GET", path: "/mlstream/api/streamers/:id/peers" },
];

describe("route access", () => {
  const table = new RouteTable(ROUTES, "/mlstream");

  test("open and viewer routes are the listed ones; every other route, and no route, needs an admin", () => {
    expect(table.accessOf("GET", "/mlstream/healthz")).toBe("open");
    expect(table.accessOf("GET", "/mlstream/view/s1")).toBe("open");
    expect(table.accessOf("GET", "/mlstream/")).toBe("open");
    expect(table.accessOf("GET", "/mlstream")).toBe("open");
    expect(table.accessOf("WS", "/mlstream/api/streamers/s1/peer")).toBe("viewer");
    expect(table.accessOf("GET", "/mlstream/api/streamers/s1/peer")).toBe("admin");
    expect(table.accessOf("GET", "/mlstream/api/hosts")).toBe("admin");
    expect(table.accessOf("GET", "/mlstream/view/s1/x")).toBe("admin");
    expect(table.accessOf("GET", "/mlstream/view/")).toBe("admin");
    expect(table.accessOf("GET", "/healthz")).toBe("admin");
    expect(table.accessOf("POST", "/mlstream/healthz")).toBe("admin");
    expect(table.accessOf("GET", "/mlstream/VIEW/s1")).toBe("admin");
  });

  test("literal routes win over ones with parameters, a trailing slash is the same route", () => {
    expect(table.match("GET", "/mlstream/api/hosts/")?.template).toBe("/api/hosts");
    expect(table.match("GET", "/mlstream/api/hosts/h1")?.template).toBe("/api/hosts/:id");
    expect(table.match("GET", "/mlstream/api/streamers/s1/peers")?.template).toBe("/api/streamers/:id/peers");
  });

  test("the router's method: an upgrade is the WebSocket route, HEAD is GET's", () => {
    const req = (method: string, headers: Record<string, string> = {}) => new Request("http://localhost/", { method, headers });
    expect(routedMethod(req("GET", { upgrade: "websocket" }))).toBe("WS");
    expect(routedMethod(req("GET", { upgrade: "WebSocket" }))).toBe("GET");
    expect(routedMethod(req("HEAD"))).toBe("GET");
    expect(routedMethod(req("DELETE"))).toBe("DELETE");
  });
});
