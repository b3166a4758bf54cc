/** Tiny DOM helpers: enough to build the pages without a framework. */

type Child = Node | string | number | null | undefined | false;
type Props<K extends keyof HTMLElementTagNameMap> = Partial<Omit<HTMLElementTagNameMap[K], "style" | "dataset">> & {
  style?: Partial<CSSStyleDeclaration>;
  dataset?: Record<string, string>;
};

/** `h("button", { className: "primary", onclick }, "Start")` */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props<K> | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props) {
    const { style, dataset, ...rest } = props;
    Object.assign(element, rest);
    if (style) Object.assign(element.style, style);
    if (dataset) Object.assign(element.dataset, dataset);
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `parent`. */
export function render(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A badge whose colour follows a state. */
export function badge(text: string, tone: "ok" | "warn" | "bad" | "" = ""): HTMLSpanElement {
  return h("span", { className: `badge ${tone}`.trim() }, text);
}
