// vis-timeline (Apache-2.0/MIT): rows of instruments, bookings as items, free slots and closures
// as background. One Timeline per mount fed by DataSets, so a page updates items in place (an
// SSE event moves one booking without redrawing the rest). The axis is the site's wall clock in
// the reader's language: grid lines at the site's midnight, labels formatted by Intl.
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { fmt, lang, t, zoneOffset } from "../i18n";

export interface Row {
  id: string;
  /** HTML (vis-timeline filters it and drops attributes such as translate), or an element as is */
  content: string | HTMLElement;
  className?: string;
}

export interface Item {
  id: string | number;
  group?: string;
  start: Date | string;
  end?: Date | string;
  content?: string | HTMLElement;
  className?: string;
  type?: "range" | "background" | "box" | "point";
  title?: string;
  editable?: boolean | { updateTime?: boolean; updateGroup?: boolean; remove?: boolean };
}

/** What the console uses of vis-data's DataSet. */
export interface DataSet<T> {
  add(items: T | T[]): void;
  update(items: Partial<T> | Partial<T>[]): void;
  remove(ids: string | number | (string | number)[]): void;
  clear(): void;
  get(): T[];
  get(id: string | number): T | null;
}

/** The timeline's event: where the pointer was, in time and row, and what it hit. */
export interface TimelineEvent {
  item: string | number | null;
  group: string | null;
  time: Date;
  what: string | null;
  event: Event;
}

/** What the console uses of vis-timeline's Timeline. */
export interface VisTimeline {
  on(event: string, handler: (props: TimelineEvent & { items?: (string | number)[] }) => void): void;
  destroy(): void;
  setWindow(start: Date, end: Date, options?: { animation?: boolean }): void;
  setSelection(ids: (string | number)[]): void;
  fit(): void;
}

export type TimelineOptions = Record<string, unknown>;

type Moment = { toDate(): Date; utcOffset(m: number): Moment };
/** The library as the console types it (./vis, loaded by the first timeline a page draws). */
interface Vis {
  DataSet: new <T>(items?: T[]) => DataSet<T>;
  Timeline: new (el: HTMLElement, items: unknown, groups: unknown, options: TimelineOptions) => VisTimeline;
  moment: (d: unknown) => Moment;
}
const loadVis = (): Promise<Vis> => import("./vis").then(({ vis }) => vis as unknown as Vis);

export interface TimelineApi {
  items: DataSet<Item>;
  rows: DataSet<Row>;
  timeline: VisTimeline;
}

const label = (scale: string, major: boolean) => (date: Date | Moment): string => {
  const d = date instanceof Date ? date : date.toDate();
  switch (scale) {
    case "minute":
    case "hour":
      return major ? fmt.weekday(d) : fmt.time(d);
    case "weekday":
    case "day":
      return major ? fmt.month(d) : fmt.weekday(d);
    case "week":
      return major ? fmt.month(d) : fmt.date(d);
    default:
      return major ? fmt.month(d) : fmt.date(d);
  }
};

export function Timeline(props: {
  rows: Row[];
  items: Item[];
  options?: TimelineOptions;
  label: string;
  onReady?: (api: TimelineApi) => void;
  id?: string;
}): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const api = useRef<TimelineApi | null>(null);
  // the rows and items of the latest render: the library may arrive after several
  const latest = useRef(props);
  latest.current = props;
  const [ready, setReady] = useState(0);
  const language = lang.value;
  useEffect(() => {
    let timeline: VisTimeline | null = null;
    let gone = false;
    void loadVis().then((V) => {
      if (gone || !box.current) return;
      const items = new V.DataSet<Item>(latest.current.items);
      const rows = new V.DataSet<Row>(latest.current.rows);
      const format = {
        minorLabels: (d: Moment, scale: string) => label(scale, false)(d),
        majorLabels: (d: Moment, scale: string) => label(scale, true)(d),
      };
      timeline = new V.Timeline(box.current, items, rows, {
        stack: false,
        orientation: "top",
        zoomKey: "ctrlKey",
        // its "now" bar titles itself through moment in English only
        showCurrentTime: false,
        // the axis in the site's zone: vis-timeline asks this for every date it lays out
        moment: (date: unknown) => {
          const m = V.moment(date);
          return m.utcOffset(zoneOffset(m.toDate()));
        },
        format,
        locale: language,
        locales: {
          [language]: { current: t("timeline.current"), time: t("timeline.time"), deleteSelected: t("timeline.delete_selected") },
        },
        ...latest.current.options,
      });
      api.current = { items, rows, timeline };
      latest.current.onReady?.(api.current);
      setReady((n) => n + 1);
    });
    return () => {
      gone = true;
      timeline?.destroy();
      api.current = null;
    };
  }, [language]);
  useEffect(() => {
    const a = api.current;
    if (!a) return;
    // in place: what is gone is removed, the rest added or updated (no redraw of the others)
    const sync = <T extends { id: string | number }>(set: DataSet<T>, next: T[]): void => {
      const keep = new Set(next.map((x) => x.id));
      set.remove(set.get().map((x) => x.id).filter((id) => !keep.has(id)));
      set.update(next);
    };
    sync(a.rows, props.rows);
    sync(a.items, props.items);
  }, [props.rows, props.items, ready]);
  return <div class="timeline" id={props.id} ref={box} role="region" aria-label={props.label} />;
}
