/**
 * Binary assets imported `with { type: "file" }`: Bun gives their path (inside the compiled binary,
 * a path it serves from the embedded file).
 */
declare module "*.h264" {
  const path: string;
  export default path;
}
declare module "*.h265" {
  const path: string;
  export default path;
}
declare module "*.av1" {
  const path: string;
  export default path;
}
declare module "*.opus" {
  const path: string;
  export default path;
}
