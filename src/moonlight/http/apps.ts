/**
 * `/applist` reply (reference §1.5):
 *
 *   <root status_code="200">
 *     <App><IsHdrSupported>1</IsHdrSupported><AppTitle>Desktop</AppTitle><ID>881448767</ID></App> …
 *   </root>
 *
 * `/appasset?appid=…&AssetType=2&AssetIdx=0` answers raw image bytes (PNG), not XML.
 */
import { MalformedResponseError } from "../errors.ts";
import type { NvHttpDocument, XmlNode } from "./nvhttp-xml.ts";

export interface App {
  /** Decimal app id (Sunshine uses large pseudo-random ids). */
  id: number;
  /** May be empty. */
  title: string;
  hdrSupported: boolean;
  /** GFE only. */
  isAppCollectorGame?: boolean;
}

export interface AppAsset {
  bytes: Uint8Array;
  /** From the reply's Content-Type; Sunshine sends image/png. */
  contentType: string;
}

export function parseAppList(doc: NvHttpDocument): App[] {
  return doc.elements("App").map((element, index) => {
    const idText = element.text("ID");
    const title = element.text("AppTitle");
    if (idText === undefined || !/^-?\d+$/.test(idText.trim())) {
      throw new MalformedResponseError(`app #${index} has no numeric <ID>`);
    }
    if (title === undefined) throw new MalformedResponseError(`app ${idText} has no <AppTitle>`);
    const app: App = { id: Number(idText.trim()), title, hdrSupported: element.text("IsHdrSupported") === "1" };
    const collector = element.text("IsAppCollectorGame");
    if (collector !== undefined) app.isAppCollectorGame = collector === "1";
    return app;
  });
}

export function appListNodes(apps: readonly App[]): XmlNode[] {
  return apps.map((app) => ({
    name: "App",
    children: [
      { name: "IsHdrSupported", text: app.hdrSupported ? 1 : 0 },
      { name: "AppTitle", text: app.title },
      { name: "ID", text: app.id },
    ],
  }));
}

/** Find an app by id or exact title (case-insensitive), or undefined. */
export function findApp(apps: readonly App[], idOrTitle: number | string): App | undefined {
  if (typeof idOrTitle === "number") return apps.find((a) => a.id === idOrTitle);
  if (/^\d+$/.test(idOrTitle)) {
    const byId = apps.find((a) => a.id === Number(idOrTitle));
    if (byId) return byId;
  }
  const wanted = idOrTitle.toLowerCase();
  return apps.find((a) => a.title.toLowerCase() === wanted);
}
