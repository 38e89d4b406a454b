// Apache ECharts, with only the charts and components the console draws registered (the bundle
// stays small), resized with its box, and re-drawn when the options or the language change.
import { BarChart, CustomChart, HeatmapChart, LineChart, ScatterChart } from "echarts/charts";
import {
  DataZoomComponent, GridComponent, LegendComponent, MarkAreaComponent, MarkLineComponent,
  TitleComponent, TooltipComponent, VisualMapComponent, AriaComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";
import type { JSX } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { lang } from "../i18n";

echarts.use([
  BarChart, CustomChart, HeatmapChart, LineChart, ScatterChart, DataZoomComponent, GridComponent,
  LegendComponent, MarkAreaComponent, MarkLineComponent, TitleComponent, TooltipComponent,
  VisualMapComponent, AriaComponent, SVGRenderer,
]);

export type ChartOptions = echarts.EChartsCoreOption;

export function Chart(props: { options: ChartOptions; label: string; height?: number; id?: string }): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const language = lang.value;
  useEffect(() => {
    if (!box.current) return;
    const c = echarts.init(box.current, undefined, { renderer: "svg", locale: language === "zh" ? "ZH" : "EN" });
    chart.current = c;
    const observer = new ResizeObserver(() => c.resize());
    observer.observe(box.current);
    return () => {
      observer.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, [language]);
  useEffect(() => {
    chart.current?.setOption({ aria: { enabled: true }, animation: false, ...props.options }, true);
  }, [props.options, language]);
  return (
    <div
      class="chart" id={props.id} ref={box} role="img" aria-label={props.label}
      style={{ height: `${props.height ?? 320}px` }}
    />
  );
}
