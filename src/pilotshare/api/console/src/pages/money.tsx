// What the organisation owes: a month's statement (and its CSV), the vouchers left, and a
// calendar feed of its bookings to subscribe to.
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { download, get, post } from "../api";
import { Empty, ErrorBox, Field, Loading, Pill, Raw, Title, useAsync } from "../components/ui";
import { fmt, instantToSite, t } from "../i18n";
import type { RouteDef } from "../pages";
import { session } from "../session";

interface Line {
  booking: string; instrument: string; start: string; end: string; status: string;
  hours: string; rate: string; amount: string; vouchers: string; due: string; final: boolean;
}
interface Statement { org: string; month: string; lines: Line[]; total: string; vouchers: string; due: string; voucher_balance: string; final: boolean }
interface Voucher { id: number; amount: string; note: string; programme: string; status: string; remaining: string; valid_until: string | null }
interface Feed { id: string; url: string }

function Money(): JSX.Element {
  const org = session.value?.me.org.id ?? "";
  const [month, setMonth] = useState(() => instantToSite(new Date()).slice(0, 7));
  const [error, setError] = useState<unknown>(null);
  const [feed, setFeed] = useState<Feed | null>(null);
  const path = `/api/v1/statements/${encodeURIComponent(org)}/${month}`;
  const statement = useAsync((signal) => get<Statement>(path, { signal }), [path]);
  const vouchers = useAsync((signal) => get<Voucher[]>("/api/v1/vouchers", { signal }), []);
  const s = statement.data;
  return (
    <section>
      <Title>{t("money.title")}</Title>
      <form class="filters" id="money-form" onSubmit={(e) => e.preventDefault()}>
        <Field id="money-month" label={t("money.month")}>
          <input id="money-month" type="month" value={month} onChange={(e) => setMonth((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="button" id="money-csv" onClick={() => {
          setError(null);
          download(`${path}?format=csv`, `statement-${org}-${month}.csv`).catch(setError);
        }}>{t("common.download_csv")}</button>
      </form>
      <ErrorBox error={statement.error ?? error} />
      {statement.loading && !s ? <Loading /> : null}
      {s ? (
        <>
          <p id="money-totals">
            {t("money.total")}: {fmt.money(s.total)} · {t("money.vouchers_paid")}: {fmt.money(s.vouchers)} · {t("money.due")}: <strong>{fmt.money(s.due)}</strong>
            {s.final ? null : <> · {t("money.not_final")}</>}
          </p>
          {s.lines.length ? (
            <div class="table-wrap">
              <table class="data" id="money-lines">
                <caption class="visually-hidden">{t("money.lines")}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t("money.instrument")}</th>
                    <th scope="col">{t("money.when")}</th>
                    <th scope="col">{t("money.status")}</th>
                    <th scope="col">{t("money.hours")}</th>
                    <th scope="col">{t("money.amount")}</th>
                    <th scope="col">{t("money.due")}</th>
                  </tr>
                </thead>
                <tbody>
                  {s.lines.map((l) => (
                    <tr key={l.booking} data-booking={l.booking}>
                      <td><a href={`#/bookings/${l.booking}`}><Raw>{l.instrument}</Raw></a></td>
                      <td>{fmt.dateTime(l.start)}–{fmt.time(l.end)}</td>
                      <td><Pill ns="states" value={l.status} /></td>
                      <td>{fmt.number(Number(l.hours), 2)}</td>
                      <td>{fmt.money(l.amount)}</td>
                      <td>{fmt.money(l.due)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : <Empty>{t("money.no_lines")}</Empty>}
        </>
      ) : null}
      <h2>{t("money.voucher_title")}</h2>
      <ErrorBox error={vouchers.error} />
      {vouchers.data && !vouchers.data.length ? <Empty>{t("money.no_vouchers")}</Empty> : null}
      {vouchers.data?.length ? (
        <div class="table-wrap">
          <table class="data" id="money-vouchers">
            <caption class="visually-hidden">{t("money.voucher_title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("money.voucher")}</th>
                <th scope="col">{t("money.amount")}</th>
                <th scope="col">{t("money.remaining")}</th>
                <th scope="col">{t("money.valid_until")}</th>
              </tr>
            </thead>
            <tbody>
              {vouchers.data.map((v) => (
                <tr key={v.id}>
                  <td><Raw>#{v.id} {v.note}</Raw></td>
                  <td>{fmt.money(v.amount)}</td>
                  <td>{fmt.money(v.remaining)}</td>
                  <td>{v.valid_until ? fmt.date(v.valid_until) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <h2>{t("money.calendar")}</h2>
      <p>{t("money.calendar_intro")}</p>
      <button type="button" id="money-feed" onClick={() => {
        setError(null);
        post<Feed>("/api/v1/calendars", { org }).then(setFeed, setError);
      }}>{t("money.calendar_create")}</button>
      {feed ? (
        <Field id="money-feed-url" label={t("money.calendar_url")} hint={t("money.calendar_once")}>
          <input id="money-feed-url" readOnly translate={false} aria-describedby="money-feed-url-hint"
            value={new URL(feed.url, location.origin).href} onFocus={(e) => (e.target as HTMLInputElement).select()} />
        </Field>
      ) : null}
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/money", title: "money.title", component: Money, role: "viewer", group: "operate", order: 3 },
];
