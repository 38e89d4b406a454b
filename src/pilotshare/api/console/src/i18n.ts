// Labels in 中文 and English, and every date, number and amount formatted for the locale.
//
// Each page owns a namespace: locales/en/<ns>.json and locales/zh/<ns>.json hold the same keys
// (a test checks), and `t("<ns>.<key>")` reads one. Times are shown in the site's time zone,
// not the browser's: a booking at 09:00 in Dongguan reads 09:00 wherever it is looked at.
import { signal } from "@preact/signals";

export type Lang = "zh" | "en";
type Dict = Record<string, string>;

const load = (files: Record<string, Dict>): Dict => {
  const out: Dict = {};
  for (const [path, dict] of Object.entries(files)) {
    const ns = path.split("/").pop()!.replace(/\.json$/, "");
    for (const [key, text] of Object.entries(dict)) out[`${ns}.${key}`] = text;
  }
  return out;
};

const DICTS: Record<Lang, Dict> = {
  en: load(import.meta.glob<Dict>("./locales/en/*.json", { eager: true, import: "default" })),
  zh: load(import.meta.glob<Dict>("./locales/zh/*.json", { eager: true, import: "default" })),
};

const STORE = "pilotshare-lang";

function initial(): Lang {
  const saved = localStorage.getItem(STORE);
  if (saved === "zh" || saved === "en") return saved;
  const prefs = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const p of prefs) {
    const l = p.toLowerCase();
    if (l.startsWith("zh")) return "zh";
    if (l.startsWith("en")) return "en";
  }
  return "zh";
}

export const lang = signal<Lang>(initial());
export const siteTimeZone = signal<string>("Asia/Shanghai");

export function setLang(next: Lang): void {
  localStorage.setItem(STORE, next);
  lang.value = next;
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
}
document.documentElement.lang = lang.value === "zh" ? "zh-CN" : "en";

/** The label of `key` in the current language, with `{name}` placeholders filled. */
export function t(key: string, vars?: Record<string, string | number>): string {
  const text = DICTS[lang.value][key] ?? DICTS.en[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
}

/** Whether a label exists (reason codes the console does not know fall back to the detail). */
export const has = (key: string): boolean => key in DICTS.en;

const locale = (): string => (lang.value === "zh" ? "zh-CN" : "en-GB");

function parse(value: string | number | Date): Date {
  return value instanceof Date ? value : new Date(value);
}

const cache = new Map<string, Intl.DateTimeFormat>();
function dtf(opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${locale()}|${siteTimeZone.value}|${JSON.stringify(opts)}`;
  let f = cache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale(), { timeZone: siteTimeZone.value, ...opts });
    cache.set(key, f);
  }
  return f;
}

export const fmt = {
  dateTime: (v: string | number | Date): string =>
    dtf({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(parse(v)),
  date: (v: string | number | Date): string =>
    dtf({ year: "numeric", month: "2-digit", day: "2-digit" }).format(parse(v)),
  weekday: (v: string | number | Date): string =>
    dtf({ weekday: "short", month: "2-digit", day: "2-digit" }).format(parse(v)),
  time: (v: string | number | Date): string =>
    dtf({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(parse(v)),
  month: (v: string | number | Date): string => dtf({ year: "numeric", month: "long" }).format(parse(v)),
  number: (n: number, digits = 0): string =>
    new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(n),
  percent: (share: number, digits = 0): string =>
    new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: digits, minimumFractionDigits: digits }).format(share),
  money: (amount: number | string, currency = "CNY"): string =>
    new Intl.NumberFormat(locale(), { style: "currency", currency, currencyDisplay: "symbol" }).format(Number(amount)),
  /** A length of time: "1 h 30 min" / "1小时30分钟". */
  duration: (seconds: number): string => {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.round((s % 3600) / 60);
    if (h && m) return t("common.hours_minutes", { h, m });
    if (h) return t("common.hours", { h });
    return t("common.minutes", { m });
  },
  hours: (seconds: number, digits = 1): string => t("common.hours_value", { h: fmt.number(seconds / 3600, digits) }),
};

/** The site zone's offset from UTC in minutes at `date` (DST-safe, from Intl). */
export function zoneOffset(date: Date): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: siteTimeZone.value, hourCycle: "h23",
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  }).formatToParts(date);
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"));
  return Math.round((wall - Math.floor(date.getTime() / 60000) * 60000) / 60000);
}

/** A local wall time in the site's zone as an ISO instant ("2026-12-04T09:00" → UTC). */
export function siteToInstant(local: string): string {
  // the zone's offset at the naive guess, corrected once more for a change of offset between
  const guess = new Date(`${local}:00Z`);
  const first = new Date(guess.getTime() - zoneOffset(guess) * 60000);
  return new Date(guess.getTime() - zoneOffset(first) * 60000).toISOString();
}

/** An instant as the site's wall time for an <input type="datetime-local">. */
export function instantToSite(value: string | number | Date): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: siteTimeZone.value, hourCycle: "h23",
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  }).formatToParts(parse(value));
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? "00";
  return `${get("year")}-${get("month")}-${get("day")}T${get("hour")}:${get("minute")}`;
}
