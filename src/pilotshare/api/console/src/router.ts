// Pages live behind the hash (#/book, #/bookings/42): the server serves one file, and a key
// never needs to be in a URL.
import { signal } from "@preact/signals";

export const route = signal<string>(location.hash.slice(1) || "/");
window.addEventListener("hashchange", () => {
  route.value = location.hash.slice(1) || "/";
});

export function go(path: string): void {
  location.hash = path;
}

/** The path without its query, and the query's parameters. */
export function current(): { path: string; params: URLSearchParams } {
  const [path, qs = ""] = route.value.split("?");
  return { path: path || "/", params: new URLSearchParams(qs) };
}

/** Match "/bookings/:id" against a path: the named parts, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const a = pattern.split("/");
  const b = path.split("/");
  if (a.length !== b.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(":")) out[a[i].slice(1)] = decodeURIComponent(b[i]);
    else if (a[i] !== b[i]) return null;
  }
  return out;
}
