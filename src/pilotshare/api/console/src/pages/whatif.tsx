// What-if simulations for planners: pick a bundled scenario or upload one, run it, watch its
// progress from the `job` events (never polling), and read the paired comparison and the
// report's weekly utilisation, baseline against scenario.
import type { JSX } from "preact";
import { useMemo, useState } from "preact/hooks";
import { get, post, text } from "../api";
import { Chart } from "../components/chart";
import type { ChartOptions } from "../components/chart";
import { ErrorBox, Field, Loading, Raw, Title, useAsync } from "../components/ui";
import { fmt, lang, t } from "../i18n";
import type { RouteDef } from "../pages";
import { CurrentJob, JobList, type JobView, useJob } from "../components/job";

interface Scenario { name: string; title: string; description: string; horizon_days: number; replications: number }
interface Ci { mean: number | null; lo: number | null; hi: number | null; n: number }
interface Row { metric: string; kind: string; baseline: Ci; scenario: Ci; difference: Ci; significant: boolean }
type Weekly = Record<string, { mean: (number | null)[]; p05: (number | null)[]; p95: (number | null)[] }>;
interface Report { scenario: { name: string }; comparison: Row[]; weekly_utilisation: { baseline: Weekly; scenario: Weekly } }
interface Job extends JobView<Report> { scenario?: string }

const num = (v: number | null, metric: string): string =>
  v == null ? "—" : metric === "utilisation" || metric === "served_share" || metric === "booking_odds" ? fmt.percent(v, 1) : fmt.number(v, 1);
const ci = (c: Ci, metric: string): string => `${num(c.mean, metric)} [${num(c.lo, metric)}, ${num(c.hi, metric)}]`;

function weeklyOptions(report: Report, kind: string): ChartOptions {
  const b = report.weekly_utilisation.baseline[kind];
  const s = report.weekly_utilisation.scenario[kind];
  const n = Math.max(b?.mean.length ?? 0, s?.mean.length ?? 0);
  return {
    aria: { enabled: true, label: { description: t("whatif.weekly_chart", { kind }) } },
    tooltip: { trigger: "axis", valueFormatter: (v: unknown) => (typeof v === "number" ? fmt.percent(v) : "") },
    legend: { data: [t("whatif.baseline"), t("whatif.scenario")] },
    grid: { left: 56, right: 16, top: 40, bottom: 40 },
    xAxis: { type: "category", data: Array.from({ length: n }, (_, i) => t("whatif.week_n", { n: i + 1 })) },
    yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: (v: number) => fmt.percent(v) } },
    series: [
      { name: t("whatif.baseline"), type: "line", data: b?.mean ?? [] },
      { name: t("whatif.scenario"), type: "line", data: s?.mean ?? [] },
    ],
  };
}

function Comparison({ job }: { job: Job }): JSX.Element {
  const r = job.result!;
  const kinds = Object.keys(r.weekly_utilisation?.baseline ?? {});
  const [kind, setKind] = useState(kinds[0] ?? "");
  const options = useMemo(() => (kind ? weeklyOptions(r, kind) : null), [r, kind, lang.value]);
  const diffs: ChartOptions = useMemo(() => {
    const rows = r.comparison.filter((c) => c.kind === "site");
    return {
      aria: { enabled: true, label: { description: t("whatif.differences_chart") } },
      grid: { left: 120, right: 16, top: 16, bottom: 32 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "value" },
      yAxis: { type: "category", data: rows.map((c) => t(`whatif.metric_${c.metric}`)) },
      series: [{ name: t("whatif.difference"), type: "bar", data: rows.map((c) => ({ value: c.difference.mean, itemStyle: { color: c.significant ? "#ee6666" : "#91cc75" } })) }],
    };
  }, [r, lang.value]);
  return (
    <section id="whatif-result" data-job={job.id} aria-labelledby="whatif-result-title">
      <h2 id="whatif-result-title">{t("whatif.comparison")} <Raw>{r.scenario?.name}</Raw></h2>
      <div class="table-wrap">
        <table id="whatif-comparison">
          <thead><tr><th>{t("whatif.metric")}</th><th>{t("whatif.kind")}</th><th>{t("whatif.baseline")}</th><th>{t("whatif.scenario")}</th><th>{t("whatif.difference")}</th></tr></thead>
          <tbody>
            {r.comparison.map((c) => (
              <tr key={`${c.metric}-${c.kind}`} class={c.significant ? "significant" : undefined}>
                <td>{t(`whatif.metric_${c.metric}`)}</td>
                <td>{c.kind === "site" ? t("whatif.site") : <Raw>{c.kind}</Raw>}</td>
                <td>{ci(c.baseline, c.metric)}</td><td>{ci(c.scenario, c.metric)}</td><td>{ci(c.difference, c.metric)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>{t("whatif.differences_chart")}</h3>
      <Chart id="whatif-differences" options={diffs} label={t("whatif.differences_chart")} height={240} />
      {kinds.length ? (
        <>
          <Field id="whatif-kind" label={t("whatif.kind")}>
            <select id="whatif-kind" translate={false} value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)}>
              {kinds.map((k) => <option key={k} value={k}>{k}</option>)}
            </select>
          </Field>
          {options ? <Chart id="whatif-weekly" options={options} label={t("whatif.weekly_chart", { kind })} /> : null}
        </>
      ) : null}
    </section>
  );
}

function WhatIf(): JSX.Element {
  const scenarios = useAsync((signal) => get<Scenario[]>("/api/v1/scenarios", { signal }), []);
  const past = useAsync((signal) => get<Job[]>("/api/v1/simulations", { query: { limit: 20 }, signal }), []);
  const [yaml, setYaml] = useState("");
  const [reps, setReps] = useState("");
  const [error, setError] = useState<unknown>(null);
  const { current, live, error: openError, open, started } = useJob<Job>("simulation", "/api/v1/simulations", () => past.reload());

  const pick = async (name: string): Promise<void> => {
    if (!name) return;
    try {
      setYaml(await text(`/api/v1/scenarios/${name}`));
    } catch (err) {
      setError(err);
    }
  };
  const upload = (ev: Event): void => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (file) void file.text().then(setYaml);
  };
  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    setError(null);
    try {
      const body: Record<string, unknown> = { scenario: yaml };
      if (reps.trim()) body.replications = Number(reps);
      started(await post<Job>("/api/v1/simulations", body));
      past.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section>
      <Title>{t("whatif.title")}</Title>
      <p>{t("whatif.intro")}</p>
      <ErrorBox error={scenarios.error} />
      <form id="whatif-form" onSubmit={submit}>
        <Field id="whatif-bundled" label={t("whatif.bundled")}>
          <select id="whatif-bundled" onChange={(e) => void pick((e.target as HTMLSelectElement).value)}>
            <option value="">{t("whatif.choose")}</option>
            {scenarios.data?.map((s) => <option key={s.name} value={s.name} translate={false}>{s.title || s.name}</option>)}
          </select>
        </Field>
        <Field id="whatif-file" label={t("whatif.upload")}>
          <input id="whatif-file" type="file" accept=".yaml,.yml,application/yaml,text/yaml" onChange={upload} />
        </Field>
        <Field id="whatif-yaml" label={t("whatif.yaml")}>
          <textarea id="whatif-yaml" rows={14} required translate={false} spellcheck={false} value={yaml} onInput={(e) => setYaml((e.target as HTMLTextAreaElement).value)} />
        </Field>
        <Field id="whatif-reps" label={t("whatif.replications")} hint={t("whatif.replications_hint")}>
          <input id="whatif-reps" type="number" min={2} value={reps} aria-describedby="whatif-reps-hint" onInput={(e) => setReps((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" disabled={!yaml.trim()}>{t("whatif.run")}</button>
      </form>
      <ErrorBox error={error} />
      <ErrorBox error={openError} />
      {current ? <CurrentJob id="whatif-current" job={current}>{() => <Comparison job={current} key={current.id} />}</CurrentJob> : null}
      <h2>{t("whatif.past")}</h2>
      {past.loading && !past.data ? <Loading /> : null}
      <ErrorBox error={past.error} />
      <JobList<Job> id="whatif-list" caption={t("whatif.past")} nameLabel={t("whatif.scenario")} name={(j) => j.scenario ?? j.id.slice(0, 8)}
        jobs={past.data} live={live} open={(id) => void open(id)} empty={t("whatif.none")} />
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/whatif", title: "whatif.title", component: WhatIf, role: "planner", group: "plan", order: 2 },
];
