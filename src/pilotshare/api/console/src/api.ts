// The one way the console talks to the API: the public /api/v1 with the session's key.
import { has, t } from "./i18n";
import { session } from "./session";

/** An API refusal: its status, its registered reason code and the API's own sentence. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly detail: string,
    readonly errors: { loc: (string | number)[]; msg: string }[] = [],
  ) {
    super(detail);
  }

  /** The refusal in the reader's language: the reason code's label, else the API's sentence. */
  get text(): string {
    const key = `reasons.${this.reason}`;
    const base = has(key) ? t(key) : this.detail;
    const fields = this.errors.map((e) => `${e.loc.filter((p) => p !== "body").join(".")}: ${e.msg}`);
    return fields.length ? `${base} (${fields.join("; ")})` : base;
  }
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

type Query = Record<string, string | number | boolean | null | undefined | string[]>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === null || v === undefined || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => params.append(k, x));
    else params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}${path.includes("?") ? "&" : "?"}${qs}` : path;
}

interface Options {
  method?: string;
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
  /** send no key even when signed in (the public directory) */
  anonymous?: boolean;
  contentType?: string;
  /** a key other than the session's (signing in) */
  key?: string;
}

async function send(path: string, opts: Options = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const key = opts.key ?? session.value?.key;
  if (key && !opts.anonymous) headers.Authorization = `Bearer ${key}`;
  let body: BodyInit | undefined;
  if (opts.body !== undefined) {
    if (typeof opts.body === "string") {
      body = opts.body;
      headers["Content-Type"] = opts.contentType ?? "text/plain";
    } else {
      body = JSON.stringify(opts.body);
      headers["Content-Type"] = "application/json";
    }
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, opts.query), {
      method: opts.method ?? "GET", headers, body, signal: opts.signal,
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(0, "network", t("common.network_error"));
  }
  if (!response.ok) {
    let reason = "http_error";
    let detail = response.statusText;
    let errors: ApiError["errors"] = [];
    try {
      const j = (await response.json()) as { reason?: string; detail?: string; errors?: ApiError["errors"] };
      reason = j.reason ?? reason;
      detail = j.detail ?? detail;
      errors = j.errors ?? [];
    } catch {
      /* not JSON: keep the status text */
    }
    if (response.status === 401 && !opts.anonymous && !opts.key && session.value) onUnauthorised(reason);
    throw new ApiError(response.status, reason, detail, errors);
  }
  return response;
}

let onUnauthorised: (reason: string) => void = () => undefined;
/** What to do when the key stops working mid-session (revoked, expired). */
export function whenUnauthorised(handler: (reason: string) => void): void {
  onUnauthorised = handler;
}

export async function get<T>(path: string, opts: Options = {}): Promise<T> {
  const r = await send(path, opts);
  return (await r.json()) as T;
}

export async function text(path: string, opts: Options = {}): Promise<string> {
  const r = await send(path, { ...opts });
  return r.text();
}

/** One page of a listing and the next page's address from its `Link: <…>; rel="next"`. */
export async function page<T>(path: string, opts: Options = {}): Promise<Page<T>> {
  const r = await send(path, opts);
  const link = r.headers.get("Link") ?? "";
  const m = /<([^>]+)>;\s*rel="next"/.exec(link);
  let next: string | null = null;
  if (m) {
    const u = new URL(m[1], location.origin);
    next = u.pathname + u.search;
  }
  return { items: (await r.json()) as T[], next };
}

/** Every page of a listing (bounded: the console never needs more than `max` rows at once). */
export async function all<T>(path: string, opts: Options = {}, max = 10000): Promise<T[]> {
  const out: T[] = [];
  let p = await page<T>(path, opts);
  out.push(...p.items);
  while (p.next && out.length < max) {
    p = await page<T>(p.next, { signal: opts.signal });
    out.push(...p.items);
  }
  return out;
}

export const post = <T>(path: string, body?: unknown, opts: Options = {}): Promise<T> =>
  send(path, { ...opts, method: "POST", body }).then(async (r) => (r.status === 204 ? (undefined as T) : ((await r.json()) as T)));
export const patch = <T>(path: string, body: unknown, opts: Options = {}): Promise<T> =>
  send(path, { ...opts, method: "PATCH", body }).then(async (r) => (await r.json()) as T);
export const put = <T>(path: string, body: unknown, opts: Options = {}): Promise<T> =>
  send(path, { ...opts, method: "PUT", body }).then(async (r) => (r.status === 204 ? (undefined as T) : ((await r.json()) as T)));
export const del = (path: string, opts: Options = {}): Promise<void> =>
  send(path, { ...opts, method: "DELETE" }).then(() => undefined);

/** Download an answer (CSV, iCalendar) as a file, with the key, without putting it in a URL. */
export async function download(path: string, filename: string, opts: Options = {}): Promise<void> {
  const r = await send(path, opts);
  const blob = await r.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
