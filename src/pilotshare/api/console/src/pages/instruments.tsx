// Instrument settings for the platform that owns them (the network operator: every one): the
// list, and one instrument's name, rate, opening hours, booking rules and capabilities (PATCH),
// its retirement, closures and qualifications. The API decides who may change what; its refusal
// is shown translated from its reason code.
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { del, get, patch } from "../api";
import { type Column, DataTable, ErrorBox, Field, Loading, Notice, Pill, Raw, Title, useAsync } from "../components/ui";
import { fmt, siteTimeZone, t } from "../i18n";
import type { RouteDef } from "../pages";
import { session } from "../session";
import { Closures, Qualifications } from "./instruments-access";

export interface Instrument {
  id: string; site: string; name: string; kind: string; capabilities: string[]; hourly_rate: number;
  owner_org: string | null; model: string | null; public: boolean; site_timezone: string; retired_at: string | null;
  operating_hours: Record<string, unknown> | null; setup_buffer_s: number; min_booking_s: number; max_booking_s: number;
  min_notice_s: number; max_horizon_s: number; billing: "booked" | "measured"; requires_qualification: boolean;
}

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

const status = (i: Instrument): JSX.Element => <Pill ns="instruments" value={i.retired_at ? "status_retired" : "status_active"} />;

function InstrumentList(): JSX.Element {
  const me = session.value?.me;
  const list = useAsync((signal) => get<Instrument[]>("/api/v1/instruments", { signal, query: { include_retired: true } }), []);
  const mine = list.data?.filter((i) => me?.network_admin || i.owner_org === me?.org.id);
  const columns: Column<Instrument>[] = [
    { label: t("instruments.id"), cell: (i) => <a href={`#/instruments/${encodeURIComponent(i.id)}`}><Raw>{i.id}</Raw></a> },
    { label: t("instruments.name"), cell: (i) => <Raw>{i.name}</Raw> },
    { label: t("instruments.kind"), cell: (i) => <Raw>{i.kind}</Raw> },
    { label: t("instruments.site"), cell: (i) => <Raw>{i.site}</Raw> },
    ...(me?.network_admin ? [{ label: t("instruments.owner"), cell: (i: Instrument) => <Raw>{i.owner_org ?? "—"}</Raw> }] : []),
    { label: t("instruments.status"), cell: status },
    { label: t("instruments.rate"), num: true, cell: (i) => fmt.money(i.hourly_rate) },
  ];
  return (
    <section>
      <Title>{t("instruments.title")}</Title>
      <p>{t(me?.network_admin ? "instruments.intro_network" : "instruments.intro")}</p>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      <DataTable id="instruments" caption={t("instruments.list")} rows={mine} empty={t("instruments.none")} columns={columns}
        rowKey={(i) => i.id} rowAttrs={(i) => ({ "data-instrument": i.id, "data-retired": i.retired_at ? "true" : "false" })} />
    </section>
  );
}

/** "08:00-18:00, 19:00-22:00" ↔ [["08:00","18:00"],["19:00","22:00"]] */
const showSpans = (spans: unknown): string =>
  Array.isArray(spans) ? spans.map((s) => (Array.isArray(s) ? `${s[0]}-${s[1]}` : "")).join(", ") : "";
function parseSpans(text: string): string[][] | null {
  const out: string[][] = [];
  for (const part of text.split(/[,，]/).map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d{1,2}:\d{2})\s*[-–~]\s*(\d{1,2}:\d{2})$/.exec(part);
    if (!m) return null;
    out.push([m[1].padStart(5, "0"), m[2].padStart(5, "0")]);
  }
  return out;
}

interface Draft {
  name: string; rate: string; billing: string; capabilities: string; gated: boolean; public: boolean;
  alwaysOpen: boolean; days: Record<string, string>;
  min_booking: string; max_booking: string; setup_buffer: string; min_notice: string; max_horizon: string;
}

const minutes = (s: number): string => String(Math.round((s / 60) * 100) / 100);
function draftOf(i: Instrument): Draft {
  const hours = i.operating_hours ?? {};
  return {
    name: i.name, rate: String(i.hourly_rate), billing: i.billing, capabilities: i.capabilities.join(", "),
    gated: i.requires_qualification, public: i.public, alwaysOpen: i.operating_hours === null,
    days: Object.fromEntries(DAYS.map((d) => [d, showSpans(hours[d])])),
    min_booking: minutes(i.min_booking_s), max_booking: minutes(i.max_booking_s), setup_buffer: minutes(i.setup_buffer_s),
    min_notice: minutes(i.min_notice_s), max_horizon: String(Math.round((i.max_horizon_s / 86400) * 100) / 100),
  };
}

/** The PATCH body of the fields the draft changes; a sentence when the hours do not parse. */
function changes(i: Instrument, d: Draft): Record<string, unknown> | string {
  const body: Record<string, unknown> = {};
  const set = (key: string, value: unknown, was: unknown): void => {
    if (JSON.stringify(value) !== JSON.stringify(was)) body[key] = value;
  };
  set("name", d.name.trim(), i.name);
  set("hourly_rate", Number(d.rate), Number(i.hourly_rate));
  set("billing", d.billing, i.billing);
  set("capabilities", d.capabilities.split(/[,，]/).map((c) => c.trim()).filter(Boolean), i.capabilities);
  set("requires_qualification", d.gated, i.requires_qualification);
  set("public", d.public, i.public);
  const sec = (v: string, scale: number): number => Math.round(Number(v) * scale);
  set("min_booking_s", sec(d.min_booking, 60), i.min_booking_s);
  set("max_booking_s", sec(d.max_booking, 60), i.max_booking_s);
  set("setup_buffer_s", sec(d.setup_buffer, 60), i.setup_buffer_s);
  set("min_notice_s", sec(d.min_notice, 60), i.min_notice_s);
  set("max_horizon_s", sec(d.max_horizon, 86400), i.max_horizon_s);
  if (d.alwaysOpen) set("operating_hours", null, i.operating_hours);
  else {
    const hours: Record<string, unknown> = {};
    for (const day of DAYS) {
      const spans = parseSpans(d.days[day]);
      if (!spans) return t("instruments.bad_hours", { day: t(`instruments.day_${day}`) });
      if (spans.length) hours[day] = spans;
    }
    const exceptions = i.operating_hours?.exceptions;
    if (exceptions) hours.exceptions = exceptions;
    set("operating_hours", hours, i.operating_hours);
  }
  return body;
}

function Settings({ inst, saved }: { inst: Instrument; saved: (i: Instrument) => void }): JSX.Element {
  const [d, setD] = useState<Draft>(draftOf(inst));
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => setD(draftOf(inst)), [inst]);
  const input = (key: keyof Draft) => (e: Event): void => setD({ ...d, [key]: (e.target as HTMLInputElement).value });
  const check = (key: keyof Draft) => (e: Event): void => setD({ ...d, [key]: (e.target as HTMLInputElement).checked });
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setOk(false);
    const body = changes(inst, d);
    if (typeof body === "string") return setError(new Error(body));
    setBusy(true);
    try {
      saved(await patch<Instrument>(`/api/v1/instruments/${encodeURIComponent(inst.id)}`, body));
      setOk(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const num = (key: keyof Draft, label: string, step = "any"): JSX.Element => (
    <Field id={`inst-${key}`} label={label}>
      <input id={`inst-${key}`} type="number" min="0" step={step} required value={d[key] as string} onInput={input(key)} />
    </Field>
  );
  const exceptions = Object.keys((inst.operating_hours?.exceptions as Record<string, unknown> | undefined) ?? {}).length;
  return (
    <form id="inst-form" onSubmit={(e) => void submit(e)}>
      <h2>{t("instruments.settings")}</h2>
      <div class="row">
        <Field id="inst-name" label={t("instruments.name")}>
          <input id="inst-name" required maxLength={200} value={d.name} onInput={input("name")} />
        </Field>
        <Field id="inst-rate" label={t("instruments.rate_cny")} hint={t("instruments.rate_hint", { rate: fmt.money(inst.hourly_rate) })}>
          <input id="inst-rate" type="number" min="0" step="0.01" required value={d.rate} aria-describedby="inst-rate-hint" onInput={input("rate")} />
        </Field>
        <Field id="inst-billing" label={t("instruments.billing")}>
          <select id="inst-billing" value={d.billing} onChange={input("billing")}>
            {["booked", "measured"].map((b) => <option key={b} value={b}>{t(`instruments.billing_${b}`)}</option>)}
          </select>
        </Field>
        <Field id="inst-capabilities" label={t("instruments.capabilities")} hint={t("instruments.capabilities_hint")}>
          <input id="inst-capabilities" value={d.capabilities} aria-describedby="inst-capabilities-hint" onInput={input("capabilities")} />
        </Field>
      </div>
      <p class="checks">
        <label><input id="inst-gated" type="checkbox" checked={d.gated} onChange={check("gated")} /> {t("instruments.requires_qualification")}</label>
        <label><input id="inst-public" type="checkbox" checked={d.public} onChange={check("public")} /> {t("instruments.public")}</label>
      </p>
      <fieldset>
        <legend>{t("instruments.hours")}</legend>
        <p><small id="inst-hours-hint">{t("instruments.hours_hint")}</small></p>
        <p><label><input id="inst-always" type="checkbox" checked={d.alwaysOpen} onChange={check("alwaysOpen")} /> {t("instruments.always_open")}</label></p>
        {d.alwaysOpen ? null : (
          <div class="row">
            {DAYS.map((day) => (
              <Field key={day} id={`inst-day-${day}`} label={t(`instruments.day_${day}`)}>
                <input id={`inst-day-${day}`} value={d.days[day]} size={12} aria-describedby="inst-hours-hint" translate={false}
                  onInput={(e) => setD({ ...d, days: { ...d.days, [day]: (e.target as HTMLInputElement).value } })} />
              </Field>
            ))}
          </div>
        )}
        {exceptions ? <p><small>{t("instruments.exceptions_kept", { n: exceptions })}</small></p> : null}
      </fieldset>
      <fieldset>
        <legend>{t("instruments.rules")}</legend>
        <div class="row">
          {num("min_booking", t("instruments.min_booking"))}
          {num("max_booking", t("instruments.max_booking"))}
          {num("setup_buffer", t("instruments.setup_buffer"))}
          {num("min_notice", t("instruments.min_notice"))}
          {num("max_horizon", t("instruments.max_horizon"))}
        </div>
      </fieldset>
      <ErrorBox error={error} />
      {ok ? <p class="alert ok" role="status" id="inst-saved">{t("instruments.saved")}</p> : null}
      <button type="submit" disabled={busy}>{t("instruments.save")}</button>
    </form>
  );
}

function Retire({ inst, retired }: { inst: Instrument; retired: () => void }): JSX.Element {
  const [error, setError] = useState<unknown>(null);
  const retire = async (): Promise<void> => {
    if (!confirm(t("instruments.confirm_retire", { id: inst.id }))) return;
    setError(null);
    try {
      await del(`/api/v1/instruments/${encodeURIComponent(inst.id)}`);
      retired();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="retire-title">
      <h2 id="retire-title">{t("instruments.retire_title")}</h2>
      {inst.retired_at ? <Notice>{t("instruments.retired", { at: fmt.dateTime(inst.retired_at) })}</Notice> : (
        <>
          <p>{t("instruments.retire_intro")}</p>
          <ErrorBox error={error} />
          <button type="button" class="danger" id="inst-retire" onClick={() => void retire()}>{t("instruments.retire")}</button>
        </>
      )}
    </section>
  );
}

function InstrumentSettings({ params }: { params: Record<string, string> }): JSX.Element {
  const id = params.id;
  const loaded = useAsync((signal) => get<Instrument>(`/api/v1/instruments/${encodeURIComponent(id)}`, { signal }), [id]);
  const [inst, setInst] = useState<Instrument | null>(null);
  useEffect(() => setInst(loaded.data ?? null), [loaded.data]);
  // times on this page are the instrument's site's, which need not be the key's
  useEffect(() => {
    if (!inst) return;
    const before = siteTimeZone.value;
    siteTimeZone.value = inst.site_timezone;
    return () => { siteTimeZone.value = before; };
  }, [inst?.site_timezone]);
  return (
    <section>
      <Title actions={<a class="button secondary" href="#/instruments">{t("instruments.back")}</a>}>
        {t("instruments.settings")} · <Raw>{id}</Raw>
      </Title>
      <ErrorBox error={loaded.error} />
      {loaded.loading && !inst ? <Loading /> : null}
      {inst ? (
        <>
          <p id="inst-summary">
            <Raw>{inst.name}</Raw> · <Raw>{inst.kind}</Raw> · <Raw>{inst.site}</Raw> · {status(inst)} · {fmt.money(inst.hourly_rate)}
          </p>
          <p>{t("common.times_in_zone", { zone: inst.site_timezone })}</p>
          <Settings inst={inst} saved={setInst} />
          <Closures inst={inst} />
          <Qualifications inst={inst} />
          <Retire inst={inst} retired={loaded.reload} />
        </>
      ) : null}
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/instruments", title: "instruments.title", component: InstrumentList, role: "admin", group: "administer", order: 4 },
  { path: "/instruments/:id", title: "instruments.settings", component: InstrumentSettings, role: "admin" },
];
