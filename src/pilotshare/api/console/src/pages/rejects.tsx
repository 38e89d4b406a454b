// Rejected telemetry: the newest messages the ingest could not store, with why, and a replay of
// an instrument's kept rejects once the cause is fixed (registered, say). Nothing is lost.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { get, post } from "../api";
import { type Column, DataTable, ErrorBox, Field, Loading, Notice, Raw, Title, useAsync } from "../components/ui";
import { fmt, t } from "../i18n";
import type { RouteDef } from "../pages";

interface Reject {
  id: number; received_at: string; topic: string; reason: string; detail: string; payload: string; payload_size: number;
}
interface Replay {
  instrument: string; site: string; replayed: number; stored_samples: number; duplicate_samples: number;
  still_rejected: Record<string, number>;
}

/** The instrument a topic names: pilotshare/v1/<site>/<instrument>/… */
const instrumentOf = (topic: string): string => topic.split("/")[3] ?? "";

function Rejects(): JSX.Element {
  const rejects = useAsync((signal) => get<Reject[]>("/api/v1/rejects", { signal, query: { limit: 200 } }), []);
  const [instrument, setInstrument] = useState("");
  const [result, setResult] = useState<Replay | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const replay = async (id: string): Promise<void> => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      setResult(await post<Replay>("/api/v1/rejects/replay", { instrument: id }));
      rejects.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const columns: Column<Reject>[] = [
    { label: t("rejects.received"), cell: (r) => fmt.dateTime(r.received_at) },
    { label: t("rejects.topic"), cell: (r) => <Raw>{r.topic}</Raw> },
    { label: t("rejects.reason"), cell: (r) => <><Raw>{r.reason}</Raw><br /><small><Raw>{r.detail}</Raw></small></> },
    {
      label: t("rejects.payload"),
      cell: (r) => <><code translate={false}>{r.payload.slice(0, 120)}</code><br /><small>{t("rejects.bytes", { n: fmt.number(r.payload_size) })}</small></>,
    },
    {
      label: t("rejects.actions"), hideLabel: true,
      cell: (r) => (instrumentOf(r.topic) ? (
        <button type="button" class="secondary" disabled={busy} onClick={() => void replay(instrumentOf(r.topic))}>
          {t("rejects.replay")}
        </button>
      ) : null),
    },
  ];
  return (
    <section>
      <Title actions={<button type="button" class="secondary" onClick={rejects.reload}>{t("common.refresh")}</button>}>
        {t("rejects.title")}
      </Title>
      <p>{t("rejects.intro")}</p>
      <form class="filters" id="replay-form" onSubmit={(e) => { e.preventDefault(); if (instrument.trim()) void replay(instrument.trim()); }}>
        <Field id="replay-instrument" label={t("rejects.instrument")}>
          <input id="replay-instrument" value={instrument} required onInput={(e) => setInstrument((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" disabled={busy}>{t("rejects.replay")}</button>
      </form>
      <ErrorBox error={error} />
      {result ? (
        <Notice kind="ok">
          <span id="replay-result">
            {t("rejects.result", {
              replayed: fmt.number(result.replayed), stored: fmt.number(result.stored_samples),
              duplicate: fmt.number(result.duplicate_samples),
              kept: fmt.number(Object.values(result.still_rejected).reduce((a, b) => a + b, 0)),
            })}
          </span>
        </Notice>
      ) : null}
      <ErrorBox error={rejects.error} />
      {rejects.loading && !rejects.data ? <Loading /> : null}
      <DataTable id="rejects" caption={t("rejects.title")} rows={rejects.data} empty={t("rejects.none")}
        rowKey={(r) => r.id} rowAttrs={(r) => ({ "data-reject": r.id })} columns={columns} />
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/rejects", title: "rejects.title", component: Rejects, role: "admin", group: "administer", order: 6 },
];
