// A forecast or what-if job as a page follows it: queued → running (progress) → done/failed,
// from the event stream's `job` events; the result is read once, when the job says it is over.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "../api";
import { on } from "../events";
import { fmt, t } from "../i18n";
import { DataTable, Raw } from "./ui";

export interface JobView<R> {
  id: string;
  status: string;
  progress?: number;
  result?: R | null;
  detail?: string;
  created_at?: string;
}

/** A job's state (the `states` labels, shared with bookings) and, while it runs, its progress. */
export function JobStatus({ status, progress }: { status: string; progress?: number }): JSX.Element {
  return (
    <span class="job-status">
      <span class={`pill s-${status}`} data-value={status}>{t(`states.${status}`)}</span>{" "}
      {status === "running" || status === "queued" ? (
        <progress max={1} value={progress ?? 0} aria-label={t("common.progress")}>{fmt.percent(progress ?? 0)}</progress>
      ) : null}
    </span>
  );
}

/** The job shown on the page (`open` one, `started` a new one), and every job's live status. */
export function useJob<J extends JobView<unknown>>(kind: "forecast" | "simulation", base: string, onOver?: () => void): {
  current: J | null;
  live: Record<string, { status: string; progress: number }>;
  error: unknown;
  open: (id: string) => Promise<void>;
  started: (job: J) => void;
} {
  const [current, setCurrent] = useState<J | null>(null);
  const [live, setLive] = useState<Record<string, { status: string; progress: number }>>({});
  const [error, setError] = useState<unknown>(null);
  const shown = useRef<string | null>(null);
  const open = async (id: string): Promise<void> => {
    setError(null);
    try {
      shown.current = id;
      setCurrent(await get<J>(`${base}/${id}`));
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => on("job", (e) => {
    if (e.kind !== kind) return;
    const id = String(e.id);
    const status = String(e.status);
    const progress = Number(e.progress ?? 0);
    setLive((m) => ({ ...m, [id]: { status, progress } }));
    if (shown.current !== id) return;
    if (status === "done" || status === "failed") {
      void open(id);
      onOver?.();
    } else setCurrent((c) => (c && c.id === id ? { ...c, status, progress } : c));
  }), []);
  const started = (job: J): void => {
    shown.current = job.id;
    setCurrent({ ...job, progress: 0 });
  };
  return { current, live, error, open, started };
}

/** The shown job: its status and progress, why it failed, or its result. */
export function CurrentJob<R>(props: { id: string; job: JobView<R>; children: (job: JobView<R>) => ComponentChildren }): JSX.Element {
  const { job } = props;
  return (
    <div id={props.id} data-job={job.id} data-status={job.status} aria-live="polite">
      <p><Raw>{job.id.slice(0, 8)}</Raw> <JobStatus status={job.status} progress={job.progress} /></p>
      {job.status === "failed" ? <p class="alert error" role="alert"><Raw>{job.detail ?? ""}</Raw></p> : null}
      {job.status === "done" && job.result ? props.children(job) : null}
    </div>
  );
}

/** A planner's past jobs of one kind: a name, when, the live status, and a button to open it
 * (the forecast and what-if pages' one list). */
export function JobList<J extends JobView<unknown>>(props: {
  id: string;
  caption: string;
  nameLabel: string;
  name: (job: J) => string;
  jobs: J[] | undefined;
  live: Record<string, { status: string; progress: number }>;
  open: (id: string) => void;
  empty: string;
}): JSX.Element | null {
  const { live } = props;
  return (
    <DataTable<J>
      id={props.id}
      caption={props.caption}
      rows={props.jobs}
      rowKey={(j) => j.id}
      rowAttrs={(j) => ({ "data-job": j.id })}
      empty={props.empty}
      columns={[
        { label: props.nameLabel, cell: (j) => <Raw>{props.name(j)}</Raw> },
        { label: t("common.created"), cell: (j) => (j.created_at ? fmt.dateTime(j.created_at) : "—") },
        {
          label: t("common.status"),
          cell: (j) => <JobStatus status={live[j.id]?.status ?? j.status} progress={live[j.id]?.progress ?? j.progress} />,
        },
        {
          label: t("common.open"),
          hideLabel: true,
          cell: (j) => <button type="button" class="secondary" onClick={() => props.open(j.id)}>{t("common.open")}</button>,
        },
      ]}
    />
  );
}
