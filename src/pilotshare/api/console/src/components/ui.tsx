// Small shared pieces: loading and error states, form fields, tables. Pages stay short and
// every one behaves alike for a keyboard and a screen reader.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api";
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

export function Empty({ children }: { children: ComponentChildren }): JSX.Element {
  return <p class="empty">{children}</p>;
}

/** A status word of the API as a coloured pill with its label. */
export function Pill({ value, ns }: { value: string; ns: string }): JSX.Element {
  return <span class={`pill s-${value}`} data-value={value}>{t(`${ns}.${value}`)}</span>;
}
