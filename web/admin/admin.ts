/**
 * The admin pages at `<base>/`, hash-routed so that the server serves one page:
 * `#/hosts` (default), `#/hosts/<id>` (its apps → start a streamer), `#/streamers`.
 * Each page renders into `main` and returns its cleanup (timers, pending requests).
 */
import { Api, ApiError } from "../lib/api.ts";
import { h, render } from "../lib/dom.ts";
import { setToken } from "../lib/location.ts";
import { appsPage } from "./apps-page.ts";
import { hostsPage } from "./hosts-page.ts";
import type { Cleanup, PageContext } from "./page.ts";
import { streamersPage } from "./streamers-page.ts";


export function startAdmin(root: HTMLElement, api: Api): void {
  // The token now lives in this browser's storage: keep it out of the address bar and history.
  const url = new URL(location.href);
  if (url.searchParams.has("access_token")) {
    url.searchParams.delete("access_token");
    history.replaceState(null, "", url.href);
  }

  const main = h("main", { className: "admin" });
  const links = {
    hosts: h("a", { href: "#/hosts" }, "Hosts"),
    streamers: h("a", { href: "#/streamers" }, "Streamers"),
  };
  render(root, h("header", { className: "top" }, h("span", { className: "brand" }, "mlstream"), h("nav", null, links.hosts, links.streamers)), main);

  let cleanup: Cleanup | undefined;
  const context: PageContext = {
    api,
    main,
    fail(error) {
      if (error instanceof ApiError && error.status === 401) {
        showLogin(main, api, route);
        return;
      }
      main.prepend(h("div", { className: "card error" }, (error as Error).message ?? String(error)));
    },
  };

  function route(): void {
    cleanup?.();
    cleanup = undefined;
    const hash = location.hash.replace(/^#\/?/, "");
    const [section, id] = hash.split("/");
    links.hosts.classList.toggle("active", section !== "streamers");
    links.streamers.classList.toggle("active", section === "streamers");
    render(main);
    if (section === "streamers") cleanup = streamersPage(context);
    else if (section === "hosts" && id) cleanup = appsPage(context, decodeURIComponent(id));
    else cleanup = hostsPage(context);
  }

  window.addEventListener("hashchange", route);
  route();
}

function showLogin(main: HTMLElement, api: Api, retry: () => void): void {
  const input = h("input", { type: "password", placeholder: "admin token", autocomplete: "current-password", size: 40 });
  const form = h(
    "form",
    {
      className: "card",
      onsubmit: (event: SubmitEvent) => {
        event.preventDefault();
        api.token = input.value.trim();
        setToken(api.token);
        retry();
      },
    },
    h("p", null, "This server needs a token (MLSTREAM_TOKEN or auth.admin_tokens)."),
    h("div", { className: "row" }, input, h("button", { className: "primary", type: "submit" }, "Sign in")),
  );
  render(main, form);
  input.focus();
}
