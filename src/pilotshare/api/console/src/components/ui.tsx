// Small shared pieces: loading and error states, form fields, tables (one <DataTable>). Pages stay short and
// every one behaves alike for a keyboard and a screen reader.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, page } from "../api";
import { t } from "../i18n";

/** Load `fn` when `deps` change; the page re-renders with its data, its error or a spinner. */
export function useAsync<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[]): {
  data: T | undefined; error: unknown; loading: boolean; reload: () => void;
} {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const c = new AbortController();
    setState((s) => ({ ...s, loading: true, error: undefined }));
    fn(c.signal).then(
      (data) => !c.signal.aborted && setState({ data, loading: false }),
      (error: unknown) => !c.signal.aborted && setState({ error, loading: false }),
    );
    return () => c.abort();
  }, [...deps, tick]);
  return { data: state.data, error: state.error, loading: state.loading, reload: () => setTick((n) => n + 1) };
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.text;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorBox({ error }: { error: unknown }): JSX.Element | null {
  if (!error) return null;
  const reason = error instanceof ApiError ? error.reason : undefined;
  return (
    <p class="alert error" role="alert" data-reason={reason}>
      {errorText(error)}
    </p>
  );
}

export function Notice({ children, kind = "info" }: { children: ComponentChildren; kind?: "info" | "ok" | "warn" }): JSX.Element {
  return <p class={`alert ${kind}`} role="status">{children}</p>;
}

export function Loading(): JSX.Element {
  return <p class="loading" role="status" aria-live="polite">{t("common.loading")}</p>;
}

export function Field(props: { label: string; hint?: string; children: ComponentChildren; id: string }): JSX.Element {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint ? <small id={`${props.id}-hint`} class="hint">{props.hint}</small> : null}
    </div>
  );
}

/** A page's heading and its actions. */
export function Title({ children, actions }: { children: ComponentChildren; actions?: ComponentChildren }): JSX.Element {
  return (
    <div class="page-title">
      <h1 tabIndex={-1}>{children}</h1>
      {actions ? <div class="actions">{actions}</div> : null}
    </div>
  );
}

/** Raw data (ids, names, model numbers) that translation must leave alone. */
export function Raw({ children }: { children: ComponentChildren }): JSX.Element {
  return <span translate={false}>{children}</span>;
}

/** A label with data in it (`"欢迎，{org}"`): the label translated, each value shown as it is
 * (`Raw`), so neither a translator nor the untranslated-label check takes a name for text. */
export function Trans({ k, data }: { k: string; data: Record<string, ComponentChildren> }): JSX.Element {
  const template = t(k, Object.fromEntries(Object.keys(data).map((n) => [n, `\u0000${n}\u0000`])));
  const parts = template.split("\u0000");
  return <>{parts.map((p, i) => (i % 2 ? <Raw key={i}>{data[p]}</Raw> : p))}</>;
}

export function Empty({ children }: { children: ComponentChildren }): JSX.Element {
  return <p class="empty">{children}</p>;
}

/** A status word of the API as a coloured pill with its label. */
export function Pill({ value, ns }: { value: string; ns: string }): JSX.Element {
  return <span class={`pill s-${value}`} data-value={value}>{t(`${ns}.${value}`)}</span>;
}

/** One column of a <DataTable>: its header and how a row fills its cell. */
export interface Column<T> {
  label: string;
  /** the header is read by screen readers only (a column of buttons) */
  hideLabel?: boolean;
  /** right-aligned figures */
  num?: boolean;
  cell: (row: T) => ComponentChildren;
}

/** The console's one table: a caption for screen readers (shown when `showCaption`), a
 * header row, one row per item, a sentence when there is none, and "load more" when the
 * listing has a next page (`usePaged`). `rows` undefined: not loaded yet, nothing shown. */
export function DataTable<T>(props: {
  id: string;
  caption: string;
  columns: Column<T>[];
  rows: T[] | undefined;
  rowKey: (row: T) => string | number;
  /** data-* attributes of a row (tests and styles find rows by them) */
  rowAttrs?: (row: T) => Record<string, string | number | undefined>;
  empty: string;
  showCaption?: boolean;
  more?: { load: () => void; busy?: boolean } | null;
}): JSX.Element | null {
  const { rows, columns } = props;
  if (!rows) return null;
  if (!rows.length) return <Empty>{props.empty}</Empty>;
  return (
    <>
      <div class="table-wrap">
        <table class="data" id={props.id}>
          <caption class={props.showCaption ? undefined : "visually-hidden"}>{props.caption}</caption>
          <thead>
            <tr>
              {columns.map((c, i) => (
                <th key={i} scope="col" class={c.num ? "num" : undefined}>
                  {c.hideLabel ? <span class="visually-hidden">{c.label}</span> : c.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={props.rowKey(r)} {...(props.rowAttrs?.(r) ?? {})}>
                {columns.map((c, i) => <td key={i} class={c.num ? "num" : undefined}>{c.cell(r)}</td>)}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {props.more ? (
        <p>
          <button type="button" class="secondary" id={`${props.id}-more`} disabled={props.more.busy} onClick={props.more.load}>
            {t("common.more")}
          </button>
        </p>
      ) : null}
    </>
  );
}

/** A listing a page at a time (the API's `Link: rel="next"`): its rows so far, and `more`
 * while a next page remains; reloaded from the first page when `deps` change. */
export function usePaged<T>(path: string, query: Record<string, string | number | undefined>, deps: unknown[]): {
  rows: T[] | undefined; error: unknown; loading: boolean; more: { load: () => void; busy: boolean } | null; reload: () => void;
} {
  const [rows, setRows] = useState<T[] | undefined>(undefined);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const c = new AbortController();
    setLoading(true);
    setError(null);
    page<T>(path, { signal: c.signal, query }).then(
      (p) => { setRows(p.items); setNext(p.next); setLoading(false); },
      (err: unknown) => { if (!c.signal.aborted) { setError(err); setLoading(false); } },
    );
    return () => c.abort();
  }, [...deps, tick]);
  const load = (): void => {
    if (!next) return;
    setLoading(true);
    page<T>(next).then(
      (p) => { setRows((r) => [...(r ?? []), ...p.items]); setNext(p.next); setLoading(false); },
      (err: unknown) => { setError(err); setLoading(false); },
    );
  };
  return { rows, error, loading, more: next ? { load, busy: loading } : null, reload: () => setTick((n) => n + 1) };
}
