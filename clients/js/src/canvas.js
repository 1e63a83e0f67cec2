// The weekly canvas's binary fields (PROTOCOL.md "Weekly canvas"): the
// zlib-compressed bitmap of `canvas.join` and the 5-byte placements of
// `canvas:pixels`. Decompression uses the platform's DecompressionStream
// ("deflate" is the zlib format), present in browsers and Node 20+.

/** The `canvas.join` reply's bitmap, uncompressed: width × height palette indices, row-major. */
export async function inflateBitmap(bitmap, width, height) {
  const stream = new Blob([bitmap]).stream().pipeThrough(new DecompressionStream("deflate"));
  const out = new Uint8Array(await new Response(stream).arrayBuffer());
  if (width !== undefined && height !== undefined && out.length !== width * height) {
    throw new Error(`bitmap holds ${out.length} pixels, expected ${width} × ${height}`);
  }
  return out;
}

/** A `canvas:pixels` body's `pixels` bytes -> [{x, y, color}], in placement order. */
export function decodePixels(pixels) {
  if (pixels.length % 5 !== 0) throw new Error(`canvas:pixels holds ${pixels.length} bytes, not a multiple of 5`);
  const view = new DataView(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  const out = [];
  for (let i = 0; i < pixels.length; i += 5) {
    out.push({ x: view.getUint16(i), y: view.getUint16(i + 2), color: view.getUint8(i + 4) });
  }
  return out;
}
