// Who and when an instrument can be booked, on its settings page (pages/instruments.tsx): its
// closures (maintenance windows and blackouts, entered in its site's time) and the organisations
// qualified to book it. No routes of its own.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { del, get, post, put } from "../api";
import { type Column, DataTable, ErrorBox, Field, Loading, Notice, Raw, useAsync } from "../components/ui";
import { fmt, siteToInstant, t } from "../i18n";
import type { RouteDef } from "../pages";
import type { Instrument } from "./instruments";

interface Closure { id: number; instrument: string; start: string; end: string; kind: string; reason: string; affected: string[] }
interface Qualification { org: string; name: string; granted_at: string }

const base = (inst: Instrument): string => `/api/v1/instruments/${encodeURIComponent(inst.id)}`;

export function Closures({ inst }: { inst: Instrument }): JSX.Element {
  const list = useAsync((signal) => get<Closure[]>(`${base(inst)}/closures`, { signal }), [inst.id]);
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [kind, setKind] = useState("maintenance");
  const [reason, setReason] = useState("");
  const [added, setAdded] = useState<Closure | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const add = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setAdded(null);
    setBusy(true);
    try {
      const body = { start: siteToInstant(start), end: siteToInstant(end), kind, reason: reason.trim() };
      setAdded(await post<Closure>(`${base(inst)}/closures`, body));
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const remove = async (c: Closure): Promise<void> => {
    if (!confirm(t("instruments.confirm_remove"))) return;
    setError(null);
    try {
      await del(`${base(inst)}/closures/${c.id}`);
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const columns: Column<Closure>[] = [
    { label: t("instruments.start"), cell: (c) => fmt.dateTime(c.start) },
    { label: t("instruments.end"), cell: (c) => fmt.dateTime(c.end) },
    { label: t("instruments.closure_kind"), cell: (c) => t(`instruments.kind_${c.kind}`) },
    { label: t("instruments.reason"), cell: (c) => <Raw>{c.reason}</Raw> },
    {
      label: t("instruments.actions"), hideLabel: true,
      cell: (c) => <button type="button" class="secondary" onClick={() => void remove(c)}>{t("instruments.remove")}</button>,
    },
  ];
  return (
    <section aria-labelledby="closures-title">
      <h2 id="closures-title">{t("instruments.closures")}</h2>
      <p>{t("instruments.closures_intro")}</p>
      <form class="filters" id="closure-form" onSubmit={(e) => void add(e)}>
        <Field id="closure-start" label={t("instruments.start")}>
          <input id="closure-start" type="datetime-local" required value={start} onInput={(e) => setStart((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="closure-end" label={t("instruments.end")}>
          <input id="closure-end" type="datetime-local" required value={end} onInput={(e) => setEnd((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="closure-kind" label={t("instruments.closure_kind")}>
          <select id="closure-kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            {["maintenance", "blackout"].map((k) => <option key={k} value={k}>{t(`instruments.kind_${k}`)}</option>)}
          </select>
        </Field>
        <Field id="closure-reason" label={t("instruments.reason")}>
          <input id="closure-reason" maxLength={500} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" disabled={busy}>{t("instruments.add_closure")}</button>
      </form>
      <ErrorBox error={error} />
      {added ? (
        <Notice kind={added.affected.length ? "warn" : "ok"}>
          <span id="closure-added" data-closure={added.id}>
            {t("instruments.closure_added")}
            {added.affected.length ? <> {t("instruments.closure_affected")} <Raw>{added.affected.join(", ")}</Raw></> : null}
          </span>
        </Notice>
      ) : null}
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      <DataTable id="closures" caption={t("instruments.closures")} rows={list.data} empty={t("instruments.no_closures")}
        columns={columns} rowKey={(c) => c.id} rowAttrs={(c) => ({ "data-closure": c.id, "data-kind": c.kind })} />
    </section>
  );
}

export function Qualifications({ inst }: { inst: Instrument }): JSX.Element {
  const list = useAsync((signal) => get<Qualification[]>(`${base(inst)}/qualifications`, { signal }), [inst.id]);
  const orgs = useAsync((signal) => get<{ id: string; name: string }[]>("/api/v1/organisations", { signal }), []);
  const [org, setOrg] = useState("");
  const [ok, setOk] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const grant = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setOk(false);
    setBusy(true);
    try {
      await put(`${base(inst)}/qualifications/${encodeURIComponent(org.trim())}`, undefined);
      setOk(true);
      setOrg("");
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (q: Qualification): Promise<void> => {
    if (!confirm(t("instruments.confirm_revoke", { org: q.org }))) return;
    setError(null);
    try {
      await del(`${base(inst)}/qualifications/${encodeURIComponent(q.org)}`);
      list.reload();
    } catch (err) {
      setError(err);
    }
  };
  const columns: Column<Qualification>[] = [
    { label: t("instruments.org"), cell: (q) => <Raw>{q.org}</Raw> },
    { label: t("instruments.org_name"), cell: (q) => <Raw>{q.name}</Raw> },
    { label: t("instruments.granted"), cell: (q) => fmt.dateTime(q.granted_at) },
    {
      label: t("instruments.actions"), hideLabel: true,
      cell: (q) => <button type="button" class="secondary" onClick={() => void revoke(q)}>{t("instruments.revoke")}</button>,
    },
  ];
  return (
    <section aria-labelledby="qualifications-title">
      <h2 id="qualifications-title">{t("instruments.qualifications")}</h2>
      <p>{t(inst.requires_qualification ? "instruments.qualifications_intro" : "instruments.not_gated")}</p>
      <form class="filters" id="qual-form" onSubmit={(e) => void grant(e)}>
        <Field id="qual-org" label={t("instruments.org")}>
          <input id="qual-org" required list="qual-orgs" value={org} translate={false} onInput={(e) => setOrg((e.target as HTMLInputElement).value)} />
        </Field>
        <datalist id="qual-orgs">
          {(orgs.data ?? []).map((o) => <option key={o.id} value={o.id} translate={false}>{o.name}</option>)}
        </datalist>
        <button type="submit" disabled={busy}>{t("instruments.grant")}</button>
      </form>
      <ErrorBox error={error} />
      {ok ? <p class="alert ok" role="status" id="qual-granted">{t("instruments.granted_ok")}</p> : null}
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      <DataTable id="qualifications" caption={t("instruments.qualifications")} rows={list.data} empty={t("instruments.no_qualifications")}
        columns={columns} rowKey={(q) => q.org} rowAttrs={(q) => ({ "data-org": q.org })} />
    </section>
  );
}

export const routes: RouteDef[] = [];
