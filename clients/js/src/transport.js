// The WebSocket under a client: the global WebSocket where there is one
// (browsers, Deno, Node 22+), else the `ws` package (Node 20), loaded lazily
// so bundles for the browser never need it.

/** Resolve the WebSocket constructor to use. */
export async function webSocketClass(override) {
  if (override) return override;
  if (typeof globalThis.WebSocket === "function") return globalThis.WebSocket;
  const mod = await import("ws");
  return mod.WebSocket ?? mod.default;
}

/**
 * Open a binary WebSocket to `url`. Resolves once open, with an object
 * {send(bytes), close(code, reason), drop(), onframe, onclose}; rejects when
 * the connection cannot be made within `timeoutMs`.
 */
export async function openSocket(url, { WebSocket: override, timeoutMs = 5000 } = {}) {
  const WS = await webSocketClass(override);
  const ws = new WS(url);
  ws.binaryType = "arraybuffer";
  const link = {
    ws,
    onframe: null, // (Uint8Array | string) => void
    onclose: null, // (code, reason) => void
    send(bytes) {
      ws.send(bytes);
    },
    close(code = 1000, reason = "") {
      try {
        ws.close(code, reason);
      } catch {
        // already closing
      }
    },
    /** Drop the connection without a closing handshake, like a network failure
     * (`ws` in Node); browsers only offer close(), sent with code 4100. */
    drop() {
      if (typeof ws.terminate === "function") ws.terminate();
      else link.close(4100, "drop");
    },
  };
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      link.drop();
      reject(new Error(`WebSocket to ${url} not open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.onerror = (ev) => {
      clearTimeout(timer);
      reject(new Error(`WebSocket to ${url} failed: ${ev?.message ?? ev?.error?.message ?? "error"}`));
    };
  });
  let closed = false;
  ws.onerror = () => {}; // a close always follows
  ws.onmessage = (ev) => {
    const d = ev.data;
    link.onframe?.(typeof d === "string" ? d : new Uint8Array(d));
  };
  ws.onclose = (ev) => {
    if (closed) return;
    closed = true;
    link.onclose?.(ev.code, ev.reason);
  };
  return link;
}
