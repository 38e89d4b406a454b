// The audit log: who changed what, newest first, a page at a time (the API's Link header), with
// the object before and after. A platform's admins see the lines about their own objects.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { page } from "../api";
import { Empty, ErrorBox, Field, Loading, Raw, Title } from "../components/ui";
import { fmt, t } from "../i18n";
import type { RouteDef } from "../pages";

interface Line {
  id: number; at: string; actor_org: string | null; actor_key: string | null; action: string;
  object_kind: string; object_id: string; owners: string[]; before: unknown; after: unknown;
}

const KINDS = ["", "booking", "instrument", "closure", "qualification", "key", "quota", "voucher", "organisation"];

function Audit(): JSX.Element {
  const [kind, setKind] = useState("");
  const [object, setObject] = useState("");
  const [filters, setFilters] = useState({ kind: "", object: "" });
  const [lines, setLines] = useState<Line[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  useEffect(() => {
    const c = new AbortController();
    setLoading(true);
    setError(null);
    page<Line>("/api/v1/audit", { signal: c.signal, query: { ...filters, limit: 50 } }).then(
      (p) => { setLines(p.items); setNext(p.next); setLoading(false); },
      (err: unknown) => { if (!c.signal.aborted) { setError(err); setLoading(false); } },
    );
    return () => c.abort();
  }, [filters.kind, filters.object]);
  const more = async (): Promise<void> => {
    if (!next) return;
    setLoading(true);
    try {
      const p = await page<Line>(next);
      setLines((l) => [...l, ...p.items]);
      setNext(p.next);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  };
  return (
    <section>
      <Title>{t("audit.title")}</Title>
      <p>{t("audit.intro")}</p>
      <form class="filters" role="search" id="audit-filter"
        onSubmit={(e) => { e.preventDefault(); setFilters({ kind, object: object.trim() }); }}>
        <Field id="audit-kind" label={t("audit.kind")}>
          <select id="audit-kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
            {KINDS.map((k) => <option key={k} value={k}>{t(`audit.kind_${k || "all"}`)}</option>)}
          </select>
        </Field>
        <Field id="audit-object" label={t("audit.object")}>
          <input id="audit-object" value={object} onInput={(e) => setObject((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit">{t("audit.filter")}</button>
      </form>
      <ErrorBox error={error} />
      {loading && !lines.length ? <Loading /> : null}
      {!loading && !lines.length && !error ? <Empty>{t("audit.none")}</Empty> : null}
      {lines.length ? (
        <div class="table-wrap">
          <table class="data" id="audit">
            <caption class="visually-hidden">{t("audit.title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("audit.at")}</th>
                <th scope="col">{t("audit.who")}</th>
                <th scope="col">{t("audit.action")}</th>
                <th scope="col">{t("audit.object")}</th>
                <th scope="col">{t("audit.change")}</th>
              </tr>
            </thead>
            <tbody>
              {lines.map((l) => (
                <tr key={l.id} data-audit={l.id} data-kind={l.object_kind} data-object={l.object_id}>
                  <td>{fmt.dateTime(l.at)}</td>
                  <td>{l.actor_org ? <Raw>{l.actor_org}</Raw> : t("audit.system")}{l.actor_key ? <><br /><small><Raw>{l.actor_key}</Raw></small></> : null}</td>
                  <td><Raw>{l.action}</Raw></td>
                  <td><Raw>{l.object_kind}</Raw> <Raw>{l.object_id}</Raw></td>
                  <td>
                    <details>
                      <summary>{t("audit.show")}</summary>
                      <p>{t("audit.before")}</p>
                      <pre translate={false}>{JSON.stringify(l.before, null, 1)}</pre>
                      <p>{t("audit.after")}</p>
                      <pre translate={false}>{JSON.stringify(l.after, null, 1)}</pre>
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {next ? <p><button type="button" class="secondary" id="audit-more" disabled={loading} onClick={() => void more()}>{t("common.more")}</button></p> : null}
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/audit", title: "audit.title", component: Audit, role: "admin", group: "administer", order: 7 },
];
