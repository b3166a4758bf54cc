/** Where the picture is inside a `<video>` drawn with `object-fit: contain` (letterboxed). */
export interface ContentRect {
  left: number;
  top: number;
  width: number;
  height: number;
  /** The stream's size: the reference plane of absolute mouse and touch positions. */
  videoWidth: number;
  videoHeight: number;
}

export function contentRect(video: HTMLVideoElement): ContentRect | undefined {
  const { videoWidth, videoHeight } = video;
  if (!videoWidth || !videoHeight) return undefined;
  const box = video.getBoundingClientRect();
  const scale = Math.min(box.width / videoWidth, box.height / videoHeight);
  const width = videoWidth * scale;
  const height = videoHeight * scale;
  return { left: box.left + (box.width - width) / 2, top: box.top + (box.height - height) / 2, width, height, videoWidth, videoHeight };
}

/** A client point as a fraction (0–1) of the picture, or undefined outside it. */
export function normalizedPoint(rect: ContentRect, clientX: number, clientY: number, clamp = false): { x: number; y: number } | undefined {
  let x = (clientX - rect.left) / rect.width;
  let y = (clientY - rect.top) / rect.height;
  if (clamp) {
    x = Math.min(1, Math.max(0, x));
    y = Math.min(1, Math.max(0, y));
  } else if (x < 0 || x > 1 || y < 0 || y > 1) return undefined;
  return { x, y };
}
