// The organisation's own bookings, their state live from the event stream, and one booking's
// detail: its interlock, the measured use, and moving, extending, cancelling and checking in.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { del, get, page, patch, post } from "../api";
import { on } from "../events";
import { Empty, ErrorBox, Field, Loading, Pill, Raw, Title, useAsync } from "../components/ui";
import { fmt, instantToSite, siteTimeZone, siteToInstant, t } from "../i18n";
import type { RouteDef } from "../pages";
import { atLeast } from "../session";

export interface Booking {
  id: string; instrument: string; org: string; start: string; end: string; status: string;
  purpose: string; flags: string[]; checked_in_at: string | null; service_item: string | null;
  interlock: { desired: string | null; reported: string | null; seq: number | null };
}

interface Usage { booked_seconds: number; used_seconds: number; running_seconds: number; status: string }

/** Keep `list`'s bookings in step with the stream's `booking` events. */
function useLive<T extends { id: string }>(update: (f: (b: T) => T) => void): void {
  useEffect(() => on("booking", (d) => {
    const id = String(d.booking ?? "");
    update((b) => (b.id === id ? { ...b, status: String(d.status), start: String(d.start), end: String(d.end) } : b));
  }), []);
}

function Bookings(): JSX.Element {
  const [rows, setRows] = useState<Booking[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const load = async (path: string, more: boolean): Promise<void> => {
    setLoading(true);
    setError(null);
    try {
      const p = await page<Booking>(path);
      setRows((r) => (more ? [...r, ...p.items] : p.items));
      setNext(p.next);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => void load("/api/v1/bookings?order=desc&limit=50", false), []);
  useLive<Booking>((f) => setRows((r) => r.map(f)));
  return (
    <section>
      <Title actions={atLeast("operator") ? <a class="button" href="#/book">{t("book.title")}</a> : null}>{t("bookings.title")}</Title>
      <p>{t("common.times_in_zone", { zone: siteTimeZone.value })}</p>
      <ErrorBox error={error} />
      {loading && !rows.length ? <Loading /> : null}
      {!loading && !rows.length && !error ? <Empty>{t("bookings.none")}</Empty> : null}
      {rows.length ? (
        <div class="table-wrap">
          <table class="data" id="bookings">
            <caption class="visually-hidden">{t("bookings.title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("bookings.instrument")}</th>
                <th scope="col">{t("bookings.start")}</th>
                <th scope="col">{t("bookings.end")}</th>
                <th scope="col">{t("bookings.status")}</th>
                <th scope="col">{t("bookings.purpose")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((b) => (
                <tr key={b.id} data-booking={b.id}>
                  <td><a href={`#/bookings/${b.id}`}><Raw>{b.instrument}</Raw></a></td>
                  <td>{fmt.dateTime(b.start)}</td>
                  <td>{fmt.dateTime(b.end)}</td>
                  <td><Pill ns="states" value={b.status} /></td>
                  <td><Raw>{b.purpose}</Raw></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {next ? <p><button type="button" id="bookings-more" disabled={loading} onClick={() => void load(next, true)}>{t("common.more")}</button></p> : null}
    </section>
  );
}

function Detail({ params }: { params: Record<string, string> }): JSX.Element {
  const id = params.id;
  const [booking, setBooking] = useState<Booking | null>(null);
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState("");
  const [busy, setBusy] = useState(false);
  const loaded = useAsync((signal) => get<Booking>(`/api/v1/bookings/${encodeURIComponent(id)}`, { signal }), [id]);
  const usage = useAsync((signal) => get<Usage>(`/api/v1/bookings/${encodeURIComponent(id)}/usage`, { signal }), [id, booking?.status]);
  useEffect(() => {
    if (!loaded.data) return;
    setBooking(loaded.data);
    setStart(instantToSite(loaded.data.start));
    setEnd(instantToSite(loaded.data.end));
  }, [loaded.data]);
  useLive<Booking>((f) => setBooking((b) => (b ? f(b) : b)));

  const act = async (what: string, fn: () => Promise<Booking | undefined>): Promise<void> => {
    setBusy(true);
    setError(null);
    setNotice("");
    try {
      const b = await fn();
      if (b) {
        setBooking(b);
        setStart(instantToSite(b.start));
        setEnd(instantToSite(b.end));
      }
      setNotice(t(`bookings.done_${what}`));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const path = `/api/v1/bookings/${encodeURIComponent(id)}`;
  const b = booking;
  const open = b && ["confirmed", "delayed", "active"].includes(b.status);
  const operator = atLeast("operator");
  return (
    <section>
      <Title>{t("bookings.detail")}</Title>
      <p><a href="#/bookings">{t("bookings.back")}</a></p>
      <ErrorBox error={loaded.error} />
      {loaded.loading && !b ? <Loading /> : null}
      {b ? (
        <>
          <dl class="facts" id="booking" data-booking={b.id}>
            <dt>{t("bookings.id")}</dt><dd><Raw>{b.id}</Raw></dd>
            <dt>{t("bookings.instrument")}</dt><dd><Raw>{b.instrument}</Raw></dd>
            <dt>{t("bookings.status")}</dt><dd id="booking-status"><Pill ns="states" value={b.status} /></dd>
            <dt>{t("bookings.start")}</dt><dd>{fmt.dateTime(b.start)}</dd>
            <dt>{t("bookings.end")}</dt><dd>{fmt.dateTime(b.end)}</dd>
            <dt>{t("bookings.purpose")}</dt><dd><Raw>{b.purpose || "—"}</Raw></dd>
            <dt>{t("bookings.checked_in")}</dt><dd>{b.checked_in_at ? fmt.dateTime(b.checked_in_at) : t("common.no")}</dd>
            <dt>{t("bookings.interlock")}</dt>
            <dd id="booking-interlock">
              {t("bookings.interlock_desired")}: {t(`bookings.lock_${b.interlock.desired ?? "none"}`)} · {t("bookings.interlock_reported")}: {t(`bookings.lock_${b.interlock.reported ?? "none"}`)}
              {b.interlock.seq !== null ? <> · <Raw>#{b.interlock.seq}</Raw></> : null}
            </dd>
          </dl>
          <h2>{t("bookings.usage")}</h2>
          <ErrorBox error={usage.error} />
          {usage.data ? (
            <dl class="facts" id="booking-usage">
              <dt>{t("bookings.booked")}</dt><dd>{fmt.duration(usage.data.booked_seconds)}</dd>
              <dt>{t("bookings.used")}</dt><dd>{fmt.duration(usage.data.used_seconds)}</dd>
              <dt>{t("bookings.running")}</dt><dd>{fmt.duration(usage.data.running_seconds)}</dd>
            </dl>
          ) : null}
          {operator && open ? (
            <>
              <h2>{t("bookings.change")}</h2>
              <form id="booking-move" class="narrow" onSubmit={(e) => {
                e.preventDefault();
                void act("moved", () => patch<Booking>(path, { start: siteToInstant(start), end: siteToInstant(end) }));
              }}>
                <Field id="move-start" label={t("bookings.start")}>
                  <input id="move-start" type="datetime-local" value={start} onChange={(e) => setStart((e.target as HTMLInputElement).value)} />
                </Field>
                <Field id="move-end" label={t("bookings.end")}>
                  <input id="move-end" type="datetime-local" value={end} onChange={(e) => setEnd((e.target as HTMLInputElement).value)} />
                </Field>
                <button type="submit" disabled={busy}>{t("bookings.move")}</button>
              </form>
              <p class="actions">
                <button type="button" id="booking-check-in" disabled={busy || b.status === "active"}
                  onClick={() => void act("checked_in", () => post<Booking>(`${path}/check-in`))}>{t("bookings.check_in")}</button>
                <button type="button" id="booking-cancel" class="danger" disabled={busy}
                  onClick={() => void act("cancelled", async () => {
                    await del(path);
                    return get<Booking>(path);
                  })}>{t("bookings.cancel")}</button>
              </p>
            </>
          ) : null}
          <ErrorBox error={error} />
          {notice ? <p class="alert ok" role="status">{notice}</p> : null}
        </>
      ) : null}
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/bookings", title: "bookings.title", component: Bookings, role: "viewer", group: "operate", order: 2 },
  { path: "/bookings/:id", title: "bookings.detail", component: Detail, role: "viewer" },
];
