// ECharts, only the parts the dashboard draws (tree-shaken): maps of the hub's own boundaries, scatter,
// heat map, bar and line charts, on canvas. No tiles, no outside resources.

import { BarChart, EffectScatterChart, HeatmapChart, LineChart, MapChart, ScatterChart } from "echarts/charts";
import {
  AriaComponent,
  GeoComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  MapChart,
  ScatterChart,
  EffectScatterChart,
  HeatmapChart,
  BarChart,
  LineChart,
  GeoComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
  AriaComponent,
  CanvasRenderer,
]);

export { echarts };

export const TEXT = "#d8e2f0";
export const MUTED = "#8a9bb3";

/** A chart that follows its container's size and is disposed with the view. */
export function chartIn(el: HTMLElement): { chart: echarts.ECharts; dispose: () => void } {
  const chart = echarts.init(el, null, { renderer: "canvas" });
  const observer = new ResizeObserver(() => chart.resize());
  observer.observe(el);
  return {
    chart,
    dispose: () => {
      observer.disconnect();
      chart.dispose();
    },
  };
}
