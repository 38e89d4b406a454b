// API keys of the admin's organisation (the network operator: of every organisation): make one
// (its secret is shown once, here, and never again), see when each was last used, revoke one.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { del, get, post } from "../api";
import { type Column, DataTable, ErrorBox, Field, Loading, Raw, Title, useAsync } from "../components/ui";
import { fmt, siteToInstant, t } from "../i18n";
import type { RouteDef } from "../pages";
import { session } from "../session";

interface Key {
  id: string; org: string; role: string; created_at: string; last_used_at: string | null; expires_at: string | null;
}
interface Issued extends Key { key: string }

const ROLES = ["operator", "planner", "admin"];

function Keys(): JSX.Element {
  const keys = useAsync((signal) => get<Key[]>("/api/v1/keys", { signal }), []);
  const [role, setRole] = useState("operator");
  const [expires, setExpires] = useState("");
  const [org, setOrg] = useState("");
  const [issued, setIssued] = useState<Issued | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const networkAdmin = Boolean(session.value?.me.network_admin);

  const create = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, string> = { role };
      if (expires) body.expires_at = siteToInstant(expires);
      if (org.trim()) body.org = org.trim();
      setIssued(await post<Issued>("/api/v1/keys", body));
      keys.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (k: Key): Promise<void> => {
    if (!confirm(t("keys.confirm_revoke", { id: k.id }))) return;
    setError(null);
    try {
      await del(`/api/v1/keys/${encodeURIComponent(k.id)}`);
      keys.reload();
    } catch (err) {
      setError(err);
    }
  };

  const COLUMNS: Column<Key>[] = [
    { label: t("keys.id"), cell: (k) => <Raw>{k.id}</Raw> },
    { label: t("keys.org"), cell: (k) => <Raw>{k.org}</Raw> },
    { label: t("keys.role"), cell: (k) => t(`common.role_${k.role}`) },
    { label: t("keys.created"), cell: (k) => fmt.dateTime(k.created_at) },
    { label: t("keys.last_used"), cell: (k) => (k.last_used_at ? fmt.dateTime(k.last_used_at) : t("keys.never")) },
    { label: t("keys.expires"), cell: (k) => (k.expires_at ? fmt.dateTime(k.expires_at) : t("keys.no_expiry")) },
    {
      label: t("keys.actions"), hideLabel: true,
      cell: (k) => (k.id === session.value?.me.key.id ? t("keys.this_key") : (
        <button type="button" class="danger" onClick={() => void revoke(k)}>{t("keys.revoke")}</button>
      )),
    },
  ];

  return (
    <section>
      <Title>{t("keys.title")}</Title>
      <p>{t("keys.intro")}</p>
      <h2>{t("keys.create")}</h2>
      <form class="filters" id="key-create" onSubmit={(e) => void create(e)}>
        <Field id="key-role" label={t("keys.role")}>
          <select id="key-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
            {ROLES.map((r) => <option key={r} value={r}>{t(`common.role_${r}`)}</option>)}
          </select>
        </Field>
        <Field id="key-expires" label={t("keys.expires")} hint={t("keys.expires_hint")}>
          <input id="key-expires" type="datetime-local" value={expires} aria-describedby="key-expires-hint"
            onInput={(e) => setExpires((e.target as HTMLInputElement).value)} />
        </Field>
        {networkAdmin ? (
          <Field id="key-org" label={t("keys.org")} hint={t("keys.org_hint")}>
            <input id="key-org" value={org} aria-describedby="key-org-hint" onInput={(e) => setOrg((e.target as HTMLInputElement).value)} />
          </Field>
        ) : null}
        <button type="submit" disabled={busy}>{t("keys.create_button")}</button>
      </form>
      <ErrorBox error={error} />
      {issued ? (
        <div class="alert ok" role="status" id="key-issued">
          <p>{t("keys.issued", { role: t(`common.role_${issued.role}`) })} <Raw>{issued.org}</Raw></p>
          <p><code id="key-secret" translate={false}>{issued.key}</code></p>
          <p>{t("keys.once")}</p>
          <button type="button" class="secondary" onClick={() => setIssued(null)}>{t("keys.hide")}</button>
        </div>
      ) : null}
      <h2>{t("keys.list")}</h2>
      <ErrorBox error={keys.error} />
      {keys.loading && !keys.data ? <Loading /> : null}
      <DataTable id="keys" caption={t("keys.list")} rows={keys.data} empty={t("keys.none")}
        rowKey={(k) => k.id} rowAttrs={(k) => ({ "data-key": k.id })} columns={COLUMNS} />
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/keys", title: "keys.title", component: Keys, role: "admin", group: "administer", order: 5 },
];
