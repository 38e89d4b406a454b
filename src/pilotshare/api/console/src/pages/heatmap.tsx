// The hour-of-week heatmap: each instrument's learned share of time running in every hour of
// the week (the twin's `behaviour.hour_of_week`, read in the site's zone), seven days by 24
// hours. One instrument, or a row of charts for every instrument of a site the admin runs; each
// chart has its table beside it for a keyboard and a screen reader.
import type { JSX } from "preact";
import { useMemo, useState } from "preact/hooks";
import { all, get } from "../api";
import { Chart, type ChartOptions } from "../components/chart";
import { Empty, ErrorBox, Field, Loading, Raw, Title, useAsync } from "../components/ui";
import { fmt, lang, t } from "../i18n";
import type { RouteDef } from "../pages";
import { session } from "../session";

export interface Instrument {
  id: string; name: string; kind: string; site: string; site_timezone: string; owner_org: string | null;
}

interface Profile { timezone: string; values: number[] }
interface Twin { instrument: string; behaviour: { observed_hours: number; hour_of_week: Profile } | null }

export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const HOURS = Array.from({ length: 24 }, (_, h) => String(h).padStart(2, "0"));

/** The instruments the signed-in admin runs: its platform's, or every one for the network operator. */
export function administered(list: Instrument[]): Instrument[] {
  const me = session.value?.me;
  if (!me) return [];
  return me.network_admin ? list : list.filter((i) => i.owner_org === me.org.id);
}

const value = (e: Event): string => (e.target as HTMLSelectElement).value;

function options(profile: Profile): ChartOptions {
  const days = DAYS.map((d) => t(`heatmap.day_${d}`));
  const data = profile.values.map((v, n) => [n % 24, Math.floor(n / 24), v]);
  return {
    tooltip: {
      formatter: (p: { value: [number, number, number] }) =>
        t("heatmap.cell", { day: days[p.value[1]], hour: HOURS[p.value[0]], share: fmt.percent(p.value[2]) }),
    },
    grid: { left: 48, right: 16, top: 8, bottom: 72 },
    xAxis: { type: "category", data: HOURS, name: t("heatmap.hour"), nameLocation: "middle", nameGap: 24, splitArea: { show: true } },
    yAxis: { type: "category", data: days, inverse: true, splitArea: { show: true } },
    visualMap: {
      min: 0, max: 1, calculable: false, orient: "horizontal", left: "center", bottom: 0,
      text: [t("heatmap.high"), t("heatmap.low")], inRange: { color: ["#f4f8fb", "#1d4ed8"] },
      formatter: (v: number) => fmt.percent(v),
    },
    series: [{ type: "heatmap", data, name: t("heatmap.share"), emphasis: { itemStyle: { borderColor: "#222" } } }],
  };
}

/** What a screen reader hears of a chart (the card's heading names the instrument): the
 * busiest and the quietest hour, and the mean. */
function describe(profile: Profile): string {
  const v = profile.values;
  const at = (n: number): string => `${t(`heatmap.day_${DAYS[Math.floor(n / 24)]}`)} ${HOURS[n % 24]}:00`;
  const peak = v.indexOf(Math.max(...v));
  const low = v.indexOf(Math.min(...v));
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return t("heatmap.describe", {
    peak: at(peak), peak_share: fmt.percent(v[peak]), low: at(low), low_share: fmt.percent(v[low]), mean: fmt.percent(mean),
  });
}

function Heat({ instrument, twin }: { instrument: Instrument; twin: Twin | undefined }): JSX.Element {
  const profile = twin?.behaviour?.hour_of_week;
  const chart = useMemo(() => (profile ? options(profile) : null), [profile, lang.value]);
  const name = instrument.name || instrument.id;
  return (
    <article class="card heat" data-instrument={instrument.id}>
      <h2><Raw>{name}</Raw> <small class="meta"><Raw>{instrument.id}</Raw></small></h2>
      {!twin ? <Loading /> : null}
      {twin && !profile ? <Empty>{t("heatmap.not_learned")}</Empty> : null}
      {profile && chart ? (
        <>
          <p class="meta">
            {t("heatmap.observed", { hours: fmt.number(twin!.behaviour!.observed_hours, 1) })} ·{" "}
            {t("common.times_in_zone", { zone: profile.timezone })}
          </p>
          <Chart
            id={`heatmap-${instrument.id}`} height={300} label={describe(profile)}
            options={{ ...chart, aria: { enabled: true, label: { description: describe(profile) } } }}
          />
          <details class="heat-table">
            <summary>{t("heatmap.show_table")}</summary>
            <div class="table-wrap" tabIndex={0} role="group" aria-label={t("heatmap.show_table")}>
              <table class="data" id={`heatmap-table-${instrument.id}`}>
                <caption class="visually-hidden">{t("heatmap.table_caption")} <Raw>{name}</Raw></caption>
                <thead>
                  <tr>
                    <th scope="col">{t("heatmap.day")}</th>
                    {HOURS.map((h) => <th scope="col" class="num" key={h}>{h}</th>)}
                  </tr>
                </thead>
                <tbody>
                  {DAYS.map((d, day) => (
                    <tr key={d}>
                      <th scope="row">{t(`heatmap.day_${d}`)}</th>
                      {HOURS.map((h, hour) => (
                        <td class="num" key={h}>{fmt.number(profile.values[day * 24 + hour] * 100)}</td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <p class="hint">{t("heatmap.table_hint")}</p>
          </details>
        </>
      ) : null}
    </article>
  );
}

function Heatmap(): JSX.Element {
  const list = useAsync((signal) => all<Instrument>("/api/v1/instruments", { signal }), []);
  const mine = administered(list.data ?? []);
  const sites = [...new Set(mine.map((i) => i.site))].sort();
  const [site, setSite] = useState("");
  const [pick, setPick] = useState("");
  const here = site || sites[0] || "";
  const atSite = mine.filter((i) => i.site === here);
  const shown = pick && atSite.some((i) => i.id === pick) ? atSite.filter((i) => i.id === pick) : atSite;
  const ids = shown.map((i) => i.id).join(",");
  const twins = useAsync(async (signal) => {
    const answers = await Promise.all(shown.map((i) =>
      get<Twin>(`/api/v1/instruments/${encodeURIComponent(i.id)}/twin`, { signal }).catch(() => ({ instrument: i.id, behaviour: null }))));
    return Object.fromEntries(answers.map((a) => [a.instrument, a])) as Record<string, Twin>;
  }, [ids]);
  return (
    <section>
      <Title>{t("heatmap.title")}</Title>
      <p>{t("heatmap.intro")}</p>
      <form class="filters" role="search" id="heatmap-filter" onSubmit={(e) => e.preventDefault()}>
        <Field id="heatmap-site" label={t("heatmap.site")}>
          <select id="heatmap-site" translate={false} value={here} onChange={(e) => { setSite(value(e)); setPick(""); }}>
            {sites.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </Field>
        <Field id="heatmap-instrument" label={t("heatmap.instrument")}>
          <select id="heatmap-instrument" value={pick} onChange={(e) => setPick(value(e))}>
            <option value="">{t("heatmap.all_of_site")}</option>
            {atSite.map((i) => <option key={i.id} value={i.id} translate={false}>{i.name} ({i.id})</option>)}
          </select>
        </Field>
      </form>
      <ErrorBox error={list.error ?? twins.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && !mine.length ? <Empty>{t("heatmap.none")}</Empty> : null}
      <div class="heats" id="heatmaps">
        {shown.map((i) => <Heat key={i.id} instrument={i} twin={twins.data?.[i.id]} />)}
      </div>
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/heatmap", title: "heatmap.title", component: Heatmap, role: "admin", group: "administer", order: 2 },
];
