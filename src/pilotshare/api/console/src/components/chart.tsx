// Apache ECharts (./echarts: only what the console draws, loaded by the first chart), resized
// with its box, and re-drawn when the options or the language change.
import type { ECharts, EChartsCoreOption } from "echarts/core";
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { lang } from "../i18n";

export type ChartOptions = EChartsCoreOption;

export function Chart(props: { options: ChartOptions; label: string; height?: number; id?: string }): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<ECharts | null>(null);
  const [ready, setReady] = useState(0);
  const language = lang.value;
  useEffect(() => {
    let c: ECharts | null = null;
    let observer: ResizeObserver | null = null;
    let gone = false;
    void import("./echarts").then(({ init }) => {
      if (gone || !box.current) return;
      c = init(box.current, undefined, { renderer: "svg", locale: language === "zh" ? "ZH" : "EN" });
      chart.current = c;
      observer = new ResizeObserver(() => c?.resize());
      observer.observe(box.current);
      setReady((n) => n + 1);
    });
    return () => {
      gone = true;
      observer?.disconnect();
      c?.dispose();
      chart.current = null;
    };
  }, [language]);
  useEffect(() => {
    chart.current?.setOption({ aria: { enabled: true }, animation: false, ...props.options }, true);
  }, [props.options, language, ready]);
  return (
    <div
      class="chart" id={props.id} ref={box} role="img" aria-label={props.label}
      style={{ height: `${props.height ?? 320}px` }}
    />
  );
}
