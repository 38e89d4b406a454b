// The live board: a card per instrument in service, its state and utilisation kept current by
// the event stream (a `snapshot` per instrument when the stream opens, then a `twin` per
// change). The first paint reads each twin once, so a board opened mid-stream is not blank.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get } from "../api";
import { Empty, ErrorBox, Loading, Raw, Title, useAsync } from "../components/ui";
import { on } from "../events";
import { fmt, t } from "../i18n";
import type { RouteDef } from "../pages";

export interface Instrument {
  id: string; name: string; kind: string; site: string; site_timezone: string;
  hourly_rate: string; owner_org: string | null; capabilities: string[];
}

interface Live {
  online: boolean; state: string; utilization: number | null; since: string | null; last_seen: string | null;
}

interface TwinAnswer {
  online: boolean; state: string | null; since: string | null; last_seen: string | null;
  utilization: { "1h": number | null; "24h": number | null } | null;
}

/** The state a card shows: an instrument that is not online is offline, whatever it last said. */
const shown = (l: Live | undefined): string => (!l ? "offline" : l.online ? l.state || "idle" : "offline");

function fromEvent(d: Record<string, unknown>): Live {
  return {
    online: Boolean(d.online),
    state: typeof d.state === "string" ? d.state : "idle",
    utilization: typeof d.utilization === "number" ? d.utilization : null,
    since: typeof d.since === "string" ? d.since : null,
    last_seen: typeof d.last_seen === "string" ? d.last_seen : null,
  };
}

function Board(): JSX.Element {
  const list = useAsync((signal) => get<Instrument[]>("/api/v1/instruments", { signal }), []);
  const [live, setLive] = useState<Record<string, Live>>({});
  const [, tick] = useState(0);
  useEffect(() => {
    const apply = (d: Record<string, unknown>): void => {
      const id = String(d.instrument ?? "");
      if (id) setLive((m) => ({ ...m, [id]: fromEvent(d) }));
    };
    const offs = [on("snapshot", apply), on("twin", apply)];
    const timer = setInterval(() => tick((n) => n + 1), 30000); // "since" labels age
    return () => { offs.forEach((f) => f()); clearInterval(timer); };
  }, []);
  useEffect(() => {
    if (!list.data) return;
    const c = new AbortController();
    for (const i of list.data) {
      get<TwinAnswer>(`/api/v1/instruments/${encodeURIComponent(i.id)}/twin`, { signal: c.signal }).then(
        (tw) => setLive((m) => (m[i.id] ? m : {
          ...m,
          [i.id]: {
            online: tw.online, state: tw.state ?? "idle", utilization: tw.utilization?.["1h"] ?? null,
            since: tw.since, last_seen: tw.last_seen,
          },
        })),
        () => undefined,
      );
    }
    return () => c.abort();
  }, [list.data]);
  const instruments = list.data ?? [];
  const states = instruments.map((i) => shown(live[i.id]));
  const count = (s: string): number => states.filter((x) => x === s).length;
  return (
    <section>
      <Title>{t("board.title")}</Title>
      <p>{t("board.intro")}</p>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && !instruments.length ? <Empty>{t("board.none")}</Empty> : null}
      {instruments.length ? (
        <dl class="row summary" id="summary">
          <div><dt>{t("board.total")}</dt><dd id="n-total">{fmt.number(instruments.length)}</dd></div>
          <div><dt>{t("board.online")}</dt><dd id="n-online">{fmt.number(instruments.length - count("offline"))}</dd></div>
          <div><dt>{t("board.running")}</dt><dd id="n-running">{fmt.number(count("running"))}</dd></div>
          <div><dt>{t("board.down")}</dt><dd id="n-down">{fmt.number(count("down"))}</dd></div>
        </dl>
      ) : null}
      <div class="cards" id="board">
        {instruments.map((i) => {
          const l = live[i.id];
          const state = shown(l);
          const util = l?.utilization ?? null;
          return (
            <article class="card" key={i.id} data-instrument={i.id} data-state={state} data-online={String(Boolean(l?.online))}>
              <h2 class="name"><Raw>{i.name || i.id}</Raw></h2>
              <p class="meta"><Raw>{i.id}</Raw> · <Raw>{i.kind}</Raw> · <Raw>{i.site}</Raw></p>
              <p><span class={`pill s-${state}`} data-value={state}>{t(`board.state_${state}`)}</span></p>
              <div
                class="bar" role="meter" aria-valuemin={0} aria-valuemax={100}
                aria-valuenow={util === null ? 0 : Math.round(util * 100)} aria-label={t("board.utilisation")}
              >
                <div class="fill" style={{ width: util === null ? "0" : `${Math.round(util * 100)}%`, height: ".4rem", background: "var(--accent)" }} />
              </div>
              <p class="meta">
                {t("board.utilisation")}: <span class="util">{util === null ? "–" : fmt.percent(util)}</span>
              </p>
              <p class="meta">
                {l?.since ? <span class="since">{t("board.since", { when: fmt.dateTime(l.since) })}</span> : null}
                {l?.since ? " · " : null}
                <span class="seen">{l?.last_seen ? t("board.seen", { when: fmt.dateTime(l.last_seen) }) : t("board.never_seen")}</span>
              </p>
            </article>
          );
        })}
      </div>
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/board", title: "board.title", component: Board, role: "viewer", group: "administer", order: 1 },
];
