/** Splits text for `utf8Text` packets: whole code points, at most `maxBytes` UTF-8 bytes each. */
export function utf8Chunks(text: string, maxBytes = 32): string[] {
  const encoder = new TextEncoder();
  const chunks: string[] = [];
  let current = "";
  let bytes = 0;
  for (const char of text.replace(/\r\n/g, "\n")) {
    const size = encoder.encode(char).byteLength;
    if (bytes + size > maxBytes && current) {
      chunks.push(current);
      current = "";
      bytes = 0;
    }
    current += char;
    bytes += size;
  }
  if (current) chunks.push(current);
  return chunks;
}
