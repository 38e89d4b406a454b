// Capacity forecasts for planners: ask for one, watch it run from the `job` events of the
// stream (never polling), then read utilisation per kind and week with its 90% band, the weeks
// demand may exceed capacity, and the bookings at risk with their odds and alternatives.
import type { JSX } from "preact";
import { useMemo, useState } from "preact/hooks";
import { get, post } from "../api";
import { Chart } from "../components/chart";
import { CurrentJob, JobList, type JobView, useJob } from "../components/job";
import type { ChartOptions } from "../components/chart";
import { Empty, ErrorBox, Field, Loading, Raw, Title, useAsync } from "../components/ui";
import { fmt, lang, t } from "../i18n";
import type { RouteDef } from "../pages";

interface Band { mean: number | null; p05: number | null; p95: number | null }
interface Week { week_start: string; utilization: Band | null }
interface KindRow { kind: string; instruments: number; utilization: Band | null; weekly: Week[]; wait_hours?: { mean: number | null; p95: number | null } }
interface Slot { instrument: string; start: string; end: string }
interface AtRisk { booking: string; instrument?: string; start?: string; end?: string; p_served: number; cause?: string; alternatives?: Slot[] }
interface Overloaded { kind: string; week_start: string; demand_hours: number; capacity_hours: number; p_exceeds: number }
export interface ForecastResult {
  params: { horizon_days: number; replications: number; seed: number };
  origin: string; horizon_end: string;
  kinds: KindRow[]; at_risk: AtRisk[]; overloaded_weeks: Overloaded[];
  bookings: { booking: string }[];
  other_organisations?: { bookings: number };
}
interface Job extends JobView<ForecastResult> { request?: Record<string, unknown> }


function bandOptions(kind: KindRow, overloaded: Overloaded[]): ChartOptions {
  const weeks = kind.weekly.map((w) => fmt.date(w.week_start));
  const lo = kind.weekly.map((w) => w.utilization?.p05 ?? null);
  const hi = kind.weekly.map((w) => (w.utilization?.p95 != null && w.utilization.p05 != null ? w.utilization.p95 - w.utilization.p05 : null));
  const mean = kind.weekly.map((w) => w.utilization?.mean ?? null);
  const short = overloaded.filter((o) => o.kind === kind.kind).map((o) => {
    const label = fmt.date(o.week_start);
    return [{ xAxis: label, name: t("forecast.shortfall") }, { xAxis: label }];
  });
  return {
    aria: { enabled: true, label: { description: t("forecast.chart_label", { kind: kind.kind }) } },
    tooltip: { trigger: "axis", valueFormatter: (v: unknown) => (typeof v === "number" ? fmt.percent(v) : "") },
    legend: { data: [t("forecast.mean"), t("forecast.band")] },
    grid: { left: 56, right: 16, top: 40, bottom: 40 },
    xAxis: { type: "category", data: weeks, boundaryGap: false, name: t("forecast.week") },
    yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: (v: number) => fmt.percent(v) } },
    series: [
      { name: t("forecast.lower"), type: "line", data: lo, stack: "band", lineStyle: { opacity: 0 }, symbol: "none", tooltip: { show: false } },
      {
        name: t("forecast.band"), type: "line", data: hi, stack: "band", lineStyle: { opacity: 0 }, symbol: "none",
        areaStyle: { color: "#5470c6", opacity: 0.25 }, tooltip: { show: false },
        markArea: { silent: true, itemStyle: { color: "rgba(238,102,102,0.18)" }, label: { show: true, position: "insideTop" }, data: short },
      },
      { name: t("forecast.mean"), type: "line", data: mean, symbol: "circle", lineStyle: { width: 2 } },
    ],
  };
}

function Result({ job }: { job: Job }): JSX.Element {
  const r = job.result!;
  const [kind, setKind] = useState(r.kinds[0]?.kind ?? "");
  const row = r.kinds.find((k) => k.kind === kind) ?? r.kinds[0];
  const options = useMemo(() => (row ? bandOptions(row, r.overloaded_weeks) : null), [row, r, lang.value]);
  return (
    <section class="forecast-result" data-job={job.id} aria-labelledby="forecast-result-title">
      <h2 id="forecast-result-title">{t("forecast.result_title", { from: fmt.date(r.origin), to: fmt.date(r.horizon_end) })}</h2>
      <p>{t("forecast.params", { days: r.params.horizon_days, reps: r.params.replications })} <Raw>{r.params.seed}</Raw></p>
      {r.kinds.length ? (
        <>
          <Field id="forecast-kind" label={t("forecast.kind")}>
            <select id="forecast-kind" translate={false} value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
              {r.kinds.map((k) => <option key={k.kind} value={k.kind}>{k.kind}</option>)}
            </select>
          </Field>
          {options ? <Chart id="forecast-band" options={options} label={t("forecast.chart_label", { kind: row!.kind })} /> : null}
          <div class="table-wrap">
            <table>
              <caption>{t("forecast.kinds_caption")}</caption>
              <thead><tr><th>{t("forecast.kind")}</th><th>{t("forecast.instruments")}</th><th>{t("forecast.utilisation")}</th><th>{t("forecast.band")}</th><th>{t("forecast.wait_mean")}</th></tr></thead>
              <tbody>
                {r.kinds.map((k) => (
                  <tr key={k.kind} data-kind={k.kind}>
                    <td><Raw>{k.kind}</Raw></td>
                    <td>{fmt.number(k.instruments)}</td>
                    <td>{k.utilization?.mean != null ? fmt.percent(k.utilization.mean) : "—"}</td>
                    <td>{k.utilization?.p05 != null && k.utilization.p95 != null ? `${fmt.percent(k.utilization.p05)} – ${fmt.percent(k.utilization.p95)}` : "—"}</td>
                    <td>{k.wait_hours?.mean != null ? t("common.hours_value", { h: fmt.number(k.wait_hours.mean, 1) }) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : <Empty>{t("forecast.no_kinds")}</Empty>}
      <h3>{t("forecast.shortfall_title")}</h3>
      {r.overloaded_weeks.length ? (
        <div class="table-wrap">
          <table id="forecast-shortfall">
            <thead><tr><th>{t("forecast.kind")}</th><th>{t("forecast.week")}</th><th>{t("forecast.demand")}</th><th>{t("forecast.capacity")}</th><th>{t("forecast.p_exceeds")}</th></tr></thead>
            <tbody>
              {r.overloaded_weeks.map((o) => (
                <tr key={`${o.kind}-${o.week_start}`}>
                  <td><Raw>{o.kind}</Raw></td><td>{fmt.date(o.week_start)}</td>
                  <td>{t("common.hours_value", { h: fmt.number(o.demand_hours, 1) })}</td>
                  <td>{t("common.hours_value", { h: fmt.number(o.capacity_hours, 1) })}</td>
                  <td>{fmt.percent(o.p_exceeds)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : <Empty>{t("forecast.no_shortfall")}</Empty>}
      <h3>{t("forecast.at_risk_title")}</h3>
      {r.at_risk.length ? (
        <div class="table-wrap">
          <table id="forecast-at-risk">
            <thead><tr><th>{t("forecast.booking")}</th><th>{t("forecast.instrument")}</th><th>{t("forecast.start")}</th><th>{t("forecast.p_served")}</th><th>{t("forecast.cause")}</th><th>{t("forecast.alternatives")}</th></tr></thead>
            <tbody>
              {r.at_risk.map((b) => (
                <tr key={b.booking} data-booking={b.booking}>
                  <td><Raw>{b.booking.slice(0, 8)}</Raw></td>
                  <td><Raw>{b.instrument ?? ""}</Raw></td>
                  <td>{b.start ? fmt.dateTime(b.start) : "—"}</td>
                  <td class="odds">{fmt.percent(b.p_served)}</td>
                  <td><Raw>{b.cause ?? ""}</Raw></td>
                  <td>
                    {b.alternatives?.length ? (
                      <ul>{b.alternatives.map((a) => <li key={`${a.instrument}${a.start}`}><Raw>{a.instrument}</Raw> {fmt.dateTime(a.start)}–{fmt.time(a.end)}</li>)}</ul>
                    ) : t("forecast.no_alternatives")}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : <Empty>{t("forecast.no_at_risk")}</Empty>}
      {r.other_organisations ? <p>{t("forecast.others", { n: r.other_organisations.bookings })}</p> : null}
    </section>
  );
}

function Forecast(): JSX.Element {
  const [horizon, setHorizon] = useState(14);
  const [reps, setReps] = useState(100);
  const [seed, setSeed] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const past = useAsync((signal) => get<Job[]>("/api/v1/forecasts", { query: { limit: 20 }, signal }), []);
  const { current, live, error: openError, open, started } = useJob<Job>("forecast", "/api/v1/forecasts");

  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, number> = { horizon_days: horizon, replications: reps };
      if (seed.trim()) body.seed = Number(seed);
      started(await post<Job>("/api/v1/forecasts", body));
      past.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <Title>{t("forecast.title")}</Title>
      <p>{t("forecast.intro")}</p>
      <form id="forecast-form" class="inline-form" onSubmit={submit}>
        <Field id="horizon" label={t("forecast.horizon")}>
          <input id="horizon" type="number" min={1} max={92} required value={horizon} onInput={(e) => setHorizon(Number((e.target as HTMLInputElement).value))} />
        </Field>
        <Field id="replications" label={t("forecast.replications")}>
          <input id="replications" type="number" min={2} max={1000} required value={reps} onInput={(e) => setReps(Number((e.target as HTMLInputElement).value))} />
        </Field>
        <Field id="seed" label={t("forecast.seed")} hint={t("forecast.seed_hint")}>
          <input id="seed" type="number" min={0} value={seed} aria-describedby="seed-hint" onInput={(e) => setSeed((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" disabled={busy}>{t("forecast.run")}</button>
      </form>
      <ErrorBox error={error} />
      <ErrorBox error={openError} />
      {current ? <CurrentJob id="forecast-current" job={current}>{() => <Result job={current} key={current.id} />}</CurrentJob> : null}
      <h2>{t("forecast.past")}</h2>
      {past.loading && !past.data ? <Loading /> : null}
      <ErrorBox error={past.error} />
      <JobList<Job> id="forecast-list" caption={t("forecast.past")} nameLabel={t("forecast.job")} name={(j) => j.id.slice(0, 8)}
        jobs={past.data} live={live} open={(id) => void open(id)} empty={t("forecast.none")} />
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/forecast", title: "forecast.title", component: Forecast, role: "planner", group: "plan", order: 1 },
];
