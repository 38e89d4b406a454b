// The audit log: who changed what, newest first, a page at a time (the API's Link header), with
// the object before and after. A platform's admins see the lines about their own objects.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { type Column, DataTable, ErrorBox, Field, Loading, Raw, Title, usePaged } from "../components/ui";
import { fmt, t } from "../i18n";
import type { RouteDef } from "../pages";

interface Line {
  id: number; at: string; actor_org: string | null; actor_key: string | null; action: string;
  object_kind: string; object_id: string; owners: string[]; before: unknown; after: unknown;
}

const KINDS = ["", "booking", "instrument", "closure", "qualification", "key", "quota", "voucher", "organisation"];

const COLUMNS = (): Column<Line>[] => [
  { label: t("audit.at"), cell: (l) => fmt.dateTime(l.at) },
  {
    label: t("audit.who"),
    cell: (l) => <>{l.actor_org ? <Raw>{l.actor_org}</Raw> : t("audit.system")}{l.actor_key ? <><br /><small><Raw>{l.actor_key}</Raw></small></> : null}</>,
  },
  { label: t("audit.action"), cell: (l) => <Raw>{l.action}</Raw> },
  { label: t("audit.object"), cell: (l) => <><Raw>{l.object_kind}</Raw> <Raw>{l.object_id}</Raw></> },
  {
    label: t("audit.change"),
    cell: (l) => (
      <details>
        <summary>{t("audit.show")}</summary>
        <p>{t("audit.before")}</p>
        <pre translate={false}>{JSON.stringify(l.before, null, 1)}</pre>
        <p>{t("audit.after")}</p>
        <pre translate={false}>{JSON.stringify(l.after, null, 1)}</pre>
      </details>
    ),
  },
];

function Audit(): JSX.Element {
  const [kind, setKind] = useState("");
  const [object, setObject] = useState("");
  const [filters, setFilters] = useState({ kind: "", object: "" });
  const lines = usePaged<Line>("/api/v1/audit", { ...filters, limit: 50 }, [filters.kind, filters.object]);
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
      <ErrorBox error={lines.error} />
      {lines.loading && !lines.rows ? <Loading /> : null}
      <DataTable id="audit" caption={t("audit.title")} rows={lines.rows} empty={t("audit.none")} columns={COLUMNS()}
        rowKey={(l) => l.id} rowAttrs={(l) => ({ "data-audit": l.id, "data-kind": l.object_kind, "data-object": l.object_id })}
        more={lines.more} />
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/audit", title: "audit.title", component: Audit, role: "admin", group: "administer", order: 7 },
];
