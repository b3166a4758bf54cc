/**
 * `KeyboardEvent.code` (the physical key, independent of layout) → Windows virtual-key code, the
 * code GameStream hosts expect. Left/right modifiers keep their sides (VK_LSHIFT …), as Moonlight
 * sends them. Keys people report lost elsewhere (Insert, Home, PgUp, PrintScreen, Pause, the
 * numpad with NumLock off) are all here.
 */
const VK: Record<string, number> = {
  Backspace: 0x08, Tab: 0x09, Enter: 0x0d, NumpadEnter: 0x0d,
  ShiftLeft: 0xa0, ShiftRight: 0xa1, ControlLeft: 0xa2, ControlRight: 0xa3, AltLeft: 0xa4, AltRight: 0xa5,
  Pause: 0x13, CapsLock: 0x14, Escape: 0x1b, Space: 0x20,
  PageUp: 0x21, PageDown: 0x22, End: 0x23, Home: 0x24,
  ArrowLeft: 0x25, ArrowUp: 0x26, ArrowRight: 0x27, ArrowDown: 0x28,
  PrintScreen: 0x2c, Insert: 0x2d, Delete: 0x2e, Help: 0x2f,
  MetaLeft: 0x5b, MetaRight: 0x5c, OSLeft: 0x5b, OSRight: 0x5c, ContextMenu: 0x5d, Sleep: 0x5f,
  NumpadMultiply: 0x6a, NumpadAdd: 0x6b, NumpadComma: 0x6c, NumpadSubtract: 0x6d, NumpadDecimal: 0x6e, NumpadDivide: 0x6f,
  NumLock: 0x90, ScrollLock: 0x91, NumpadEqual: 0x92,
  BrowserBack: 0xa6, BrowserForward: 0xa7, BrowserRefresh: 0xa8, BrowserStop: 0xa9, BrowserSearch: 0xaa, BrowserFavorites: 0xab, BrowserHome: 0xac,
  AudioVolumeMute: 0xad, AudioVolumeDown: 0xae, AudioVolumeUp: 0xaf,
  MediaTrackNext: 0xb0, MediaTrackPrevious: 0xb1, MediaStop: 0xb2, MediaPlayPause: 0xb3,
  LaunchMail: 0xb4, MediaSelect: 0xb5, LaunchApp1: 0xb6, LaunchApp2: 0xb7,
  Semicolon: 0xba, Equal: 0xbb, Comma: 0xbc, Minus: 0xbd, Period: 0xbe, Slash: 0xbf, Backquote: 0xc0,
  BracketLeft: 0xdb, Backslash: 0xdc, BracketRight: 0xdd, Quote: 0xde, IntlBackslash: 0xe2, IntlRo: 0xc1, IntlYen: 0xdc,
  KanaMode: 0x15, Lang1: 0x15, Lang2: 0x19, Convert: 0x1c, NonConvert: 0x1d,
};
for (let i = 0; i < 26; i++) VK[`Key${String.fromCharCode(65 + i)}`] = 0x41 + i;
for (let i = 0; i <= 9; i++) {
  VK[`Digit${i}`] = 0x30 + i;
  VK[`Numpad${i}`] = 0x60 + i;
}
for (let i = 1; i <= 24; i++) VK[`F${i}`] = 0x6f + i;

/** The virtual-key code of a physical key, or undefined for keys a host cannot receive. */
export function virtualKeyOf(code: string): number | undefined {
  return VK[code];
}

export const VK_MODIFIERS = new Set([0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0x5b, 0x5c]);
