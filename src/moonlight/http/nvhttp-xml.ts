/**
 * The XML envelope of every nvhttp reply:
 *
 *   <?xml version="1.0" encoding="utf-8"?>
 *   <root status_code="200" [status_message="…"] [query="/path"]> …children… </root>
 *
 * The HTTP status is 200 even for logical errors, so `root@status_code` is the real verdict.
 * Clients look elements up as "the first element anywhere with this name", so lookups here walk
 * the whole tree. The serializer is what the simulated host answers with.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { MalformedResponseError } from "../errors.ts";

type XmlValue = string | XmlObject | XmlValue[];
interface XmlObject {
  [key: string]: XmlValue;
}

const ATTR = "@_";

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
});

/** A parsed `<root>` document. */
export class NvHttpDocument {
  constructor(
    /** `root@status_code` as a signed 32-bit integer (GFE sends 0xFFFFFFFF). */
    readonly statusCode: number,
    readonly statusMessage: string | undefined,
    private readonly root: XmlObject,
  ) {}

  /** Text of the first element named `name` anywhere below `<root>`, or undefined. */
  text(name: string): string | undefined {
    const found = findFirst(this.root, name);
    return found === undefined ? undefined : textOf(found);
  }

  /** Every element named `name` anywhere below `<root>`, in document order. */
  elements(name: string): XmlElement[] {
    const out: XmlElement[] = [];
    collect(this.root, name, out);
    return out;
  }
}

/** One element: child lookups restricted to its own subtree. */
export class XmlElement {
  constructor(private readonly value: XmlValue) {}
  text(name: string): string | undefined {
    if (typeof this.value !== "object" || Array.isArray(this.value)) return undefined;
    const found = findFirst(this.value, name);
    return found === undefined ? undefined : textOf(found);
  }
}

function textOf(value: XmlValue): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.length > 0 ? textOf(value[0] as XmlValue) : "";
  const inner = value["#text"];
  return typeof inner === "string" ? inner : "";
}

function findFirst(node: XmlObject, name: string): XmlValue | undefined {
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith(ATTR)) continue;
    if (key === name) return Array.isArray(value) ? value[0] : value;
  }
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith(ATTR) || typeof value === "string") continue;
    for (const child of Array.isArray(value) ? value : [value]) {
      if (typeof child !== "object" || Array.isArray(child)) continue;
      const found = findFirst(child, name);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function collect(node: XmlObject, name: string, out: XmlElement[]): void {
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith(ATTR) || typeof value === "string") {
      if (key === name) out.push(new XmlElement(value));
      continue;
    }
    for (const child of Array.isArray(value) ? value : [value]) {
      if (key === name) out.push(new XmlElement(child));
      else if (typeof child === "object" && !Array.isArray(child)) collect(child, name, out);
    }
  }
}

/** Parse a status code the way clients do: unsigned text cast to a signed 32-bit int. */
function parseStatusCode(text: string): number | undefined {
  const trimmed = text.trim();
  let value: number;
  if (/^-?\d+$/.test(trimmed)) value = Number(trimmed);
  else if (/^0x[0-9a-f]+$/i.test(trimmed)) value = Number.parseInt(trimmed.slice(2), 16);
  else return undefined;
  return Number.isFinite(value) ? value | 0 : undefined;
}

/** Parse an nvhttp reply body; throws MalformedResponseError if it is not a `<root status_code>` document. */
export function parseNvHttpDocument(body: string): NvHttpDocument {
  if (body.trim() === "") throw new MalformedResponseError("empty response body");
  const valid = XMLValidator.validate(body);
  if (valid !== true) throw new MalformedResponseError(`response is not well-formed XML: ${valid.err.msg}`);
  let parsed: XmlObject;
  try {
    parsed = parser.parse(body) as XmlObject;
  } catch (error) {
    throw new MalformedResponseError(`response is not XML: ${(error as Error).message}`);
  }
  const root = parsed["root"];
  if (root === undefined || Array.isArray(root)) throw new MalformedResponseError("response has no single <root> element");
  const rootObject: XmlObject = typeof root === "string" ? {} : root;
  const statusAttr = rootObject[`${ATTR}status_code`];
  if (typeof statusAttr !== "string") throw new MalformedResponseError("response <root> has no status_code");
  const statusCode = parseStatusCode(statusAttr);
  if (statusCode === undefined) throw new MalformedResponseError(`unparseable status_code "${statusAttr}"`);
  const message = rootObject[`${ATTR}status_message`];
  return new NvHttpDocument(statusCode, typeof message === "string" ? message : undefined, rootObject);
}

// ---------------------------------------------------------------------------------------------
// Serialization (simulated host)

/** An element to serialize: text content or nested children. */
export interface XmlNode {
  name: string;
  text?: string | number;
  children?: XmlNode[];
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] ?? c);
}

function serializeNode(node: XmlNode): string {
  if (node.children !== undefined) return `<${node.name}>${node.children.map(serializeNode).join("")}</${node.name}>`;
  if (node.text === undefined || node.text === "") return `<${node.name}/>`;
  return `<${node.name}>${escapeXml(String(node.text))}</${node.name}>`;
}

export interface RootAttributes {
  statusCode: number;
  statusMessage?: string;
  query?: string;
}

/** A complete reply document with the prolog hosts send. */
export function serializeNvHttpDocument(attrs: RootAttributes, children: XmlNode[] = []): string {
  let open = `<root status_code="${attrs.statusCode}"`;
  if (attrs.query !== undefined) open += ` query="${escapeXml(attrs.query)}"`;
  if (attrs.statusMessage !== undefined) open += ` status_message="${escapeXml(attrs.statusMessage)}"`;
  const body = children.length === 0 ? `${open}/>` : `${open}>${children.map(serializeNode).join("")}</root>`;
  return `<?xml version="1.0" encoding="utf-8"?>\n${body}`;
}
