// Booking an instrument: find one by kind, capability or words, see its free slots on a
// timeline, and book by the form (an explicit slot, or any capable instrument with the scheduler
// choosing) or by double-clicking a free slot and dragging the draft into place.
import type { JSX } from "preact";
import { useMemo, useRef, useState } from "preact/hooks";
import { all, get, post } from "../api";
import { Timeline, type Item, type TimelineApi } from "../components/timeline";
import { Empty, ErrorBox, Field, Loading, Raw, Title, useAsync } from "../components/ui";
import { fmt, instantToSite, siteTimeZone, siteToInstant, t } from "../i18n";
import type { RouteDef } from "../pages";

export interface Instrument {
  id: string; name: string; kind: string; site: string; capabilities: string[];
  hourly_rate: string; model?: string | null; min_booking_s: number; max_booking_s: number;
}

interface Slot { instrument: string; start: string; end: string }
interface Booking { id: string; instrument: string; start: string; end: string; status: string }

const HOUR = 3600_000;
const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const value = (e: Event): string => (e.target as HTMLInputElement).value;

/** Whether an instrument matches the filters: kind exactly, capability and words as parts. */
function matches(i: Instrument, kind: string, capability: string, words: string): boolean {
  if (kind && i.kind !== kind) return false;
  if (capability && !i.capabilities.some((c) => c.toLowerCase().includes(capability.toLowerCase()))) return false;
  const hay = `${i.id} ${i.name} ${i.kind} ${i.model ?? ""} ${i.capabilities.join(" ")}`.toLowerCase();
  return words.toLowerCase().split(/\s+/).filter(Boolean).every((w) => hay.includes(w));
}

function Book(): JSX.Element {
  const [kind, setKind] = useState("");
  const [capability, setCapability] = useState("");
  const [words, setWords] = useState("");
  const now = useMemo(() => new Date(Math.ceil(Date.now() / HOUR) * HOUR), []);
  const [earliest, setEarliest] = useState(() => instantToSite(now));
  const [latest, setLatest] = useState(() => instantToSite(new Date(now.getTime() + 7 * 24 * HOUR)));
  const [minutes, setMinutes] = useState("60");
  const [instrument, setInstrument] = useState("");
  const [start, setStart] = useState(() => instantToSite(now));
  const [end, setEnd] = useState(() => instantToSite(new Date(now.getTime() + HOUR)));
  const [any, setAny] = useState(false);
  const [purpose, setPurpose] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<Booking | null>(null);
  const [draft, setDraft] = useState(false);
  const tl = useRef<TimelineApi | null>(null);

  const instruments = useAsync((signal) => all<Instrument>("/api/v1/instruments", { signal }), []);
  const found = (instruments.data ?? []).filter((i) => matches(i, kind, capability, words));
  const kinds = [...new Set((instruments.data ?? []).map((i) => i.kind))].sort();
  const shown = found.slice(0, 20);
  const duration = Math.max(1, Number(minutes) || 60);
  const window = (): { earliest: string; latest: string } | null => {
    try {
      return { earliest: siteToInstant(earliest), latest: siteToInstant(latest) };
    } catch {
      return null;
    }
  };
  const w = window();

  // free slots of the shown instruments (by kind when a kind is chosen: one question), and mine
  const slots = useAsync(async (signal) => {
    if (!w || !shown.length) return { free: [] as Slot[], mine: [] as Booking[] };
    const query = { duration: `PT${duration}M`, earliest: w.earliest, latest: w.latest, limit: 1000 };
    const ids = new Set(shown.map((i) => i.id));
    const free = kind
      ? await get<Slot[]>("/api/v1/availability", { signal, query: { ...query, kind } })
      : (await Promise.all(shown.map((i) => get<Slot[]>("/api/v1/availability", { signal, query: { ...query, instrument: i.id } })))).flat();
    const mine = await all<Booking>("/api/v1/bookings", {
      signal, query: { start: w.earliest, end: w.latest, status: "confirmed,active,delayed" },
    });
    return { free: free.filter((s) => ids.has(s.instrument)), mine: mine.filter((b) => ids.has(b.instrument)) };
  }, [shown.map((i) => i.id).join(","), kind, duration, w?.earliest, w?.latest, done?.id]);

  const rows = useMemo(() => shown.map((i) => ({ id: i.id, content: `<span translate="no">${escapeHtml(i.name)}</span>` })), [shown.map((i) => i.id).join(",")]);
  const items = useMemo<Item[]>(() => [
    ...(slots.data?.free ?? []).map((s, n) => ({
      id: `free-${n}`, group: s.instrument, start: s.start, end: s.end, type: "background" as const, className: "free",
    })),
    ...(slots.data?.mine ?? []).map((b) => ({
      id: b.id, group: b.instrument, start: b.start, end: b.end, className: "mine", content: t("book.mine"), editable: false,
    })),
  ], [slots.data]);

  // the timeline's handlers are bound once: they read the latest slots and length from here
  const latestFree = useRef<Slot[]>([]);
  latestFree.current = slots.data?.free ?? [];
  const latestDuration = useRef(duration);
  latestDuration.current = duration;
  const freeAt = (group: string, time: Date): Slot | undefined =>
    latestFree.current.find((s) => s.instrument === group && new Date(s.start) <= time && time < new Date(s.end));

  const place = (group: string, s: Date, e: Date): void => {
    setInstrument(group);
    setStart(instantToSite(s));
    setEnd(instantToSite(e));
    setAny(false);
  };

  const ready = (api: TimelineApi): void => {
    tl.current = api;
    api.timeline.on("doubleClick", (p) => {
      if (!p.group) return;
      const slot = freeAt(p.group, p.time);
      if (!slot) return;
      const s = new Date(Math.max(new Date(slot.start).getTime(), Math.floor(p.time.getTime() / 900_000) * 900_000));
      const e = new Date(Math.min(s.getTime() + latestDuration.current * 60_000, new Date(slot.end).getTime()));
      api.items.remove("draft");
      api.items.add({ id: "draft", group: p.group, start: s, end: e, className: "draft", content: t("book.draft"), editable: { updateTime: true, updateGroup: true, remove: true } });
      setDraft(true);
      place(p.group, s, e);
    });
  };

  const submit = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const body = any
        ? { kind: kind || shown.find((i) => i.id === instrument)?.kind, capabilities: capability ? [capability] : [],
            duration: `PT${duration}M`, earliest: w?.earliest, latest: w?.latest, purpose }
        : { instrument, start: siteToInstant(start), end: siteToInstant(end), purpose };
      const b = await post<Booking>("/api/v1/bookings", body);
      setDone(b);
      tl.current?.items.remove("draft");
      setDraft(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const options = {
    editable: { updateTime: true, updateGroup: true, remove: true, add: false },
    snap: (date: Date) => new Date(Math.round(date.getTime() / 900_000) * 900_000),
    onMove: (item: Item, callback: (i: Item | null) => void) => {
      if (item.id === "draft" && item.group && item.end) {
        place(item.group, new Date(item.start), new Date(item.end));
        callback(item);
      } else callback(null);
    },
    onRemove: (item: Item, callback: (i: Item | null) => void) => {
      if (item.id === "draft") setDraft(false);
      callback(item.id === "draft" ? item : null);
    },
    start: w ? new Date(w.earliest) : undefined,
    end: w ? new Date(new Date(w.earliest).getTime() + 2 * 24 * HOUR) : undefined,
  };

  return (
    <section>
      <Title>{t("book.title")}</Title>
      <p>{t("common.times_in_zone", { zone: siteTimeZone.value })}</p>
      <form class="filters" role="search" id="book-find" onSubmit={(e) => e.preventDefault()}>
        <Field id="book-kind" label={t("book.kind")}>
          <select id="book-kind" value={kind} onChange={(e) => setKind(value(e))}>
            <option value="">{t("book.any_kind")}</option>
            {kinds.map((k) => <option key={k} value={k} translate={false}>{k}</option>)}
          </select>
        </Field>
        <Field id="book-capability" label={t("book.capability")}>
          <input id="book-capability" value={capability} onInput={(e) => setCapability(value(e))} />
        </Field>
        <Field id="book-words" label={t("book.words")}>
          <input id="book-words" type="search" value={words} onInput={(e) => setWords(value(e))} />
        </Field>
        <Field id="book-earliest" label={t("book.earliest")}>
          <input id="book-earliest" type="datetime-local" value={earliest} onChange={(e) => setEarliest(value(e))} />
        </Field>
        <Field id="book-latest" label={t("book.latest")}>
          <input id="book-latest" type="datetime-local" value={latest} onChange={(e) => setLatest(value(e))} />
        </Field>
      </form>
      <ErrorBox error={instruments.error} />
      {instruments.loading && !instruments.data ? <Loading /> : null}
      {instruments.data && !found.length ? <Empty>{t("book.none")}</Empty> : null}
      {found.length ? (
        <div class="table-wrap">
          <table class="data" id="book-instruments">
            <caption class="visually-hidden">{t("book.instruments")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("book.instrument")}</th>
                <th scope="col">{t("book.kind")}</th>
                <th scope="col">{t("book.capabilities")}</th>
                <th scope="col">{t("book.rate")}</th>
                <th scope="col"><span class="visually-hidden">{t("book.choose")}</span></th>
              </tr>
            </thead>
            <tbody>
              {found.map((i) => (
                <tr key={i.id} data-instrument={i.id}>
                  <td><Raw>{i.name}</Raw><br /><small><Raw>{i.id}</Raw></small></td>
                  <td><Raw>{i.kind}</Raw></td>
                  <td><Raw>{i.capabilities.join(", ")}</Raw></td>
                  <td>{t("book.per_hour", { amount: fmt.money(i.hourly_rate) })}</td>
                  <td><button type="button" onClick={() => { setInstrument(i.id); setAny(false); }}>{t("book.choose")}</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <h2>{t("book.free_slots")}</h2>
      <p class="hint">{t("book.drag_hint")}</p>
      <ErrorBox error={slots.error} />
      {shown.length ? <Timeline rows={rows} items={items} options={options} label={t("book.free_slots")} onReady={ready} id="book-timeline" /> : null}
      {draft ? (
        <p class="actions">
          <button type="button" id="book-draft-confirm" disabled={busy} onClick={() => void submit()}>{t("book.confirm_draft")}</button>
          <button type="button" onClick={() => { tl.current?.items.remove("draft"); setDraft(false); }}>{t("common.cancel")}</button>
        </p>
      ) : null}
      <h2>{t("book.form")}</h2>
      <form id="book-form" class="narrow" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        <div class="field">
          <label><input id="book-any" type="checkbox" checked={any} onChange={(e) => setAny((e.target as HTMLInputElement).checked)} /> {t("book.any")}</label>
        </div>
        <Field id="book-instrument" label={t("book.instrument")}>
          <select id="book-instrument" value={instrument} disabled={any} onChange={(e) => setInstrument(value(e))}>
            <option value="">{t("book.pick")}</option>
            {found.map((i) => <option key={i.id} value={i.id} translate={false}>{i.name} ({i.id})</option>)}
          </select>
        </Field>
        <Field id="book-start" label={t("book.start")}>
          <input id="book-start" type="datetime-local" value={start} disabled={any} onChange={(e) => setStart(value(e))} />
        </Field>
        <Field id="book-end" label={t("book.end")}>
          <input id="book-end" type="datetime-local" value={end} disabled={any} onChange={(e) => setEnd(value(e))} />
        </Field>
        <Field id="book-duration" label={t("book.duration")} hint={t("book.duration_hint")}>
          <input id="book-duration" type="number" min="15" step="15" value={minutes} aria-describedby="book-duration-hint" onInput={(e) => setMinutes(value(e))} />
        </Field>
        <Field id="book-purpose" label={t("book.purpose")}>
          <input id="book-purpose" value={purpose} onInput={(e) => setPurpose(value(e))} />
        </Field>
        <button type="submit" disabled={busy}>{t("book.submit")}</button>
      </form>
      <ErrorBox error={error} />
      {done ? (
        <p class="alert ok" role="status" id="book-notice" data-booking={done.id}>
          {t("book.booked", { start: fmt.dateTime(done.start), end: fmt.time(done.end) })} <Raw>{done.instrument}</Raw>{" "}
          <a href={`#/bookings/${done.id}`}>{t("book.open")} <Raw>{done.id}</Raw></a>
        </p>
      ) : null}
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/book", title: "book.title", component: Book, role: "operator", group: "operate", order: 1 },
];
