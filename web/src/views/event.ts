// Event detail: the full timeline, the place on the map, related alerts and the recent readings of the
// devices behind them (a small line chart per series, from GET /api/v1/telemetry/series; a registered
// person's meter only when asked for with a purpose), merged duplicates, and the actions this principal
// may take now.

import { api, events, telemetry, type EventOut, type SeriesOut, type SeriesRef } from "../api";
import { actionPanel } from "../components/actions";
import { levelBadge, unavailable } from "../components/badges";
import { eventCard, timelineList } from "../components/eventCard";
import { eventTable } from "../components/eventTable";
import { purposeForm, READINGS_PURPOSES } from "../components/reveal";
import { chartIn, MUTED, TEXT } from "../charts";
import { echarts } from "../charts";
import { debounce, fmtTime, h, replace } from "../dom";
import { code, t } from "../i18n";
import { subscribe } from "../live";
import { errorText, loadErrorText } from "../problems";

interface Related {
  duplicates: EventOut[];
  merged_into: EventOut | null;
  alerts: Record<string, unknown>[] | null;
  readings: SeriesRef[] | null;
}

export async function eventDetailView(root: HTMLElement, params: string[]): Promise<() => void> {
  const id = Number(params[0]);
  const main = h("div", { class: "event-main" });
  const side = h("div", { class: "event-side" });
  root.append(
    h(
      "section",
      { class: "event-detail" },
      h("p", null, h("a", { href: "#", on: { click: (e: Event) => (e.preventDefault(), history.back()) } }, "← ", t("back"))),
      h("div", { class: "event-grid" }, main, side),
    ),
  );
  let disposeMap: () => void = () => {};
  let disposeCharts: () => void = () => {};
  const load = async () => {
    let e: EventOut;
    try {
      e = await events.get(id);
    } catch (err) {
      replace(main, h("p", { class: "error" }, errorText(err)));
      return;
    }
    disposeMap();
    disposeCharts();
    const mapEl = h("div", { class: "mini-map", role: "img", "aria-label": t("location") });
    const related = h("div", { "data-panel": "related" }, t("loading"));
    replace(
      main,
      eventCard(e),
      e.resolution ? h("section", { class: "panel" }, h("h2", null, t("resolution")), h("p", null, e.resolution)) : null,
      h("section", { class: "panel" }, h("h2", null, t("timeline")), timelineList(e)),
    );
    replace(
      side,
      h("section", { class: "panel" }, h("h2", null, t("actions")), actionPanel(e, () => void load())),
      h("section", { class: "panel" }, h("h2", null, t("location")), mapEl),
      related,
    );
    disposeMap = await drawMiniMap(mapEl, e);
    disposeCharts = await loadRelated(related, e);
  };
  await load();
  const refresh = debounce(() => void load(), 800);
  const off = subscribe((m) => {
    if (m.topic.startsWith("events.") && (m.data as { id?: number }).id === id) refresh();
  });
  return () => {
    off();
    disposeMap();
    disposeCharts();
  };
}

async function drawMiniMap(el: HTMLElement, e: EventOut): Promise<() => void> {
  const district = e.areas.district;
  if (!district) {
    el.replaceWith(h("p", { class: "empty" }, t("unlocated")));
    return () => {};
  }
  const geojson = await api<Parameters<typeof echarts.registerMap>[1]>(`/api/v1/areas/${district.code}/children.geojson`);
  const name = `detail-${district.code}`;
  echarts.registerMap(name, geojson);
  const { chart, dispose } = chartIn(el);
  chart.setOption({
    backgroundColor: "transparent",
    animation: false,
    geo: {
      map: name,
      roam: true,
      label: { show: true, color: TEXT, fontSize: 10 },
      itemStyle: {
        areaColor: "#13294b",
        borderColor: "#6fa8ff",
      },
      regions: e.areas.street ? [{ name: e.areas.street.name, itemStyle: { areaColor: "#2a5ca8" } }] : [],
    },
    series: e.location
      ? [
          {
            type: "effectScatter",
            coordinateSystem: "geo",
            data: [[e.location.lon, e.location.lat]],
            symbolSize: 14,
            itemStyle: { color: "#f5a524" },
          },
        ]
      : [],
  });
  return dispose;
}

async function loadRelated(box: HTMLElement, e: EventOut): Promise<() => void> {
  const related = await api<Related>(`/api/v1/dashboard/events/${e.id}/related`);
  const readings = h("ul", { class: "readings", "data-panel": "readings" });
  replace(
    box,
    h(
      "section",
      { class: "panel" },
      h("h2", null, t("duplicates")),
      related.merged_into
        ? h("p", null, `${t("merged_into")} `, h("a", { href: `/events/${related.merged_into.id}`, "data-link": true }, related.merged_into.number))
        : null,
      eventTable(related.duplicates, { columns: ["created"] }),
    ),
    h(
      "section",
      { class: "panel" },
      h("h2", null, t("related_alerts")),
      related.alerts === null
        ? unavailable(t("unavailable_alerts"))
        : related.alerts.length
          ? h(
              "ul",
              { class: "related-alerts" },
              related.alerts.map((a) =>
                h("li", null, levelBadge(String(a.level)), " ", String(a.title), h("span", { class: "muted" }, ` · ${code("alert", String(a.status))}`)),
              ),
            )
          : h("p", { class: "empty" }, t("nothing")),
      related.readings === null ? unavailable(t("unavailable_readings")) : null,
    ),
    related.readings && related.readings.length
      ? h("section", { class: "panel" }, h("h2", null, t("related_readings")), readings)
      : null,
  );
  const disposers = await Promise.all((related.readings ?? []).map((ref) => drawSeries(readings, ref)));
  return () => disposers.forEach((dispose) => dispose());
}

/** One series as a small line chart, with its latest value and range in words beside it. A registered
 * person's meter is read only when the reader asks, saying why (decision 0019). */
async function drawSeries(list: HTMLElement, ref: SeriesRef): Promise<() => void> {
  const caption = h("p", { class: "muted" }, t("loading"));
  const item = h(
    "li",
    { "data-device": ref.device, "data-metric": ref.metric, "data-personal": ref.personal ? "true" : null },
    h("h3", null, `${ref.name} · ${ref.metric}${ref.unit ? ` (${ref.unit})` : ""}`),
    caption,
  );
  list.append(item);
  let dispose: () => void = () => {};
  if (ref.personal) {
    const ask = () =>
      replace(
        caption,
        t("personal_readings"),
        " ",
        purposeForm(READINGS_PURPOSES, async (purpose) => {
          const series = await telemetry.personalSeries(ref, purpose);
          dispose = plot(item, caption, ref, series);
          caption.append(" · ", t("revealed_audited"));
        }),
      );
    replace(
      caption,
      t("personal_readings"),
      " ",
      h("button", { type: "button", class: "btn small link", "data-reveal": "readings", on: { click: ask } }, t("show_readings")),
    );
    return () => dispose();
  }
  try {
    dispose = plot(item, caption, ref, await telemetry.series(ref));
  } catch (err) {
    replace(caption, loadErrorText(err));
  }
  return () => dispose();
}

/** The series' points as a chart in ``item``, summed up in ``caption``; the chart's disposer. */
function plot(item: HTMLElement, caption: HTMLElement, ref: SeriesRef, series: SeriesOut): () => void {
  const points = series.points
    .map((p) => [p.ts, p.value ?? p.avg ?? p.last ?? null] as [string, number | null])
    .filter((p): p is [string, number] => p[1] !== null);
  item.dataset.points = String(points.length);
  if (points.length === 0) {
    replace(caption, t("no_readings"));
    return () => {};
  }
  const values = points.map((p) => p[1]);
  const [latestAt, latest] = points[points.length - 1];
  const unit = ref.unit ? ` ${ref.unit}` : "";
  const summary = `${t("readings_latest")} ${latest}${unit} (${fmtTime(latestAt)}) · ${t("readings_range")} ${Math.min(
    ...values,
  )}–${Math.max(...values)}${unit} · ${points.length} ${t("readings_count")}`;
  replace(caption, summary);
  const chartEl = h("div", { class: "spark", role: "img", "aria-label": `${ref.name} ${ref.metric}: ${summary}` });
  item.append(chartEl);
  const { chart, dispose } = chartIn(chartEl);
  chart.setOption({
    backgroundColor: "transparent",
    animation: false,
    grid: { left: 44, right: 12, top: 10, bottom: 24 },
    tooltip: { trigger: "axis", confine: true, valueFormatter: (v: unknown) => `${v}${unit}` },
    xAxis: {
      type: "time", // fitted to the readings: a device may have reported for only part of the window
      axisLabel: { color: MUTED, fontSize: 10, hideOverlap: true },
      axisLine: { lineStyle: { color: MUTED } },
    },
    yAxis: {
      type: "value",
      scale: true,
      axisLabel: { color: MUTED, fontSize: 10 },
      splitLine: { lineStyle: { color: "#22344f" } },
    },
    series: [
      {
        type: "line",
        name: ref.metric,
        data: points,
        showSymbol: points.length < 40,
        symbolSize: 4,
        lineStyle: { color: "#59b2ff", width: 1.5 },
        itemStyle: { color: "#59b2ff" },
      },
    ],
  });
  return dispose;
}
