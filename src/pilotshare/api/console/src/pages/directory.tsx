// The public directory (no key): platforms and their instruments with live status, searchable by
// words, capability, kind and site; names and descriptions in the reader's language.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { get } from "../api";
import { Empty, ErrorBox, Field, Loading, Pill, Raw, Title, useAsync } from "../components/ui";
import { fmt, lang, t } from "../i18n";
import type { RouteDef } from "../pages";

interface Platform {
  id: string; name_zh: string; name_en: string; site: string | null; address: string;
  description_zh: string; description_en: string; contact: Record<string, string>;
  accreditations: string[]; instruments: number; service_items: number;
}

export interface PublicInstrument {
  id: string; name: string; kind: string; model: string | null; capabilities: string[];
  hourly_rate: string; billing: string; requires_qualification: boolean; site: string;
  site_timezone: string; platform: string; platform_name_zh: string; platform_name_en: string;
  status: string; status_since: string | null; next_free: { start: string; end: string } | null;
}

const bi = (zh: string, en: string): string => (lang.value === "zh" ? zh || en : en || zh);

function Directory(): JSX.Element {
  const [q, setQ] = useState("");
  const [capability, setCapability] = useState("");
  const [kind, setKind] = useState("");
  const [filters, setFilters] = useState({ q: "", capability: "", kind: "" });
  const platforms = useAsync((signal) => get<Platform[]>("/api/v1/public/platforms", { signal, anonymous: true }), []);
  const instruments = useAsync(
    (signal) => get<PublicInstrument[]>("/api/v1/public/instruments", { signal, anonymous: true, query: filters }),
    [filters.q, filters.capability, filters.kind],
  );
  const names = new Map((platforms.data ?? []).map((p) => [p.id, p]));
  return (
    <section>
      <Title>{t("directory.title")}</Title>
      <p>{t("directory.intro")}</p>
      <form
        class="filters" role="search" id="directory-search"
        onSubmit={(e) => { e.preventDefault(); setFilters({ q, capability, kind }); }}
      >
        <Field id="dir-q" label={t("directory.words")}>
          <input id="dir-q" type="search" value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="dir-capability" label={t("directory.capability")}>
          <input id="dir-capability" value={capability} onInput={(e) => setCapability((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="dir-kind" label={t("directory.kind")}>
          <input id="dir-kind" value={kind} onInput={(e) => setKind((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit">{t("common.search")}</button>
      </form>
      <h2>{t("directory.instruments")}</h2>
      <ErrorBox error={instruments.error} />
      {instruments.loading && !instruments.data ? <Loading /> : null}
      {instruments.data && !instruments.data.length ? <Empty>{t("directory.none")}</Empty> : null}
      <div class="table-wrap">
        <table id="public-instruments" class="data">
          <caption class="visually-hidden">{t("directory.instruments")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("directory.instrument")}</th>
              <th scope="col">{t("directory.platform")}</th>
              <th scope="col">{t("directory.capabilities")}</th>
              <th scope="col">{t("directory.rate")}</th>
              <th scope="col">{t("directory.status")}</th>
              <th scope="col">{t("directory.next_free")}</th>
            </tr>
          </thead>
          <tbody>
            {(instruments.data ?? []).map((i) => (
              <tr key={i.id} data-instrument={i.id}>
                <td><Raw>{i.name}</Raw><br /><small><Raw>{i.id}</Raw> · <Raw>{i.kind}</Raw>{i.model ? <> · <Raw>{i.model}</Raw></> : null}</small></td>
                <td><Raw>{bi(i.platform_name_zh, i.platform_name_en)}</Raw><br /><small><Raw>{i.site}</Raw></small></td>
                <td><Raw>{i.capabilities.join(", ")}</Raw></td>
                <td>{t("directory.per_hour", { amount: fmt.money(i.hourly_rate) })}</td>
                <td><Pill ns="directory" value={`status_${i.status.replace("-", "_")}`} /></td>
                <td>{i.next_free ? fmt.dateTime(i.next_free.start) : t("directory.no_slot")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>{t("directory.platforms")}</h2>
      <ErrorBox error={platforms.error} />
      <div class="cards">
        {[...names.values()].map((p) => (
          <article class="card" key={p.id} data-platform={p.id}>
            <h3><Raw>{bi(p.name_zh, p.name_en)}</Raw></h3>
            <p><Raw>{bi(p.description_zh, p.description_en)}</Raw></p>
            <p class="meta"><Raw>{p.address}</Raw></p>
            <p class="meta">
              {t("directory.counts", { instruments: fmt.number(p.instruments), items: fmt.number(p.service_items) })}
              {p.accreditations.length ? <> · <Raw>{p.accreditations.join(" ")}</Raw></> : null}
            </p>
          </article>
        ))}
      </div>
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/directory", title: "directory.title", component: Directory, group: "explore", order: 1 },
];
