// The resource timeline: one row per instrument the admin runs, every organisation's bookings
// on them coloured by state, and their closures (maintenance, blackouts) as shaded background,
// over a range of days in the site's zone. Bookings follow the event stream in place; a click
// (or the table under the timeline, for a keyboard) opens the booking.
import type { JSX } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { all, get } from "../api";
import { Timeline, type Item, type TimelineApi } from "../components/timeline";
import { Empty, ErrorBox, Field, Loading, Pill, Raw, Title, useAsync } from "../components/ui";
import { on } from "../events";
import { fmt, instantToSite, lang, siteTimeZone, siteToInstant, t } from "../i18n";
import type { RouteDef } from "../pages";
import { go } from "../router";
import { administered, type Instrument } from "./heatmap";

interface Booking { id: string; instrument: string; org: string; start: string; end: string; status: string }
interface Closure { id: number; instrument: string; start: string; end: string; kind: "maintenance" | "blackout"; reason: string }

/** Statuses the timeline draws: a cancelled booking no longer holds its instrument. */
const DRAWN = new Set(["confirmed", "delayed", "active", "completed", "no_show", "released"]);
const LEGEND = ["confirmed", "delayed", "active", "completed", "no_show", "released"];
const DAY = 24 * 3600_000;
const VIEW_DAYS = 2;
/** Table rows shown at first and added per "more" (the timeline draws them all). */
const TABLE_PAGE = 200;

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const value = (e: Event): string => (e.target as HTMLInputElement).value;

/** The day after a "YYYY-MM-DD" (the range's end is the end of its last day). */
function nextDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + DAY).toISOString().slice(0, 10);
}

function range(from: string, to: string): { start: string; end: string } | null {
  try {
    const start = siteToInstant(`${from}T00:00`);
    const end = siteToInstant(`${nextDay(to)}T00:00`);
    return Date.parse(end) > Date.parse(start) ? { start, end } : null;
  } catch {
    return null;
  }
}

/** Data (an organisation, an instrument's name) kept from translation, then a label. */
function raw(data: string, label?: string): HTMLElement {
  const out = document.createElement("span");
  const name = document.createElement("span");
  name.translate = false;
  name.textContent = data;
  out.append(name);
  if (label) out.append(` · ${label}`);
  return out;
}

function bookingItem(b: Booking): Item {
  return {
    id: b.id, group: b.instrument, start: b.start, end: b.end, className: `booking b-${b.status} bk-${b.id}`,
    content: raw(b.org, t(`states.${b.status}`)),
    title: `${t(`states.${b.status}`)} · ${fmt.dateTime(b.start)}–${fmt.time(b.end)}`,
    editable: false,
  };
}

function Resources(): JSX.Element {
  const today = useMemo(() => instantToSite(new Date()).slice(0, 10), []);
  const [from, setFrom] = useState(today);
  const [to, setTo] = useState(() => new Date(Date.parse(`${today}T00:00:00Z`) + 6 * DAY).toISOString().slice(0, 10));
  const [site, setSite] = useState("");
  const list = useAsync((signal) => all<Instrument>("/api/v1/instruments", { signal }), []);
  const mine = administered(list.data ?? []);
  const sites = [...new Set(mine.map((i) => i.site))].sort();
  const here = site || sites[0] || "";
  const shown = mine.filter((i) => i.site === here);
  const ids = shown.map((i) => i.id).join(",");
  const w = range(from, to);

  const loaded = useAsync(async (signal) => {
    if (!w || !shown.length) return { bookings: [] as Booking[], closures: [] as Closure[] };
    const wanted = new Set(shown.map((i) => i.id));
    const [bookings, closures] = await Promise.all([
      all<Booking>("/api/v1/bookings", { signal, query: { start: w.start, end: w.end, limit: 1000 } }),
      get<Closure[]>("/api/v1/closures", { signal, query: { site: here, start: w.start, end: w.end } }),
    ]);
    return {
      bookings: bookings.filter((b) => wanted.has(b.instrument)),
      closures: closures.filter((c) => wanted.has(c.instrument)),
    };
  }, [here, ids, w?.start, w?.end]);

  // the table and the timeline both follow the stream; the timeline in place, item by item
  const [live, setLive] = useState<Record<string, Booking>>({});
  useEffect(() => {
    const next: Record<string, Booking> = {};
    for (const b of loaded.data?.bookings ?? []) next[b.id] = b;
    setLive(next);
  }, [loaded.data]);
  const watch = useRef({ ids: new Set<string>(), w });
  watch.current = { ids: new Set(shown.map((i) => i.id)), w };
  useEffect(() => on("booking", (d) => {
    const { ids: rows, w: now } = watch.current;
    const b: Booking = {
      id: String(d.booking ?? ""), instrument: String(d.instrument ?? ""), org: String(d.org ?? ""),
      start: String(d.start ?? ""), end: String(d.end ?? ""), status: String(d.status ?? ""),
    };
    if (!b.id || !rows.has(b.instrument) || !now) return;
    const inside = Date.parse(b.start) < Date.parse(now.end) && Date.parse(b.end) > Date.parse(now.start);
    setLive((m) => {
      const { [b.id]: _, ...rest } = m;
      return inside ? { ...rest, [b.id]: b } : rest;
    });
  }), []);

  const rows = useMemo(() => shown.map((i) => ({ id: i.id, content: raw(i.name || i.id) })), [ids]);
  const items = useMemo<Item[]>(() => [
    ...(loaded.data?.closures ?? []).map((c) => ({
      id: `closure-${c.id}`, group: c.instrument, start: c.start, end: c.end, type: "background" as const,
      className: `closure ${c.kind}`, content: escapeHtml(t(`resources.${c.kind}`)), title: t(`resources.${c.kind}`),
    })),
    ...Object.values(live).filter((b) => DRAWN.has(b.status)).map(bookingItem),
  ], [loaded.data, live, lang.value]);
  const ready = (api: TimelineApi): void => {
    api.timeline.on("click", (p) => {
      if (p.item !== null && p.item !== undefined && !String(p.item).startsWith("closure-")) go(`/bookings/${p.item}`);
    });
  };
  // the view opens on the range's first two days (a week of a full site is thousands of items
  // to lay out at once); the whole range is loaded, to scroll or zoom out to (ctrl + wheel)
  const options = {
    start: w ? new Date(w.start) : undefined,
    end: w ? new Date(Math.min(Date.parse(w.end), Date.parse(w.start) + VIEW_DAYS * DAY)) : undefined,
    min: w ? new Date(w.start) : undefined,
    max: w ? new Date(w.end) : undefined,
    selectable: true,
  };
  const [rowsShown, setRowsShown] = useState(TABLE_PAGE);
  const table = Object.values(live).filter((b) => DRAWN.has(b.status)).sort((a, b) => a.start.localeCompare(b.start) || a.id.localeCompare(b.id));
  const closures = loaded.data?.closures ?? [];

  return (
    <section>
      <Title>{t("resources.title")}</Title>
      <p>{t("resources.intro")} {t("common.times_in_zone", { zone: siteTimeZone.value })}</p>
      <form class="filters" role="search" id="resources-filter" onSubmit={(e) => e.preventDefault()}>
        <Field id="resources-site" label={t("resources.site")}>
          <select id="resources-site" translate={false} value={here} onChange={(e) => setSite(value(e))}>
            {sites.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </Field>
        <Field id="resources-from" label={t("resources.from")}>
          <input id="resources-from" type="date" value={from} onChange={(e) => setFrom(value(e))} />
        </Field>
        <Field id="resources-to" label={t("resources.to")}>
          <input id="resources-to" type="date" value={to} min={from} onChange={(e) => setTo(value(e))} />
        </Field>
      </form>
      {!w ? <p class="alert error" role="alert">{t("resources.bad_range")}</p> : null}
      <ErrorBox error={list.error ?? loaded.error} />
      {(list.loading && !list.data) || loaded.loading ? <Loading /> : null}
      {list.data && !mine.length ? <Empty>{t("resources.none")}</Empty> : null}
      <ul class="legend row" id="resources-legend" aria-label={t("resources.legend")}>
        {LEGEND.map((s) => <li key={s}><span class={`swatch b-${s}`} aria-hidden="true" /> {t(`states.${s}`)}</li>)}
        <li><span class="swatch closure maintenance" aria-hidden="true" /> {t("resources.maintenance")}</li>
        <li><span class="swatch closure blackout" aria-hidden="true" /> {t("resources.blackout")}</li>
      </ul>
      {shown.length ? (
        <div class="scroll-x" tabIndex={0} role="group" aria-label={t("resources.timeline")}>
          <div class="scroll-x-inner">
            <Timeline rows={rows} items={items} options={options} label={t("resources.timeline")} onReady={ready} id="resources-timeline" />
          </div>
        </div>
      ) : null}
      <h2>{t("resources.bookings")}</h2>
      {!loaded.loading && !table.length ? <Empty>{t("resources.no_bookings")}</Empty> : null}
      {table.length ? (
        <div class="table-wrap" tabIndex={0} role="group" aria-label={t("resources.bookings")}>
          <table class="data" id="resources-bookings">
            <caption class="visually-hidden">{t("resources.bookings")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("resources.instrument")}</th>
                <th scope="col">{t("resources.org")}</th>
                <th scope="col">{t("resources.start")}</th>
                <th scope="col">{t("resources.end")}</th>
                <th scope="col">{t("resources.status")}</th>
              </tr>
            </thead>
            <tbody>
              {table.slice(0, rowsShown).map((b) => (
                <tr key={b.id} data-booking={b.id}>
                  <td><a href={`#/bookings/${b.id}`}><Raw>{b.instrument}</Raw></a></td>
                  <td><Raw>{b.org}</Raw></td>
                  <td>{fmt.dateTime(b.start)}</td>
                  <td>{fmt.dateTime(b.end)}</td>
                  <td><Pill ns="states" value={b.status} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {table.length > rowsShown ? (
        <p>
          <button type="button" class="secondary" id="resources-more" onClick={() => setRowsShown((n) => n + TABLE_PAGE)}>
            {t("common.more")}
          </button>{" "}
          {t("resources.shown", { shown: fmt.number(rowsShown), total: fmt.number(table.length) })}
        </p>
      ) : null}
      <h2>{t("resources.closures")}</h2>
      {!loaded.loading && !closures.length ? <Empty>{t("resources.no_closures")}</Empty> : null}
      {closures.length ? (
        <div class="table-wrap" tabIndex={0} role="group" aria-label={t("resources.closures")}>
          <table class="data" id="resources-closures">
            <caption class="visually-hidden">{t("resources.closures")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("resources.instrument")}</th>
                <th scope="col">{t("resources.kind")}</th>
                <th scope="col">{t("resources.start")}</th>
                <th scope="col">{t("resources.end")}</th>
                <th scope="col">{t("resources.reason")}</th>
              </tr>
            </thead>
            <tbody>
              {closures.map((c) => (
                <tr key={c.id} data-closure={c.id}>
                  <td><Raw>{c.instrument}</Raw></td>
                  <td>{t(`resources.${c.kind}`)}</td>
                  <td>{fmt.dateTime(c.start)}</td>
                  <td>{fmt.dateTime(c.end)}</td>
                  <td><Raw>{c.reason || "—"}</Raw></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/resources", title: "resources.title", component: Resources, role: "admin", group: "administer", order: 3 },
];
