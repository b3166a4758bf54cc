/**
 * `/serverinfo` reply (reference §1.2): parse into a typed ServerInfo, and serialize one for the
 * simulated host.
 *
 *   <root status_code="200"><hostname/><appversion/><GfeVersion/><uniqueid/><HttpsPort/>
 *     <ExternalPort/><MaxLumaPixelsHEVC/><mac/><LocalIP/><ServerCodecModeSupport/><PairStatus/>
 *     <currentgame/><state/>[<SupportedDisplayMode><DisplayMode><Width/><Height/><RefreshRate/>…]
 *   </root>
 */
import { parseAppVersion, protocolFeatures, type AppVersion, type ProtocolFeatures } from "./app-version.ts";
import { MalformedResponseError } from "../errors.ts";
import type { NvHttpDocument, XmlNode } from "./nvhttp-xml.ts";

export const DEFAULT_HTTPS_PORT = 47984;

/** ServerCodecModeSupport bits. */
export const SCM = {
  H264: 0x00000001,
  HEVC: 0x00000100,
  HEVC_MAIN10: 0x00000200,
  AV1_MAIN8: 0x00010000,
  AV1_MAIN10: 0x00020000,
  H264_HIGH8_444: 0x00040000,
  HEVC_REXT8_444: 0x00080000,
  HEVC_REXT10_444: 0x00100000,
  AV1_HIGH8_444: 0x00200000,
  AV1_HIGH10_444: 0x00400000,
} as const;

export type CodecName = keyof typeof SCM;

export interface DisplayMode {
  width: number;
  height: number;
  refreshRate: number;
}

export interface ServerInfo {
  /** Display name ("UNKNOWN" when the host sends none). */
  hostname: string;
  /** Host identity; saved hosts are keyed by it. */
  uniqueId: string;
  appVersion: AppVersion;
  features: ProtocolFeatures;
  gfeVersion?: string;
  httpsPort: number;
  /** Sunshine: WAN HTTP port. */
  externalPort?: number;
  externalIp?: string;
  localIp?: string;
  /** MAC for Wake-on-LAN; undefined when the host hides it (00:00:00:00:00:00 over plain HTTP). */
  mac?: string;
  maxLumaPixelsHevc: number;
  /** Raw ServerCodecModeSupport bitmask (1 = H.264 when the host omits it). */
  codecModeSupport: number;
  /** The named codecs the bitmask announces. */
  codecs: CodecName[];
  /** Meaningful only over HTTPS: whether this client is paired. */
  paired: boolean;
  /** Raw `state`, e.g. SUNSHINE_SERVER_FREE. */
  state: string;
  /** State ends in `_SERVER_BUSY`: an app is running. */
  busy: boolean;
  /** Running app id, 0 when none (only trusted when busy). */
  currentGame: number;
  /** Real NVIDIA GeForce Experience (state contains MJOLNIR). */
  gfe: boolean;
  /** Host display modes (GFE, Wolf); empty when not listed. */
  displayModes: DisplayMode[];
  gpuType?: string;
}

function optionalInt(doc: NvHttpDocument, name: string): number | undefined {
  const text = doc.text(name);
  if (text === undefined || text.trim() === "") return undefined;
  const value = Number(text.trim());
  if (!Number.isFinite(value)) throw new MalformedResponseError(`<${name}> is not a number: "${text}"`);
  return value;
}

function optionalText(doc: NvHttpDocument, name: string): string | undefined {
  const text = doc.text(name);
  return text === undefined || text === "" ? undefined : text;
}

export function decodeCodecSupport(mask: number): CodecName[] {
  return (Object.keys(SCM) as CodecName[]).filter((name) => (mask & SCM[name]) !== 0);
}

/** Parse a successful /serverinfo document (the caller has checked status_code). */
export function parseServerInfo(doc: NvHttpDocument): ServerInfo {
  const appVersionText = doc.text("appversion");
  if (appVersionText === undefined) throw new MalformedResponseError("serverinfo has no <appversion>");
  const appVersion = parseAppVersion(appVersionText);
  const state = doc.text("state") ?? "";
  const busy = state.endsWith("_SERVER_BUSY");
  const mac = optionalText(doc, "mac");
  const codecModeSupport = optionalInt(doc, "ServerCodecModeSupport") ?? SCM.H264;
  const displayModes: DisplayMode[] = [];
  for (const mode of doc.elements("DisplayMode")) {
    const width = Number(mode.text("Width"));
    const height = Number(mode.text("Height"));
    const refreshRate = Number(mode.text("RefreshRate"));
    if ([width, height, refreshRate].every((n) => Number.isInteger(n) && n > 0)) displayModes.push({ width, height, refreshRate });
  }
  const info: ServerInfo = {
    hostname: optionalText(doc, "hostname") ?? "UNKNOWN",
    uniqueId: doc.text("uniqueid") ?? "",
    appVersion,
    features: protocolFeatures(appVersion),
    httpsPort: optionalInt(doc, "HttpsPort") || DEFAULT_HTTPS_PORT,
    maxLumaPixelsHevc: optionalInt(doc, "MaxLumaPixelsHEVC") ?? 0,
    codecModeSupport,
    codecs: decodeCodecSupport(codecModeSupport),
    paired: doc.text("PairStatus") === "1",
    state,
    busy,
    currentGame: optionalInt(doc, "currentgame") ?? 0,
    gfe: state.includes("MJOLNIR"),
    displayModes,
  };
  const gfeVersion = optionalText(doc, "GfeVersion");
  if (gfeVersion !== undefined) info.gfeVersion = gfeVersion;
  const externalPort = optionalInt(doc, "ExternalPort");
  if (externalPort !== undefined) info.externalPort = externalPort;
  const externalIp = optionalText(doc, "ExternalIP");
  if (externalIp !== undefined) info.externalIp = externalIp;
  const localIp = optionalText(doc, "LocalIP");
  if (localIp !== undefined) info.localIp = localIp;
  if (mac !== undefined && mac !== "00:00:00:00:00:00") info.mac = mac;
  const gpuType = optionalText(doc, "gputype");
  if (gpuType !== undefined) info.gpuType = gpuType;
  return info;
}

/** What a host puts in its /serverinfo reply (simulated host). */
export interface ServerInfoFields {
  hostname: string;
  appVersion: string;
  gfeVersion: string;
  uniqueId: string;
  httpsPort: number;
  externalPort: number;
  maxLumaPixelsHevc: number;
  mac: string;
  localIp: string;
  codecModeSupport: number;
  paired: boolean;
  currentGame: number;
  /** Sunshine-style state prefix: `SUNSHINE_SERVER_FREE` / `_BUSY`. */
  busy: boolean;
  displayModes?: DisplayMode[];
}

/** The children of `<root>`, in Sunshine's order. */
export function serverInfoNodes(fields: ServerInfoFields): XmlNode[] {
  const nodes: XmlNode[] = [
    { name: "hostname", text: fields.hostname },
    { name: "appversion", text: fields.appVersion },
    { name: "GfeVersion", text: fields.gfeVersion },
    { name: "uniqueid", text: fields.uniqueId },
    { name: "HttpsPort", text: fields.httpsPort },
    { name: "ExternalPort", text: fields.externalPort },
    { name: "MaxLumaPixelsHEVC", text: fields.maxLumaPixelsHevc },
    { name: "mac", text: fields.mac },
    { name: "LocalIP", text: fields.localIp },
    { name: "ServerCodecModeSupport", text: fields.codecModeSupport },
    { name: "PairStatus", text: fields.paired ? 1 : 0 },
    { name: "currentgame", text: fields.currentGame },
    { name: "state", text: fields.busy ? "SUNSHINE_SERVER_BUSY" : "SUNSHINE_SERVER_FREE" },
  ];
  if (fields.displayModes && fields.displayModes.length > 0) {
    nodes.push({
      name: "SupportedDisplayMode",
      children: fields.displayModes.map((m) => ({
        name: "DisplayMode",
        children: [
          { name: "Width", text: m.width },
          { name: "Height", text: m.height },
          { name: "RefreshRate", text: m.refreshRate },
        ],
      })),
    });
  }
  return nodes;
}
