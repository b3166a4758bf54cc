/** Hosts: add, pair (the PIN to type on the host is shown while pairing), remove; live state. */
import type { HostJson, PairEvent } from "../lib/api.ts";
import { badge, h, render } from "../lib/dom.ts";
import type { Cleanup, PageContext } from "./page.ts";

const REFRESH_MS = 5000;

export function hostsPage(context: PageContext): Cleanup {
  const { api, main } = context;
  const list = h("div", { className: "hosts" });
  const address = h("input", { name: "address", placeholder: "address[:port], e.g. 192.168.1.20", required: true, size: 32 });
  const addError = h("span", { className: "error" });
  const addForm = h(
    "form",
    {
      className: "card row",
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault();
        addError.textContent = "";
        const button = addForm.querySelector("button")!;
        button.disabled = true;
        try {
          await api.addHost(address.value.trim());
          address.value = "";
          await refresh();
        } catch (error) {
          addError.textContent = (error as Error).message;
        } finally {
          button.disabled = false;
        }
      },
    },
    h("strong", null, "Add a host"),
    address,
    h("button", { className: "primary", type: "submit" }, "Add"),
    addError,
  );
  render(main, h("h2", null, "Hosts"), addForm, list);

  /** Hosts being paired keep their card (and the PIN on it) across refreshes. */
  const pairing = new Map<string, HTMLElement>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  async function refresh(): Promise<void> {
    clearTimeout(timer);
    try {
      const hosts = await api.hosts();
      if (closed) return;
      render(list, hosts.length === 0 ? h("p", { className: "muted" }, "No hosts yet: add one by its address.") : null, ...hosts.map(hostCard));
    } catch (error) {
      if (!closed) context.fail(error);
      return;
    }
    if (!closed) timer = setTimeout(() => void refresh(), REFRESH_MS);
  }

  function hostCard(host: HostJson): HTMLElement {
    const state = host.state ?? (host.online ? "free" : "offline");
    const card = h(
      "div",
      { className: "card host", dataset: { hostId: host.id } },
      h(
        "div",
        { className: "row" },
        h("strong", null, host.name),
        h("span", { className: "muted" }, `${host.address}:${host.http_port}`),
        badge(host.online ? "online" : "offline", host.online ? "ok" : "bad"),
        state === "busy" ? badge("busy", "warn") : state === "free" ? badge("free", "ok") : null,
        badge(host.paired ? "paired" : "not paired", host.paired ? "ok" : "warn"),
      ),
      host.error ? h("div", { className: "error" }, host.error) : null,
      h(
        "div",
        { className: "row", style: { marginTop: "8px" } },
        host.paired
          ? h("a", { href: `#/hosts/${encodeURIComponent(host.id)}` }, h("button", { className: "primary", type: "button" }, "Apps"))
          : h("button", { className: "primary pair", type: "button", disabled: !host.online, onclick: () => startPairing(host) }, "Pair"),
        h(
          "button",
          {
            className: "danger",
            type: "button",
            onclick: async () => {
              if (!confirm(`Remove ${host.name}?`)) return;
              await api.removeHost(host.id).catch((e: unknown) => context.fail(e));
              await refresh();
            },
          },
          "Remove",
        ),
      ),
    );
    const pairBox = pairing.get(host.id);
    if (pairBox) card.append(pairBox);
    return card;
  }

  function startPairing(host: HostJson): void {
    if (pairing.has(host.id)) return;
    const abort = new AbortController();
    const pin = h("div", { className: "pin" });
    const message = h("div", null, "Asking the host…");
    const cancel = h("button", { type: "button", onclick: () => abort.abort() }, "Cancel");
    const box = h("div", { className: "pairing", style: { marginTop: "10px" } }, message, pin, cancel);
    pairing.set(host.id, box);
    list.querySelector(`[data-host-id="${CSS.escape(host.id)}"]`)?.append(box);

    const onEvent = (event: PairEvent) => {
      if ("pin" in event) {
        message.textContent = `Enter this PIN on ${host.name} (Sunshine: Web UI → PIN; Wolf: the pairing page):`;
        pin.textContent = event.pin;
        box.dataset.pin = event.pin;
      } else if ("paired" in event) {
        message.textContent = `Paired with ${host.name}.`;
        pin.textContent = "";
        cancel.remove();
        box.dataset.result = "paired";
      } else {
        message.textContent = `Pairing failed: ${event.message}`;
        message.className = "error";
        pin.textContent = "";
        box.dataset.result = "error";
      }
    };
    api
      .pair(host.id, onEvent, abort.signal)
      .catch((error: unknown) => onEvent({ error: "failed", message: abort.signal.aborted ? "cancelled" : (error as Error).message }))
      .finally(() => {
        setTimeout(() => {
          pairing.delete(host.id);
          void refresh();
        }, box.dataset.result === "paired" ? 800 : 4000);
      });
  }

  void refresh();
  return () => {
    closed = true;
    clearTimeout(timer);
  };
}
