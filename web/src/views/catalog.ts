// 数据目录: the public data catalog (一本账). The resources with grade, sharing and open attributes, tags and
// latest quality score, filterable; one resource's fields, quality dimensions and — for the owning
// department — its access log; and the share requests waiting for the viewer's department, approved with a
// scope (本区域/全市) or rejected with a reason. Only the catalog API the CLI uses.

import {
  catalog,
  type AccessLogEntry,
  type CatalogResource,
  type CatalogSummary,
  type QualityRun,
  type ShareRequest,
} from "../api";
import { unavailable } from "../components/badges";
import { toast } from "../components/toast";
import { chartIn, MUTED, TEXT } from "../charts";
import { debounce, fmtTime, h, newestOnly, replace } from "../dom";
import { code, t } from "../i18n";
import { getDepartments } from "../refdata";
import { canRead, session } from "../session";
import { loadErrorText } from "../problems";

const GRADES = ["core", "important", "general_4", "general_3", "general_2", "general_1"];
// Colour, plus a symbol, plus the label: never colour alone.
const GRADE_LOOK: Record<string, { mark: string; colour: string }> = {
  core: { mark: "◆", colour: "#ff4d4f" },
  important: { mark: "▲", colour: "#ff9f40" },
  general_4: { mark: "●", colour: "#f2c200" },
  general_3: { mark: "●", colour: "#3d8bfd" },
  general_2: { mark: "○", colour: "#20c5d8" },
  general_1: { mark: "○", colour: "#8aa4c8" },
};
const DIMENSIONS = ["completeness", "conformity", "accuracy", "uniqueness", "consistency", "timeliness"];
const DECIDERS = ["admin", "data_steward"];


export function gradeBadge(grade: string): HTMLElement {
  const look = GRADE_LOOK[grade] ?? { mark: "?", colour: "#888" };
  return h(
    "span",
    { class: "badge grade", style: `--c:${look.colour}`, "data-grade": grade },
    h("span", { "aria-hidden": "true" }, look.mark),
    " ",
    code("grade", grade),
  );
}

function attrBadge(kind: "sharing" | "open", value: string): HTMLElement {
  return h("span", { class: `badge attr a-${value}`, [`data-${kind}`]: value }, code(kind, value));
}

function scoreCell(score: number | null): HTMLElement {
  if (score === null) return h("span", { class: "muted" }, "—");
  const state = score >= 95 ? "good" : score >= 80 ? "fair" : "poor";
  const mark = { good: "✓", fair: "◐", poor: "⚠" }[state];
  return h(
    "span",
    { class: `score s-${state}`, "data-score": score.toFixed(1) },
    h("span", { "aria-hidden": "true" }, mark),
    ` ${score.toFixed(1)}`,
  );
}

export function catalogView(root: HTMLElement): () => void {
  const me = session.me;
  const deciding = DECIDERS.includes(me?.role ?? "");
  let all: CatalogSummary[] = [];
  let items: CatalogSummary[] = [];
  let selected: string | null = new URLSearchParams(location.search).get("resource");
  let codes = new Map<number, string>();
  const disposers: (() => void)[] = [];
  const disposeCharts = () => disposers.splice(0).forEach((d) => d());

  // ------------------------------------------------------------ filters
  const department = h("select", { id: "cat-dept" }, h("option", { value: "" }, t("all")));
  const tag = h("select", { id: "cat-tag" }, h("option", { value: "" }, t("all")));
  const grade = h(
    "select",
    { id: "cat-grade" },
    h("option", { value: "" }, t("all")),
    GRADES.map((g) => h("option", { value: g }, code("grade", g))),
  );
  const search = h("input", {
    id: "cat-q",
    type: "search",
    maxlength: 100,
    placeholder: t("catalog_search"),
    "aria-label": t("search"),
  });
  const count = h("span", { class: "muted count-line", "aria-live": "polite" });
  const list = h("div", { class: "table-wrap catalog-list" }, t("loading"));
  const detail = h(
    "section",
    { class: "detail catalog-detail", "aria-live": "polite", "aria-label": t("open_detail") },
    h("p", { class: "empty" }, t("select_resource")),
  );
  const requestsBox = h("section", { class: "panel requests", "data-panel": "requests", hidden: !deciding });

  const paintOptions = () => {
    const owners = new Map<number, string>();
    const tagCounts = new Map<string, number>();
    for (const r of all) {
      owners.set(r.department_id, r.department);
      for (const x of r.tags) tagCounts.set(x, (tagCounts.get(x) ?? 0) + 1);
    }
    replace(
      department,
      h("option", { value: "" }, t("all")),
      [...owners].sort((a, b) => a[1].localeCompare(b[1], "zh")).map(([id, name]) => h("option", { value: id }, name)),
    );
    replace(
      tag,
      h("option", { value: "" }, t("all")),
      [...tagCounts]
        .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0], "zh"))
        .map(([x, n]) => h("option", { value: x }, `${x} (${n})`)),
    );
  };

  const next = newestOnly();
  const load = async () => {
    const current = next();
    const deptId = department.value ? Number(department.value) : null;
    const deptCode = deptId !== null ? codes.get(deptId) : undefined;
    try {
      let rows = await catalog.resources({
        department: deptCode,
        tag: tag.value || undefined,
        grade: grade.value || undefined,
        q: search.value.trim() || undefined,
        limit: 500,
      });
      if (deptId !== null && deptCode === undefined) rows = rows.filter((r) => r.department_id === deptId);
      if (!current()) return;
      items = rows;
      paintList();
    } catch (err) {
      if (current()) replace(list, unavailable(loadErrorText(err)));
    }
  };

  const paintList = () => {
    count.textContent = `${t("total")} ${items.length} ${t("resources_count")}`;
    if (items.length === 0) {
      replace(list, h("p", { class: "empty" }, t("nothing")));
      return;
    }
    replace(
      list,
      h(
        "table",
        { class: "catalog" },
        h(
          "thead",
          null,
          h(
            "tr",
            null,
            ["resource_code", "resource_name", "owner_department", "grade", "sharing_attr", "open_attr", "tags", "quality"].map(
              (c) => h("th", { scope: "col" }, t(c)),
            ),
          ),
        ),
        h(
          "tbody",
          null,
          items.map((r) =>
            h(
              "tr",
              {
                "data-resource": r.code,
                class: r.code === selected ? "selected" : "",
                on: { click: (e: Event) => ((e.target as HTMLElement).closest("button") ? undefined : void open(r.code)) },
              },
              h(
                "td",
                { class: "num" },
                h(
                  "button",
                  {
                    type: "button",
                    class: "linkish",
                    "aria-pressed": r.code === selected ? "true" : "false",
                    on: { click: () => void open(r.code) },
                  },
                  r.code,
                ),
              ),
              h(
                "td",
                { class: "name" },
                r.name,
                r.builtin ? h("span", { class: "badge builtin" }, t("builtin_resource")) : null,
                r.holds_sensitive_personal_information
                  ? h("span", { class: "badge spi", title: t("sensitive_personal") }, h("span", { "aria-hidden": "true" }, "⚠"), " ", t("personal_info"))
                  : null,
              ),
              h("td", { class: "owner" }, r.department),
              h("td", null, gradeBadge(r.grade)),
              h("td", null, attrBadge("sharing", r.sharing)),
              h("td", null, attrBadge("open", r.open_attribute)),
              h("td", { class: "tags" }, r.tags.map((x) => h("span", { class: `tag${r.restricting_tags.includes(x) ? " restricting" : ""}` }, x))),
              h("td", null, scoreCell(r.quality_score)),
            ),
          ),
        ),
      ),
    );
  };

  // ------------------------------------------------------------ one resource
  let openTicket = 0;
  const open = async (resourceCode: string) => {
    selected = resourceCode;
    const mine = ++openTicket;
    history.replaceState(null, "", `/catalog?resource=${encodeURIComponent(resourceCode)}`);
    paintList();
    disposeCharts();
    replace(detail, t("loading"));
    try {
      const r = await catalog.resource(resourceCode);
      if (mine !== openTicket) return;
      replace(detail, resourceDetail(r));
      detail.scrollTop = 0;
    } catch (err) {
      if (mine === openTicket) replace(detail, unavailable(loadErrorText(err)));
    }
  };

  const resourceDetail = (r: CatalogResource): HTMLElement => {
    const fact = (label: string, ...value: (Node | string | null)[]) =>
      h("div", { class: "fact" }, h("dt", null, t(label)), h("dd", null, ...value));
    const quality = h("div", { class: "quality", "data-panel": "quality" }, t("loading"));
    const log = h("div", { class: "access-log", "data-panel": "access-log" });
    if (canRead("catalog.quality.read", r.department_id)) void loadQuality(r.code, quality);
    else replace(quality, unavailable(t("no_permission")));
    const owns = me !== null && (me.role === "admin" || (me.department_id !== null && me.department_id === r.department_id));
    if (owns) void loadAccessLog(r.code, log);
    else replace(log, h("p", { class: "muted" }, t("access_log_owner_only")));
    return h(
      "article",
      { class: "resource", "data-resource": r.code },
      h(
        "header",
        null,
        h("span", { class: "code" }, r.code),
        " ",
        gradeBadge(r.grade),
        " ",
        attrBadge("sharing", r.sharing),
        " ",
        attrBadge("open", r.open_attribute),
      ),
      h("h2", null, r.name),
      r.description ? h("p", { class: "description" }, r.description) : null,
      h(
        "dl",
        { class: "facts" },
        fact("owner_department", r.department),
        fact("source_system", r.source_system || "—"),
        fact("update_cycle", code("cycle", r.update_cycle)),
        fact("rows_held", r.builtin ? t("hub_live_data") : r.has_data ? String(r.sample_rows) : "—"),
        fact("sharing_conditions", r.sharing_conditions || "—"),
        fact("open_conditions", r.open_conditions || "—"),
        fact(
          "tags",
          ...r.tags.map((x) =>
            h("span", { class: `tag${r.restricting_tags.includes(x) ? " restricting" : ""}`, title: r.restricting_tags.includes(x) ? t("restricting_tag") : undefined }, x),
          ),
        ),
        fact("sensitive_personal", r.holds_sensitive_personal_information ? `⚠ ${t("yes")}` : t("no")),
      ),
      h("h3", null, `${t("fields")} (${r.fields.length})`),
      fieldsTable(r),
      h("h3", null, t("quality_dimensions")),
      quality,
      h("h3", null, t("access_log_of")),
      log,
    );
  };

  const loadQuality = async (resourceCode: string, box: HTMLElement) => {
    let runs: QualityRun[];
    try {
      runs = await catalog.qualityRuns(resourceCode, 10);
    } catch (err) {
      replace(box, unavailable(loadErrorText(err)));
      return;
    }
    if (!box.isConnected) return;
    const latest = runs[0];
    if (!latest) {
      replace(box, h("p", { class: "empty" }, t("no_quality_run")));
      return;
    }
    const dims = DIMENSIONS.filter((d) => d in latest.scores);
    const chartEl = h("div", { class: "chart small", role: "img", "aria-label": t("quality_dimensions") });
    replace(
      box,
      h(
        "p",
        null,
        `${t("overall")} `,
        scoreCell(latest.overall),
        " · ",
        latest.passed ? `✓ ${t("passed")}` : `⚠ ${t("not_passed")}`,
        h("span", { class: "muted" }, ` · ${fmtTime(latest.finished_at)} · ${latest.rows} ${t("rows_held")}`),
      ),
      h(
        "div",
        { class: "quality-grid" },
        chartEl,
        h(
          "table",
          { class: "catalog-small", "data-table": "dimensions" },
          h("thead", null, h("tr", null, h("th", { scope: "col" }, t("dimension")), h("th", { scope: "col" }, t("score")))),
          h(
            "tbody",
            null,
            dims.map((d) => h("tr", { "data-dimension": d }, h("td", null, code("dim", d)), h("td", null, scoreCell(latest.scores[d])))),
          ),
        ),
      ),
      runs.length > 1
        ? h(
            "details",
            { class: "history" },
            h("summary", null, `${t("quality_history")} (${runs.length})`),
            h(
              "ol",
              null,
              runs.map((run) =>
                h("li", null, h("time", null, fmtTime(run.finished_at)), " ", scoreCell(run.overall), " ", run.passed ? "✓" : "⚠", h("span", { class: "muted" }, ` ${run.trigger}`)),
              ),
            ),
          )
        : null,
    );
    const { chart, dispose } = chartIn(chartEl);
    disposers.push(dispose);
    chart.setOption({
      backgroundColor: "transparent",
      aria: { enabled: true },
      animation: false,
      tooltip: { trigger: "axis" },
      grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", min: 0, max: 100, axisLabel: { color: MUTED }, splitLine: { lineStyle: { color: "#22344f" } } },
      yAxis: { type: "category", inverse: true, data: dims.map((d) => code("dim", d)), axisLabel: { color: TEXT } },
      series: [
        {
          type: "bar",
          barMaxWidth: 14,
          data: dims.map((d) => {
            const v = latest.scores[d];
            return { value: Math.round(v * 10) / 10, itemStyle: { color: v >= 95 ? "#45c46b" : v >= 80 ? "#f2c200" : "#ff4d4f" } };
          }),
          label: { show: true, position: "right", color: TEXT, formatter: "{c}" },
        },
      ],
    });
  };

  const loadAccessLog = async (resourceCode: string, box: HTMLElement) => {
    let rows: AccessLogEntry[];
    try {
      rows = await catalog.accessLog(resourceCode, 50);
    } catch (err) {
      replace(box, unavailable(loadErrorText(err)));
      return;
    }
    if (rows.length === 0) {
      replace(box, h("p", { class: "empty" }, t("nothing")));
      return;
    }
    replace(
      box,
      h(
        "table",
        { class: "catalog-small" },
        h("thead", null, h("tr", null, ["at", "actor", "mode", "fields", "rows_or_groups", "purpose", "outcome"].map((c) => h("th", { scope: "col" }, t(c))))),
        h(
          "tbody",
          null,
          rows.map((e) =>
            h(
              "tr",
              { "data-outcome": e.outcome },
              h("td", null, fmtTime(e.at)),
              h("td", null, e.actor),
              h("td", null, code("mode", e.mode)),
              h("td", { class: "muted" }, e.fields.join(", ") || "—"),
              h("td", null, e.row_count),
              h("td", null, e.purpose),
              h("td", null, e.outcome === "ok" ? `✓ ${code("outcome", "ok")}` : `⚠ ${code("outcome", e.outcome)}`),
            ),
          ),
        ),
      ),
    );
  };

  // ------------------------------------------------------------ share requests to decide
  const loadRequests = async () => {
    if (!deciding) return;
    let rows: ShareRequest[];
    try {
      rows = await catalog.requests({ status: "pending", incoming: true, limit: 100 });
    } catch (err) {
      replace(requestsBox, h("h2", null, t("pending_requests")), unavailable(loadErrorText(err)));
      return;
    }
    replace(
      requestsBox,
      h("h2", null, t("pending_requests"), h("span", { class: "count", "data-count": rows.length }, rows.length)),
      rows.length === 0
        ? h("p", { class: "empty" }, t("no_pending_requests"))
        : h("ul", { class: "request-list" }, rows.map((r) => requestItem(r))),
    );
  };

  const requestItem = (r: ShareRequest): HTMLElement => {
    const id = `req-${r.id}`;
    const reason = h("input", { id: `${id}-reason`, name: "reason", maxlength: 500, placeholder: t("reason_optional") });
    const status = h("p", { class: "form-status", role: "alert" });
    const scopeChoice = (value: "area" | "city") =>
      h(
        "label",
        { class: "radio" },
        h("input", { type: "radio", name: `${id}-scope`, value, checked: value === "area" }),
        ` ${code("scope", value)}`,
      );
    const buttons: HTMLButtonElement[] = [];
    const decide = async (approve: boolean) => {
      const text = reason.value.trim();
      if (!approve && text.length < 2) {
        status.textContent = t("reject_reason_needed");
        reason.focus();
        return;
      }
      status.textContent = "";
      buttons.forEach((b) => (b.disabled = true));
      try {
        if (approve) {
          const scope = (item.querySelector(`input[name='${id}-scope']:checked`) as HTMLInputElement | null)?.value === "city" ? "city" : "area";
          await catalog.approve(r.id, { scope, reason: text });
          toast(`${t("approved_toast")}: ${r.resource} → ${r.department} (${code("scope", scope)})`);
        } else {
          await catalog.reject(r.id, text);
          toast(`${t("rejected_toast")}: ${r.resource} → ${r.department}`);
        }
        await loadRequests();
        if (selected === r.resource) void open(r.resource);
      } catch (err) {
        status.textContent = `${t("failed")}: ${loadErrorText(err)}`;
        buttons.forEach((b) => (b.disabled = false));
      }
    };
    buttons.push(
      h("button", { type: "button", class: "btn primary small", "data-do": "approve", on: { click: () => void decide(true) } }, t("approve_request")),
      h("button", { type: "button", class: "btn small", "data-do": "reject", on: { click: () => void decide(false) } }, t("reject_request")),
    );
    const item = h(
      "li",
      { class: "request", "data-request-id": r.id, "data-resource": r.resource },
      h(
        "div",
        { class: "what" },
        h(
          "p",
          null,
          h("button", { type: "button", class: "linkish", on: { click: () => void open(r.resource) } }, r.resource),
          ` ${r.resource_name} ← `,
          h("b", null, r.department),
          h("span", { class: "muted" }, ` · ${code("mode", r.mode)} · ${r.period_days} ${t("days")} · ${fmtTime(r.created_at)}`),
        ),
        h("p", { class: "muted" }, `${t("fields")}: ${r.fields.join(", ")}`),
        h("p", null, h("span", { class: "muted" }, `${t("purpose")}: `), r.purpose),
        h("p", null, h("span", { class: "muted" }, `${t("legal_basis")}: `), r.legal_basis),
      ),
      h(
        "form",
        { class: "decide", "aria-label": `${t("approve_request")} / ${t("reject_request")} #${r.id}`, on: { submit: (e: Event) => e.preventDefault() } }, // Enter in the reason decides nothing
        h("fieldset", { class: "scope" }, h("legend", null, t("scope")), scopeChoice("area"), scopeChoice("city")),
        h("label", { for: `${id}-reason`, class: "sr-only" }, t("reason_optional")),
        reason,
        h("div", { class: "buttons" }, buttons),
        status,
      ),
    );
    return item;
  };

  // ------------------------------------------------------------ layout
  const reloadSoon = debounce(() => void load(), 300);
  department.addEventListener("change", () => void load());
  tag.addEventListener("change", () => void load());
  grade.addEventListener("change", () => void load());
  search.addEventListener("input", reloadSoon);
  root.append(
    h(
      "section",
      { class: "page catalog-page" },
      h("h1", null, t("catalog_title")),
      h(
        "form",
        { class: "filters", role: "search", on: { submit: (e: Event) => (e.preventDefault(), void load()) } },
        h("label", { for: "cat-dept" }, t("owner_department")),
        department,
        h("label", { for: "cat-tag" }, t("domain_tag")),
        tag,
        h("label", { for: "cat-grade" }, t("grade")),
        grade,
        search,
        h("button", { type: "submit", class: "btn primary" }, t("search")),
        count,
      ),
      requestsBox,
      h("div", { class: "catalog-grid" }, list, detail),
    ),
  );

  void (async () => {
    try {
      all = await catalog.resources({ limit: 500 });
    } catch (err) {
      replace(list, unavailable(loadErrorText(err)));
      return;
    }
    paintOptions();
    items = all;
    paintList();
    if (selected) void open(selected);
    try {
      codes = new Map((await getDepartments()).map((d) => [d.id, d.code]));
    } catch {
      codes = new Map(); // the department filter then works on the list as loaded
    }
  })();
  void loadRequests();
  return disposeCharts;
}

function fieldsTable(r: CatalogResource): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "catalog-small", "data-table": "fields" },
      h(
        "thead",
        null,
        h("tr", null, ["field_name", "field_title", "field_type", "personal_info", "sensitivity", "masking"].map((c) => h("th", { scope: "col" }, t(c)))),
      ),
      h(
        "tbody",
        null,
        r.fields.map((f) =>
          h(
            "tr",
            { "data-field": f.name, "data-personal": f.personal ? "true" : "false", "data-sensitivity": f.sensitivity },
            h("td", { class: "num" }, f.name),
            h("td", null, f.title || "—"),
            h("td", { class: "muted" }, f.type),
            h("td", null, f.personal ? h("span", { class: "badge pi" }, h("span", { "aria-hidden": "true" }, "◉"), " ", t("personal_info")) : h("span", { class: "muted" }, "—")),
            h(
              "td",
              null,
              f.sensitivity === "sensitive"
                ? h("span", { class: "badge sens" }, h("span", { "aria-hidden": "true" }, "⚠"), " ", code("sensitivity", f.sensitivity))
                : h("span", { class: f.sensitivity === "public" ? "" : "muted" }, code("sensitivity", f.sensitivity)),
            ),
            h("td", { class: "muted" }, f.mask === "none" ? "—" : f.mask),
          ),
        ),
      ),
    ),
  );
}
