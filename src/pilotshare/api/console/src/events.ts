// The API's Server-Sent Events stream, read with fetch(): EventSource cannot send the key in a
// header, and a key never goes into a URL. One stream per tab, shared by every page; it
// reconnects with a growing pause and says so in `connection`.
import { signal } from "@preact/signals";
import { session } from "./session";

export type Connection = "off" | "connecting" | "live" | "reconnecting";
export const connection = signal<Connection>("off");

type Handler = (data: Record<string, unknown>) => void;
const handlers = new Map<string, Set<Handler>>();
let controller: AbortController | null = null;

/** Call `handler` for each event of `kind` (snapshot, twin, booking, at_risk, job); returns the unsubscribe. */
export function on(kind: string, handler: Handler): () => void {
  let set = handlers.get(kind);
  if (!set) handlers.set(kind, (set = new Set()));
  set.add(handler);
  return () => set!.delete(handler);
}

function dispatch(kind: string, data: Record<string, unknown>): void {
  for (const h of handlers.get(kind) ?? []) {
    try {
      h(data);
    } catch (err) {
      console.error(err);
    }
  }
}

async function read(key: string, signal: AbortSignal): Promise<void> {
  const response = await fetch("/api/v1/events", {
    headers: { Authorization: `Bearer ${key}`, Accept: "text/event-stream" },
    signal,
  });
  if (!response.ok || !response.body) throw new Error(String(response.status));
  connection.value = "live";
  dispatch("open", {});
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const lines = block.split("\n");
      const kind = (lines.find((l) => l.startsWith("event:")) ?? "event: message").slice(6).trim();
      const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart());
      if (!data.length) continue;
      try {
        dispatch(kind, JSON.parse(data.join("\n")) as Record<string, unknown>);
      } catch {
        /* a comment or keep-alive */
      }
    }
  }
}

/** Open the stream for the signed-in key (closing any other). */
export function connect(): void {
  disconnect();
  const key = session.value?.key;
  if (!key) return;
  const c = (controller = new AbortController());
  connection.value = "connecting";
  void (async () => {
    let pause = 1000;
    while (!c.signal.aborted) {
      try {
        await read(key, c.signal);
        pause = 1000;
      } catch {
        /* refused or dropped: try again */
      }
      if (c.signal.aborted) return;
      connection.value = "reconnecting";
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 30000);
    }
  })();
}

export function disconnect(): void {
  controller?.abort();
  controller = null;
  connection.value = "off";
}
